package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/test/framework"
)

// The container tests' pod network: a bridge and subnet no other test or
// daemon here uses.
const (
	ctrBridge = "crishimc0"
	ctrSubnet = "10.221.0.0/24"
	ctrImage  = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
	// ctrVolImage is the image-volume source critest uses (sh, ls).
	ctrVolImage = "gcr.io/k8s-staging-cri-tools/test-image-tag:test"
	// ctrGroupImage has /etc with passwd (the image-volume sub path spec).
	ctrGroupImage = "gcr.io/k8s-staging-cri-tools/test-image-predefined-group"
)

// ctrDaemon is a daemon on the container test network with the critest
// images behind registry mirrors.
type ctrDaemon struct {
	*framework.Daemon
	t            *testing.T
	cgroupParent string
	logDir       string
	bridge       string // the pod network's bridge
	network      string // its CNI network name

	mu  sync.Mutex
	ids map[string]bool // pods
}

// startCtrDaemon starts a daemon whose dir lets other users through (a
// container in a user namespace reaches its rootfs under the state dir
// as an unprivileged host user, as under /run/cri-shim), pulls the
// test images, and at cleanup removes every pod through the CRI and checks
// the host for leftovers.
func startCtrDaemon(t *testing.T) *ctrDaemon {
	t.Helper()
	return startCtrDaemonOn(t, ctrBridge, ctrSubnet, "")
}

// startCtrDaemonOn is startCtrDaemon on a pod network of its own (a
// bridge and subnet no other test uses, so that tests of other packages or
// files can run beside it), with extraTOML (top-level keys first, then
// tables) added to the config.
func startCtrDaemonOn(t *testing.T, bridge, subnet, extraTOML string) *ctrDaemon {
	t.Helper()
	reg := startImageRegistry(t)
	d := &ctrDaemon{t: t, ids: map[string]bool{}, logDir: t.TempDir(),
		bridge: bridge, network: "cri-shim-" + bridge,
		cgroupParent: fmt.Sprintf("/crishim-ctr-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)}
	confDir := filepath.Join(t.TempDir(), "net.d")
	cfg := fmt.Sprintf("cgroup_parent = %q\n%s\n%s\n[cni]\nconf_dir = %q\nbridge_name = %q\nsubnet = %q\n",
		d.cgroupParent, extraTOML, mirrorTOML(reg.Host), confDir, bridge, subnet)
	d.Daemon = framework.NewDaemon(t, framework.Options{ConfigTOML: cfg})
	if err := os.Chmod(d.Dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.cleanup)
	for _, img := range []string{ctrImage, ctrVolImage, ctrGroupImage} {
		d.pull(img)
	}
	return d
}

// pull pulls img and returns the image ID.
func (d *ctrDaemon) pull(img string) string {
	d.t.Helper()
	resp, err := d.Image.PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img}})
	if err != nil {
		d.t.Fatalf("pull %s: %v", img, err)
	}
	return resp.GetImageRef()
}

// cleanup removes every pod and checks that nothing of the daemon's pods
// and containers is left: state dirs, mounts, cgroups, addresses,
// monitors, pod PID 1s; then the bridge goes.
func (d *ctrDaemon) cleanup() {
	t := d.t
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	removeAllPods(ctx, t, d.Runtime, d.track)
	if list, err := d.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); err == nil && len(list.GetContainers()) > 0 {
		t.Errorf("leak: %d containers after removing every pod", len(list.GetContainers()))
	}
	d.assertNoContainerLeaks()
	// The spare monitors (and their create commands) end with the daemon.
	d.Stop()
	if pids := waitProcessesGone("--spare-of="+d.State+"/", 10*time.Second); len(pids) > 0 {
		t.Errorf("leak: spare monitors %v outlived the daemon", pids)
	}
	if l, err := netlink.LinkByName(d.bridge); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			t.Errorf("cleanup: delete bridge: %v", err)
		}
	}
	_ = os.RemoveAll(filepath.Join("/var/lib/cni/networks", d.network))
}

// assertNoContainerLeaks checks the host for anything of the daemon's pods
// and containers.
func (d *ctrDaemon) assertNoContainerLeaks() {
	t := d.t
	t.Helper()
	assertPodsLeftNothing(t, d.Dir, d.State, d.cgroupParent, d.network)
	if ents, _ := os.ReadDir(filepath.Join(d.State, "containers")); len(ents) > 2 { // runc, s
		t.Errorf("leak: container state dirs %v", ents)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.Root, "containers")); len(ents) > 0 {
		t.Errorf("leak: %d writable layers", len(ents))
	}
	if pids := processesWith(d.State); len(pids) > 0 {
		t.Errorf("leak: processes %v still name %s (monitors)", pids, d.State)
	}
	for _, proc := range podInitProcesses() {
		d.mu.Lock()
		ours := d.ids[proc.id]
		d.mu.Unlock()
		if ours {
			t.Errorf("leak: pod init %d of pod %s", proc.pid, proc.id)
		}
	}
}

func (d *ctrDaemon) track(id string) {
	d.mu.Lock()
	d.ids[id] = true
	d.mu.Unlock()
}

