package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/test/framework"
)

// The integration tests' pod network: a bridge and subnet no developer
// daemon or unit test uses.
const (
	itBridge  = "crishimt0"
	itSubnet  = "10.218.0.0/24"
	itNetwork = "cri-shim-" + itBridge // the built-in network's name on that bridge
)

// podDaemon is a daemon for pod tests with the pods it made.
type podDaemon struct {
	*framework.Daemon
	t            testing.TB
	cgroupParent string
	networks     []string // network names whose host-local files the tests check

	mu  sync.Mutex
	ids map[string]bool
}

// startPodDaemon starts a daemon on the test network with args; topTOML
// and cniTOML are added to its config, at the top and in [cni]. At cleanup every pod
// is removed through the CRI and the host is checked for leftovers; then
// the bridge goes.
func startPodDaemon(t testing.TB, topTOML, cniTOML string, args ...string) *podDaemon {
	t.Helper()
	p := &podDaemon{t: t, ids: map[string]bool{}, networks: []string{itNetwork},
		cgroupParent: fmt.Sprintf("/crishim-it-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)}
	confDir := filepath.Join(t.TempDir(), "net.d")
	cfg := fmt.Sprintf("cgroup_parent = %q\n%s\n[cni]\nconf_dir = %q\nbridge_name = %q\nsubnet = %q\n%s\n",
		p.cgroupParent, topTOML, confDir, itBridge, itSubnet, cniTOML)
	p.Daemon = framework.StartDaemon(t, framework.Options{ConfigTOML: cfg, Args: args})
	t.Cleanup(p.cleanup)
	return p
}

// cleanup removes every pod through the CRI, checks nothing is left, and
// removes what the plugins share by design (the bridge, idle portmap chains).
func (p *podDaemon) cleanup() {
	t := p.t
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	removeAllPods(ctx, t, p.Runtime, p.track)
	p.assertNoLeaks()
	if l, err := netlink.LinkByName(itBridge); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			t.Errorf("cleanup: delete bridge: %v", err)
		}
	}
	for _, n := range p.networks {
		_ = os.RemoveAll(filepath.Join("/var/lib/cni/networks", n))
	}
	removeIdlePortmapChains(t)
}

func (p *podDaemon) track(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids[id] = true
}

// assertNoLeaks checks the host for anything of the daemon's pods: pod
// dirs and pins, mounts, cgroups, addresses, links on the bridge, CNI cache
// entries, iptables rules and pod PID 1 processes.
func (p *podDaemon) assertNoLeaks() {
	t := p.t
	t.Helper()
	assertPodsLeftNothing(t, p.Dir, p.State, p.cgroupParent, p.networks...)
	if l, err := netlink.LinkByName(itBridge); err == nil {
		links, _ := netlink.LinkList()
		for _, x := range links {
			if x.Attrs().MasterIndex == l.Attrs().Index {
				t.Errorf("leak: link %s on bridge %s", x.Attrs().Name, itBridge)
			}
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(p.Root, "cni-cache", "results")); len(ents) > 0 {
		t.Errorf("leak: %d CNI cache entries", len(ents))
	}
	saved, _ := exec.Command("iptables-save").Output()
	p.mu.Lock()
	defer p.mu.Unlock()
	for id := range p.ids {
		if bytes.Contains(saved, []byte(id)) {
			t.Errorf("leak: iptables rules of pod %s", id)
		}
	}
	for _, proc := range podInitProcesses() {
		if p.ids[proc.id] {
			t.Errorf("leak: pod init %d of pod %s (state %s)", proc.pid, proc.id, proc.state)
		}
	}
}

type podInitProc struct {
	pid   int
	id    string
	state string
}

// podInitProcesses lists live pod PID 1 processes (zombies left to a
// non-reaping init are not running anything).
func podInitProcesses() []podInitProc {
	var out []podInitProc
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(cmd), "\x00"), "\x00")
		if len(args) < 3 || args[len(args)-2] != "pod-init" {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		state := ""
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) {
			state = string(stat[i+2])
		}
		if state != "Z" {
			out = append(out, podInitProc{pid: pid, id: args[len(args)-1], state: state})
		}
	}
	return out
}

