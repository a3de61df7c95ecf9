package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// crashPodRequest is a pod that uses every resource: its own PID namespace,
// a host port, a sysctl.
func crashPodRequest(name string) *runtimeapi.PodSandboxConfig {
	cfg := podRequest(name)
	cfg.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_POD
	cfg.PortMappings = []*runtimeapi.PortMapping{{ContainerPort: 80, HostPort: 18095}}
	cfg.Linux.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80"}
	return cfg
}

// startWithFaults starts a pod daemon whose sandbox code acts out faults
// (sandbox.FaultEnv); restarts of it run without.
func startWithFaults(t *testing.T, faults string) *podDaemon {
	t.Helper()
	os.Setenv(sandbox.FaultEnv, faults)
	defer os.Unsetenv(sandbox.FaultEnv)
	return startPodDaemon(t, "", "")
}

// podDirs lists the IDs of the pods that have a state dir.
func (p *podDaemon) podDirs() []string {
	ents, _ := os.ReadDir(filepath.Join(p.State, "sandboxes"))
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	return ids
}

func (p *podDaemon) restart(t *testing.T) {
	t.Helper()
	if err := p.Wait(10 * time.Second); err == nil {
		t.Fatal("daemon exited cleanly; want killed")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
}

func (p *podDaemon) pods(t *testing.T) []*runtimeapi.PodSandbox {
	t.Helper()
	resp, err := p.Runtime.ListPodSandbox(context.Background(), &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetItems()
}

// TestKill9MidCreate kills the daemon (SIGKILL) at each step of a pod's
// creation; after a restart the pod is gone and nothing of it is left, and
// the same pod can be made.
func TestKill9MidCreate(t *testing.T) {
	for _, step := range []string{"record", "namespaces", "files", "cgroup", "network", "podinit", "ready"} {
		t.Run(step, func(t *testing.T) {
			d := startWithFaults(t, step+"=kill")
			cfg := crashPodRequest("crash-" + step)
			if _, err := d.Runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: cfg}); err == nil {
				t.Fatal("pod made although the daemon was killed")
			}
			for _, id := range d.podDirs() {
				d.track(id)
			}
			d.restart(t)
			if pods := d.pods(t); len(pods) != 0 {
				t.Fatalf("half-made pod listed after restart: %v", pods)
			}
			d.assertNoLeaks()
			if !strings.Contains(d.Log(), "creation was interrupted: rolling back") && step != "record" {
				t.Errorf("no rollback logged")
			}
			d.stopAndRemove(d.run(cfg))
		})
	}
}

// TestKill9MidCreateFromOutside kills the daemon with Kill9 while a
// creation hangs after the CNI ADD.
func TestKill9MidCreateFromOutside(t *testing.T) {
	d := startWithFaults(t, "network=hang")
	done := make(chan error, 1)
	go func() {
		_, err := d.Runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: crashPodRequest("hang")})
		done <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.Log(), "cni-add") && !hasReservedAddress() {
		if time.Now().After(deadline) {
			t.Fatal("creation never reached the network step")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range d.podDirs() {
		d.track(id)
	}
	d.Kill9()
	if err := <-done; err == nil {
		t.Fatal("pod made although the daemon was killed")
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if pods := d.pods(t); len(pods) != 0 {
		t.Fatalf("half-made pod listed: %v", pods)
	}
	d.assertNoLeaks()
}

// hasReservedAddress reports whether host-local holds an address on the
// test network.
func hasReservedAddress() bool {
	ents, _ := os.ReadDir(filepath.Join("/var/lib/cni/networks", itNetwork))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "last_reserved_ip") && e.Name() != "lock" {
			return true
		}
	}
	return false
}

// TestKill9MidStopAndRemove: a stop or removal cut by SIGKILL is finished
// at the next start.
func TestKill9MidStopAndRemove(t *testing.T) {
	for _, tc := range []struct {
		step   string
		remove bool
	}{{"stopping", false}, {"stopped", false}, {"removing", true}} {
		t.Run(tc.step, func(t *testing.T) {
			d := startWithFaults(t, tc.step+"=kill")
			id := d.run(crashPodRequest("crash-" + tc.step))
			ctx := context.Background()
			var err error
			if tc.remove {
				_, err = d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
			} else {
				_, err = d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
			}
			if err == nil {
				t.Fatal("call succeeded although the daemon was killed")
			}
			d.restart(t)
			pods := d.pods(t)
			switch {
			case tc.remove && len(pods) != 0:
				t.Fatalf("half-removed pod still listed: %v", pods)
			case !tc.remove && (len(pods) != 1 || pods[0].GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY):
				t.Fatalf("half-stopped pod after restart: %v", pods)
			}
			if !tc.remove {
				if hasReservedAddress() {
					t.Error("stopped pod kept its address")
				}
				for _, p := range podInitProcesses() {
					if p.id == id {
						t.Errorf("stopped pod kept its PID 1 %d", p.pid)
					}
				}
				d.stopAndRemove(id)
			}
			d.assertNoLeaks()
		})
	}
}

// brokenDelPlugin passes ADD through and hangs on DEL while its marker file exists.
const brokenDelPlugin = `#!/bin/sh
case "$CNI_COMMAND" in
ADD) exec python3 -c 'import json,sys; c=json.load(sys.stdin); r=c.get("prevResult",{}); r["cniVersion"]=c["cniVersion"]; print(json.dumps(r))' ;;
DEL) if [ -e MARKER ]; then exec sleep 60; fi ;;
VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}' ;;
esac
exit 0
`

// TestBrokenPluginNeverBlocksStop: a plugin that hangs on DEL delays a
// stop by the plugin timeout at most; the pod stops, the error shows in its
// status, removal fails until the plugin works, then succeeds.
func TestBrokenPluginNeverBlocksStop(t *testing.T) {
	bin := t.TempDir()
	marker := filepath.Join(bin, "hang-on-del")
	plugin := strings.Replace(brokenDelPlugin, "MARKER", marker, 1)
	if err := os.WriteFile(filepath.Join(bin, "brokendel"), []byte(plugin), 0o755); err != nil {
		t.Fatal(err)
	}
	d := startPodDaemon(t, "", `plugin_timeout = "1s"`+"\n"+`bin_dirs = ["`+bin+`", "/opt/cni/bin"]`)
	const name = "crishim-it-brokendel"
	d.networks = append(d.networks, name)
	writeNetConf(t, d, "10-broken.conflist", `{"cniVersion":"1.1.0","name":"`+name+`","plugins":[
	  {"type":"bridge","bridge":"`+itBridge+`","isGateway":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"`+itSubnet+`"}]]}},
	  {"type":"brokendel"}]}`)
	id := d.run(podRequest("broken"))
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	if _, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatalf("stop with a hanging plugin: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stop took %s with a 1s plugin timeout", took)
	}
	if st := d.status(id); st.GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("state %v", st.GetState())
	}
	if e := d.info(id).Sandbox.NetworkError; !strings.Contains(e, "brokendel") {
		t.Errorf("network error not reported in the status: %q", e)
	}
	if _, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err == nil {
		t.Fatal("removed with the network still attached")
	}
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatalf("remove once the plugin works: %v", err)
	}
}