// processesWith lists live processes whose command line holds s.
// processesWith lists the live processes whose command line has s, but
// spare monitors (not tied to a container: the daemon keeps them ready
// while it runs; see spareProcesses).
func processesWith(s string) []int {
	return processesNaming(s, false)
}

// waitProcessesGone waits up to timeout for no live process, spare
// monitors included, to have s in its command line, and returns those left.
func waitProcessesGone(s string, timeout time.Duration) []int {
	pids := processesNaming(s, true)
	for deadline := time.Now().Add(timeout); len(pids) > 0 && time.Now().Before(deadline); pids = processesNaming(s, true) {
		time.Sleep(20 * time.Millisecond)
	}
	return pids
}

func processesNaming(s string, spares bool) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmd, []byte(s)) || (!spares && bytes.Contains(cmd, []byte("\x00--spare-of="))) {
			continue
		}
		if stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); bytes.Contains(stat, []byte(") Z ")) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// podConfig is a pod of the tests: its own log dir, the pod's PID
// namespace mode pid, optionally a user namespace.
func (d *ctrDaemon) podConfig(name string, pid runtimeapi.NamespaceMode, userns *runtimeapi.UserNamespace) *runtimeapi.PodSandboxConfig {
	uid := fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "ctr", Uid: uid},
		Labels:       map[string]string{"test": "container"},
		LogDirectory: filepath.Join(d.logDir, uid),
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Pid: pid, UsernsOptions: userns},
		}},
	}
}

// runPod runs a pod and tracks it for the leak checks.
func (d *ctrDaemon) runPod(cfg *runtimeapi.PodSandboxConfig) string {
	d.t.Helper()
	resp, err := d.Runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		d.t.Fatalf("run pod %s: %v", cfg.GetMetadata().GetName(), err)
	}
	d.track(resp.GetPodSandboxId())
	return resp.GetPodSandboxId()
}

// ctrConfig is a busybox container running cmd that logs to <name>.log,
// in the pod's namespaces.
func ctrConfig(pod *runtimeapi.PodSandboxConfig, name string, cmd ...string) *runtimeapi.ContainerConfig {
	ns := pod.GetLinux().GetSecurityContext().GetNamespaceOptions()
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: ctrImage, UserSpecifiedImage: ctrImage},
		Command:  cmd,
		LogPath:  name + ".log",
		Labels:   map[string]string{"name": name},
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Pid: ns.GetPid(), UsernsOptions: ns.GetUsernsOptions()},
		}},
	}
}

// create creates a container and returns its ID.
func (d *ctrDaemon) create(podID string, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	d.t.Helper()
	resp, err := d.Runtime.CreateContainer(context.Background(), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	if err != nil {
		d.t.Fatalf("create container %s: %v", cfg.GetMetadata().GetName(), err)
	}
	return resp.GetContainerId()
}

// start starts a container.
func (d *ctrDaemon) start(id string) {
	d.t.Helper()
	if _, err := d.Runtime.StartContainer(context.Background(), &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		d.t.Fatalf("start container %s: %v", id, err)
	}
}

// run creates and starts a container.
func (d *ctrDaemon) run(podID string, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	d.t.Helper()
	id := d.create(podID, pod, cfg)
	d.start(id)
	return id
}

// ctrStatus returns a container's status.
func (d *ctrDaemon) ctrStatus(id string) *runtimeapi.ContainerStatus {
	d.t.Helper()
	resp, err := d.Runtime.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		d.t.Fatalf("status of container %s: %v", id, err)
	}
	return resp.GetStatus()
}

// waitCtrState waits until the container is in state want.
func (d *ctrDaemon) waitCtrState(id string, want runtimeapi.ContainerState) *runtimeapi.ContainerStatus {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := d.ctrStatus(id)
		if st.GetState() == want {
			return st
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("container %s is %v, want %v", id, st.GetState(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ctrPID is the container's init PID from its verbose status.
func (d *ctrDaemon) ctrPID(id string) int {
	d.t.Helper()
	resp, err := d.Runtime.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		d.t.Fatal(err)
	}
	var pid int
	info := resp.GetInfo()["info"]
	if i := strings.Index(info, `"pid":`); i >= 0 {
		_, _ = fmt.Sscanf(info[i+len(`"pid":`):], "%d", &pid)
	}
	if pid <= 0 {
		d.t.Fatalf("no pid in %s", info)
	}
	return pid
}

// logLines reads a CRI log file and returns the message of every line of
// stream ("stdout" or "stderr"), joining partial lines.
func logLines(t *testing.T, path, stream string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var partial strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// <time> <stream> <P|F> <message>
		parts := strings.SplitN(sc.Text(), " ", 4)
		if len(parts) < 3 || parts[1] != stream {
			continue
		}
		msg := ""
		if len(parts) == 4 {
			msg = parts[3]
		}
		partial.WriteString(msg)
		if parts[2] == "F" {
			out = append(out, partial.String())
			partial.Reset()
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitLogLine waits until the container log at path has a stdout line
// containing s.
func waitLogLine(t *testing.T, path, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("log %s never showed %q:\n%s", path, s, b)
}

// alivePID reports whether pid runs (a zombie does not).
func alivePID(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !bytes.Contains(stat, []byte(") Z ")) && !bytes.Contains(stat, []byte(") X "))
}
