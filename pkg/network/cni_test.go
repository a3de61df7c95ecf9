package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// testCNI is a CNI over a private conf dir, bin dir and cache dir.
func testCNI(t *testing.T, timeout time.Duration) (*CNI, *config.Config) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.RootDir = dir
	cfg.CNI.ConfDir = filepath.Join(dir, "net.d")
	cfg.CNI.BinDirs = []string{filepath.Join(dir, "bin")}
	cfg.CNI.PluginTimeout = config.Duration{Duration: timeout}
	for _, d := range []string{cfg.CNI.ConfDir, cfg.CNI.BinDirs[0]} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return NewCNI(func() *config.Config { return cfg }), cfg
}

func writePlugin(t *testing.T, cfg *config.Config, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(cfg.CNI.BinDirs[0], name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeConf(t *testing.T, cfg *config.Config, version, plugin string) {
	t.Helper()
	conf := `{"cniVersion":"` + version + `","name":"testnet","plugins":[{"type":"` + plugin + `"}]}`
	if err := os.WriteFile(filepath.Join(cfg.CNI.ConfDir, "10-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDelBoundedByPluginTimeout: a plugin that never answers, or that
// leaves a child holding its output, cannot hold a DEL beyond the timeout.
func TestDelBoundedByPluginTimeout(t *testing.T) {
	c, cfg := testCNI(t, 500*time.Millisecond)
	writeConf(t, cfg, "1.1.0", "hang")
	writePlugin(t, cfg, "hang", "exec sleep 30\n")
	a, err := c.Plan("0123456789abcdef", "/nonexistent", PodMeta{Namespace: "ns", Name: "n", UID: "u"}, Capabilities{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = c.Del(context.Background(), a)
	took := time.Since(start)
	if !errors.Is(err, errdefs.ErrDeadlineExceeded) || took > 500*time.Millisecond+pipeGrace+time.Second {
		t.Fatalf("del with a hanging plugin: %v after %s", err, took)
	}

	writePlugin(t, cfg, "hang", "sleep 3 &\necho '{}'\nexit 0\n")
	start = time.Now()
	if err := c.Del(context.Background(), a); err != nil {
		t.Fatalf("del with a plugin that left a child: %v", err)
	}
	if took := time.Since(start); took > pipeGrace+time.Second {
		t.Fatalf("del waited %s for the plugin's child", took)
	}

	writePlugin(t, cfg, "hang", `echo '{"cniVersion":"1.1.0","code":11,"msg":"broken on purpose"}'; exit 1`+"\n")
	if err := c.Del(context.Background(), a); err == nil || !strings.Contains(err.Error(), "broken on purpose") {
		t.Fatalf("plugin error not reported: %v", err)
	}
}

// TestGCSkippedBeforeV110: GC of a pre-1.1.0 network would delete every
// cached attachment not listed, with no plugin GC: it is not run.
func TestGCSkippedBeforeV110(t *testing.T) {
	c, cfg := testCNI(t, time.Second)
	writeConf(t, cfg, "1.0.0", "noop")
	writePlugin(t, cfg, "noop", "echo called >> "+filepath.Join(cfg.RootDir, "calls")+"\n")
	if err := c.GC(context.Background(), nil); !errors.Is(err, ErrGCSkipped) {
		t.Fatalf("gc of a 1.0.0 network: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.RootDir, "calls")); err == nil {
		t.Fatal("a plugin ran")
	}
	writeConf(t, cfg, "1.1.0", "noop")
	if err := c.GC(context.Background(), nil); err != nil {
		t.Fatalf("gc of a 1.1.0 network: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.RootDir, "calls")); err != nil {
		t.Fatal("the plugin's GC did not run")
	}
}

func TestArgsAndCapabilitiesReachPlugins(t *testing.T) {
	c, cfg := testCNI(t, 5*time.Second)
	conf := `{"cniVersion":"1.1.0","name":"testnet","plugins":[{"type":"dump","capabilities":{"portMappings":true,"dns":true}}]}`
	if err := os.WriteFile(filepath.Join(cfg.CNI.ConfDir, "10-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(cfg.RootDir, "dump")
	writePlugin(t, cfg, "dump", `cat > `+out+`; echo "$CNI_ARGS" >> `+out+`
echo '{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/x"},{"name":"veth0"}],"ips":[{"address":"fd00::5/64","interface":0},{"address":"10.1.0.5/24","interface":0},{"address":"10.9.9.9/24","interface":1}]}'
`)
	caps := Capabilities{
		PortMappings: []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		Bandwidth:    &Bandwidth{IngressRate: 1000},
		DNS:          &DNS{Servers: []string{"10.0.0.10"}},
	}
	a, err := c.Plan("0123456789abcdef", "/var/run/netns/x", PodMeta{Namespace: "ns", Name: "name", UID: "uid"}, caps)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Add(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.IPs, ",") != "10.1.0.5,fd00::5" {
		t.Errorf("ips %v: want the pod side, IPv4 first", res.IPs)
	}
	b, _ := os.ReadFile(out)
	for _, want := range []string{`"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]`, `"dns":{"servers":["10.0.0.10"]}`,
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=name;K8S_POD_INFRA_CONTAINER_ID=0123456789abcdef;K8S_POD_UID=uid"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("plugin input lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "bandwidth") {
		t.Errorf("a capability the plugin does not declare reached it:\n%s", b)
	}
	// The attachment survives a round trip through the pod record.
	raw, _ := json.Marshal(a)
	var back Attachment
	if err := json.Unmarshal(raw, &back); err != nil || back.Network != "testnet" || back.Capabilities.DNS == nil {
		t.Errorf("attachment round trip: %v %+v", err, back)
	}
}

func TestBuiltinForPodLeavesOutUnusedPlugins(t *testing.T) {
	n, err := Load(t.TempDir(), "crishimx", "10.99.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		caps Capabilities
		want []string
	}{
		{Capabilities{}, []string{"bridge"}},
		{Capabilities{PortMappings: []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "tcp"}}}, []string{"bridge", "portmap"}},
		{Capabilities{Bandwidth: &Bandwidth{EgressRate: 1}}, []string{"bridge", "bandwidth"}},
		{Capabilities{Bandwidth: &Bandwidth{EgressRate: 1}, PortMappings: []PortMapping{{}}}, []string{"bridge", "portmap", "bandwidth"}},
	} {
		l, err := n.ForPod(tc.caps)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range l.Plugins {
			got = append(got, p.Network.Type)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") || l.Name != "cri-shim-crishimx" {
			t.Errorf("caps %+v: %s %v, want %v", tc.caps, l.Name, got, tc.want)
		}
	}
}

func TestBandwidthFromAnnotations(t *testing.T) {
	bw, err := BandwidthFromAnnotations(map[string]string{IngressBandwidthAnnotation: "10M", EgressBandwidthAnnotation: "1Gi"})
	if err != nil || bw.IngressRate != 10_000_000 || bw.EgressRate != 1<<30 || bw.IngressBurst == 0 {
		t.Fatalf("%+v %v", bw, err)
	}
	if bw, err := BandwidthFromAnnotations(map[string]string{"other": "x"}); bw != nil || err != nil {
		t.Fatalf("no annotations: %+v %v", bw, err)
	}
	for _, bad := range []string{"lots", "10", "2P", "-1M", "1e3"} {
		if _, err := BandwidthFromAnnotations(map[string]string{IngressBandwidthAnnotation: bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestResultIgnoresHostSide(t *testing.T) {
	r, err := resultOf(&types100.Result{CNIVersion: "1.1.0"})
	if err != nil || len(r.IPs) != 0 {
		t.Fatal(r, err)
	}
}

// TestFirstAddsOneAtATime: a plugin that sets up host-wide state on its
// first ADD with a check and then a create (as portmap makes its chains)
// fails when two first ADDs run at once; the network's ADDs run one at a
// time until one succeeded, then in parallel.
func TestFirstAddsOneAtATime(t *testing.T) {
	c, cfg := testCNI(t, 10*time.Second)
	writeConf(t, cfg, "1.1.0", "chains")
	chain, running := filepath.Join(cfg.RootDir, "chain"), filepath.Join(cfg.RootDir, "running")
	// The chain is made once; mkdir fails when another ADD made it since
	// the check. The ADDs that found it record how many ran alongside.
	writePlugin(t, cfg, "chains", `[ "$CNI_COMMAND" = ADD ] || { echo '{}'; exit 0; }
if [ ! -d `+chain+` ]; then
  sleep 0.2
  mkdir `+chain+` 2>/dev/null || { echo '{"cniVersion":"1.1.0","code":999,"msg":"chain already exists"}'; exit 1; }
else
  mkdir `+running+`.$$; sleep 0.5; ls -d `+running+`.* | wc -l > `+running+`.$$/seen
fi
echo '{"cniVersion":"1.1.0","ips":[{"address":"10.1.0.5/24"}]}'
`)
	add := func(n int) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := c.Plan(fmt.Sprintf("%016x", i), "/nonexistent", PodMeta{Namespace: "ns", Name: "n", UID: "u"}, Capabilities{})
				if err == nil {
					_, err = c.Add(context.Background(), a)
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		return errs
	}
	for i, err := range add(4) {
		if err != nil {
			t.Errorf("first ADDs, pod %d: %v", i, err)
		}
	}
	seen, _ := filepath.Glob(running + ".*/seen")
	most := 0
	for _, s := range seen {
		b, _ := os.ReadFile(s)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		most = max(most, n)
	}
	if len(seen) != 3 || most < 2 {
		t.Errorf("the 3 ADDs after the first: %d ran, at most %d at once; want 3, in parallel", len(seen), most)
	}
}