// removeIdlePortmapChains removes the chains the portmap plugin shares
// among all pods once no pod uses them, so the tests leave iptables as
// they found it.
func removeIdlePortmapChains(t testing.TB) {
	out, err := exec.Command("iptables", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Output()
	if err != nil || strings.Count(string(out), "\n") > 1 {
		return // absent, or some pod (maybe not ours) still maps a port
	}
	for _, r := range [][]string{
		{"-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
		{"-D", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
		{"-D", "POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ"},
		{"-F", "CNI-HOSTPORT-MASQ"}, {"-F", "CNI-HOSTPORT-SETMARK"},
		{"-X", "CNI-HOSTPORT-DNAT"}, {"-X", "CNI-HOSTPORT-MASQ"}, {"-X", "CNI-HOSTPORT-SETMARK"},
	} {
		_ = exec.Command("iptables", append([]string{"-t", "nat"}, r...)...).Run()
	}
}

// podRequest is a pod config for the tests: unique metadata, labels.
func podRequest(name string) *runtimeapi.PodSandboxConfig {
	uid := fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "it", Uid: uid},
		Labels:   map[string]string{"test": "sandbox", "name": name},
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER},
		}},
	}
}

// run runs a pod and tracks it for the leak checks.
func (p *podDaemon) run(cfg *runtimeapi.PodSandboxConfig) string {
	p.t.Helper()
	resp, err := p.Runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		p.t.Fatalf("run pod %s: %v", cfg.GetMetadata().GetName(), err)
	}
	p.track(resp.GetPodSandboxId())
	return resp.GetPodSandboxId()
}

func (p *podDaemon) status(id string) *runtimeapi.PodSandboxStatus {
	p.t.Helper()
	st, err := p.Runtime.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		p.t.Fatalf("status of pod %s: %v", id, err)
	}
	return st.GetStatus()
}

func (p *podDaemon) stopAndRemove(id string) {
	p.t.Helper()
	ctx := context.Background()
	if _, err := p.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		p.t.Fatalf("stop pod %s: %v", id, err)
	}
	if _, err := p.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		p.t.Fatalf("remove pod %s: %v", id, err)
	}
}

// podInfo is what the tests read of the verbose status.
type podInfo struct {
	NamespacePaths map[string]string `json:"namespacePaths"`
	NetworkCheck   string            `json:"networkCheck"`
	Sandbox        struct {
		NetworkError string `json:"networkError"`
		Resources    struct {
			HostnamePath string `json:"hostnamePath"`
			HostsPath    string `json:"hostsPath"`
			ResolvPath   string `json:"resolvPath"`
			ShmPath      string `json:"shmPath"`
			PodInit      *struct {
				PID int `json:"pid"`
			} `json:"podInit"`
		} `json:"resources"`
	} `json:"sandbox"`
}

func (p *podDaemon) info(id string) podInfo {
	p.t.Helper()
	st, err := p.Runtime.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		p.t.Fatalf("verbose status of pod %s: %v", id, err)
	}
	var info podInfo
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil {
		p.t.Fatalf("verbose status info: %v: %s", err, st.GetInfo()["info"])
	}
	return info
}

// networkCheck waits for the background CNI CHECK of pod id and returns its result.
func (p *podDaemon) networkCheck(id string) string {
	p.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c := p.info(id).NetworkCheck; c != "pending" || time.Now().After(deadline) {
			return c
		}
	}
}

// inNetNS runs fn on a thread inside the network namespace pinned at pin.
func inNetNS(pin string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(pin)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = fn()
		if rerr := netns.Set(orig); rerr != nil {
			errc <- fmt.Errorf("restore netns (thread left locked): %w", rerr)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// nsRun runs a command with nsenter in the given namespaces (flag=path).
func nsRun(t *testing.T, nsFlags []string, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append(nsFlags, append([]string{"--"}, args...)...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter %v %v: %v\n%s", nsFlags, args, err, out)
	}
	return strings.TrimSpace(string(out))
}
