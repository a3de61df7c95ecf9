package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/test/harness"
)

// Names private to this test, so that it never meets another engineer's
// daemon or test: a bridge and subnet no one else uses (see the
// integration tests and pkg/sandbox for the ones they use).
const (
	bridgeName = "crishimkl0"
	podSubnet  = "10.226.0.0/24"
	subnetPfx  = "10.226.0."
	nodeName   = "cri-shim-e2e"
	busybox    = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
)

// The sysctls the kubelet rewrites at start; hack/kubelet-in-ns.sh shadows them.
var kubeletSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// Host paths a kubelet writes by default; this one must not.
var kubeletHostPaths = []string{"/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/usr/libexec/kubernetes", "/etc/kubernetes", "/var/run/kubernetes"}

// env is everything the test started, with the paths it owns.
type env struct {
	o options

	work  string // on disk: cri-shim root, kubelet root, manifests, pod logs
	state string // on /run: the socket, cri-shim state

	sock, shimConfig, crictlConfig       string
	kubeletRoot, manifests, podLogs      string
	kubeletConfig, sysctlShadow, cniConf string
	volumePlugins                        string
	kubeletPort                          int
	shimRoot, shimState                  string
	cgroupRoot                           string // the kubelet's --cgroup-root
	shimCgroupParent                     string // cri-shim's default parent (unused by kubelet pods)

	registry  *harness.Process
	regAddr   string
	shim      *harness.Process
	shimConn  *grpc.ClientConn
	shimStart int // how many times cri-shim was started
	kubelet   *harness.Process

	before     hostState
	madeCgroup []string // cgroup dirs this test created (its roots), per hierarchy
	seenIDs    map[string]bool
}

// hostState is what the kubelet could change on the host and must not.
type hostState struct {
	sysctls    map[string]string
	paths      map[string]bool
	kubeChains []string
}

func readHostState() hostState {
	h := hostState{sysctls: map[string]string{}, paths: map[string]bool{}}
	for _, s := range kubeletSysctls {
		b, _ := os.ReadFile("/proc/sys/" + s)
		h.sysctls[s] = strings.TrimSpace(string(b))
	}
	for _, p := range kubeletHostPaths {
		_, err := os.Lstat(p)
		h.paths[p] = err == nil
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		out, _ := exec.Command(tool).Output()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, ":KUBE-") {
				h.kubeChains = append(h.kubeChains, tool+" "+strings.Fields(l)[0])
			}
		}
	}
	return h
}

// setup builds and starts the registry, cri-shim and the kubelet.
func (e *env) setup(ctx context.Context) error {
	e.seenIDs = map[string]bool{}
	e.before = readHostState()
	var err error
	if e.work, err = os.MkdirTemp("/var/tmp", "cri-shim-e2e-kubelet-"); err != nil {
		return err
	}
	if e.state, err = os.MkdirTemp("/run", "cri-shim-e2e-kubelet-"); err != nil {
		return err
	}
	tag := filepath.Base(e.work)
	e.sock = filepath.Join(e.state, "cri-shim.sock")
	e.shimState = filepath.Join(e.state, "state")
	e.shimRoot = filepath.Join(e.work, "cri-shim")
	e.shimConfig = filepath.Join(e.work, "cri-shim.toml")
	e.crictlConfig = filepath.Join(e.work, "crictl.yaml")
	e.cniConf = filepath.Join(e.work, "net.d")
	e.kubeletRoot = filepath.Join(e.work, "kubelet")
	e.manifests = filepath.Join(e.work, "manifests")
	e.podLogs = filepath.Join(e.work, "pod-logs")
	e.kubeletConfig = filepath.Join(e.work, "kubelet-config.yaml")
	e.volumePlugins = filepath.Join(e.work, "volume-plugins")
	e.sysctlShadow = filepath.Join(e.work, "sysctl-shadow")
	e.cgroupRoot = "/" + tag
	e.shimCgroupParent = "/" + tag + "-shim"
	for _, d := range []string{e.cniConf, e.kubeletRoot, e.manifests, e.podLogs, e.sysctlShadow, e.volumePlugins} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	fmt.Printf("work dir %s, state dir %s, kubelet cgroup root %s\n", e.work, e.state, e.cgroupRoot)

	if err := e.startRegistry(ctx); err != nil {
		return err
	}
	fmt.Printf("registry serving test images on %s\n", e.regAddr)
	if err := e.writeShimConfig(); err != nil {
		return err
	}
	if err := e.startShim(ctx); err != nil {
		return err
	}
	if err := e.makeCgroupRoot(); err != nil {
		return err
	}
	if err := e.writeKubeletConfig(); err != nil {
		return err
	}
	return e.startKubelet(ctx)
}

func (e *env) startRegistry(ctx context.Context) (err error) {
	e.registry, e.regAddr, err = harness.StartRegistry(ctx, e.o.out)
	return err
}

func (e *env) writeShimConfig() error {
	err := harness.WriteConfig(e.shimConfig, harness.Config{
		Socket: e.sock, Root: e.shimRoot, State: e.shimState, LogLevel: 4, RegistryAddr: e.regAddr,
		Extra: fmt.Sprintf("cgroup_driver = \"cgroupfs\"\ncgroup_parent = %q\n\n[cni]\nconf_dir = %q\nbridge_name = %q\nsubnet = %q\n",
			e.shimCgroupParent, e.cniConf, bridgeName, podSubnet),
	})
	if err != nil {
		return err
	}
	crictl := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 20\n", e.sock, e.sock)
	return os.WriteFile(e.crictlConfig, []byte(crictl), 0o644)
}

// startShim starts cri-shim and waits until it answers; each start has a
// log of its own (cri-shim.log, cri-shim.2.log, ...).
func (e *env) startShim(ctx context.Context) error {
	e.shimStart++
	logPath := filepath.Join(e.o.out, "cri-shim.log")
	if e.shimStart > 1 {
		logPath = filepath.Join(e.o.out, fmt.Sprintf("cri-shim.%d.log", e.shimStart))
	}
	p, err := harness.StartProcess(logPath, e.o.criShim, "--config", e.shimConfig)
	if err != nil {
		return err
	}
	e.shim = p
	if e.shimConn != nil {
		e.shimConn.Close()
	}
	e.shimConn, err = harness.WaitReady(ctx, e.sock, p, 60*time.Second)
	return err
}

// freePort returns a TCP port of 127.0.0.1 that no one listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// kill sends SIGKILL to p's PID (not its group) and waits until it is gone.
func kill(p *harness.Process) error {
	if p.Exited() {
		return fmt.Errorf("%s had already exited", p.Cmd.Path)
	}
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	return poll(context.Background(), 10*time.Second, 50*time.Millisecond, func() (bool, error) { return p.Exited(), nil })
}

// stop stops p with SIGTERM; ending by that signal is a clean stop.
func stop(p *harness.Process) error {
	err := p.Stop()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return err
}

// cgroupHierarchies are the mounted cgroup hierarchies (v1 controllers,
// the named systemd one, the unified one).
func cgroupHierarchies() []string {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		for i := 6; i+1 < len(f); i++ {
			if f[i] == "-" {
				if f[i+1] == "cgroup" || f[i+1] == "cgroup2" {
					out = append(out, f[4])
				}
				break
			}
		}
	}
	return out
}

// makeCgroupRoot creates the kubelet's cgroup root in every hierarchy: the
// kubelet refuses a root that does not exist.
func (e *env) makeCgroupRoot() error {
	for _, h := range cgroupHierarchies() {
		dir := filepath.Join(h, e.cgroupRoot)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("cgroup root: %w", err)
		}
		e.madeCgroup = append(e.madeCgroup, dir)
		if filepath.Base(h) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return err
				}
			}
		}
	}
	if len(e.madeCgroup) == 0 {
		return errors.New("no cgroup hierarchy mounted")
	}
	return nil
}

func (e *env) writeKubeletConfig() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	e.kubeletPort = port
	adj, _ := os.ReadFile("/proc/self/oom_score_adj")
	oomScoreAdj, _ := strconv.Atoi(strings.TrimSpace(string(adj)))
	cfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 host: allowed explicitly since 1.35.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %[1]s
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://%[2]s
imageServiceEndpoint: unix://%[2]s
staticPodPath: %[3]s
fileCheckFrequency: 1s
syncFrequency: 10s
podLogsDir: %[4]s
# No API server: standalone. Its own API on a free loopback port (for
# /containerLogs and /stats/summary); no read-only port, no healthz port.
enableServer: true
address: 127.0.0.1
port: %[7]d
readOnlyPort: 0
healthzPort: 0
registerNode: false
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
# The host's iptables are not ours: no KUBE-IPTABLES-HINT, KUBE-FIREWALL, canaries.
makeIPTablesUtilChains: false
# The kubelet cannot lower its oom_score_adj here (no CAP_SYS_RESOURCE).
oomScoreAdj: %[5]d
protectKernelDefaults: false
failSwapOn: false
resolvConf: /etc/resolv.conf
# Not /usr/libexec/kubernetes/kubelet-plugins/volume/exec on the host.
volumePluginDir: %[6]s
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
`, e.cgroupRoot, e.sock, e.manifests, e.podLogs, oomScoreAdj, e.volumePlugins, e.kubeletPort)
	return os.WriteFile(e.kubeletConfig, []byte(cfg), 0o644)
}

func (e *env) kubeletLog() string { return filepath.Join(e.o.out, "kubelet.log") }

// startKubelet runs the kubelet in its own mount namespace and waits
// until it has asked the runtime for its pods.
func (e *env) startKubelet(ctx context.Context) error {
	args := []string{
		e.sysctlShadow, e.o.kubelet,
		"--config", e.kubeletConfig,
		"--root-dir", e.kubeletRoot,
		"--cert-dir", filepath.Join(e.kubeletRoot, "pki"),
		"--hostname-override", nodeName,
		"--v", fmt.Sprint(e.o.kubeletV),
	}
	p, err := harness.StartProcess(e.kubeletLog(), e.o.kubeletNS, args...)
	if err != nil {
		return err
	}
	e.kubelet = p
	err = poll(ctx, 90*time.Second, 500*time.Millisecond, func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("kubelet exited; last lines of %s:\n%s", p.LogPath, tailFile(p.LogPath, 30))
		}
		raw, _ := os.ReadFile(p.LogPath)
		return bytes.Contains(raw, []byte("Starting kubelet main sync loop")), nil
	})
	if err != nil {
		return fmt.Errorf("kubelet not running: %w", err)
	}
	return nil
}

// crictl runs crictl against the private cri-shim and returns its stdout.
func (e *env) crictl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.o.crictl, append([]string{"--config", e.crictlConfig}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("crictl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// crictlJSON runs crictl and decodes its JSON output into v.
func (e *env) crictlJSON(ctx context.Context, v any, args ...string) error {
	out, err := e.crictl(ctx, args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("crictl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// teardown stops what is still running and removes everything the test
// made; it returns what it could not remove.
func (e *env) teardown() []string {
	var leaks []string
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if e.kubelet != nil && !e.kubelet.Exited() {
		if err := stop(e.kubelet); err != nil {
			fmt.Printf("kubelet: %v\n", err)
		}
	}
	// Pods the kubelet left behind (it leaves every pod when it stops).
	if e.shim != nil && !e.shim.Exited() {
		if err := e.removeAllPods(ctx); err != nil {
			leaks = append(leaks, err.Error())
		}
		if err := stop(e.shim); err != nil {
			fmt.Printf("cri-shim: %v\n", err)
		}
	}
	if e.shimConn != nil {
		e.shimConn.Close()
	}
	if e.registry != nil && !e.registry.Exited() {
		_ = e.registry.Stop()
	}
	// What the network plugins share by design: the bridge and the
	// host-local directory of the network.
	if out, err := exec.Command("ip", "link", "show", bridgeName).CombinedOutput(); err == nil {
		if out, err := exec.Command("ip", "link", "del", bridgeName).CombinedOutput(); err != nil {
			leaks = append(leaks, fmt.Sprintf("bridge %s: %v: %s", bridgeName, err, out))
		}
	} else if !bytes.Contains(out, []byte("does not exist")) {
		leaks = append(leaks, fmt.Sprintf("bridge %s: %s", bridgeName, out))
	}
	_ = os.RemoveAll(filepath.Join("/var/lib/cni/networks", "cri-shim-"+bridgeName))
	for i := len(e.madeCgroup) - 1; i >= 0; i-- {
		if err := removeCgroupTree(e.madeCgroup[i]); err != nil {
			leaks = append(leaks, err.Error())
		}
	}
	for _, h := range cgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, e.shimCgroupParent)); err == nil {
			if err := removeCgroupTree(filepath.Join(h, e.shimCgroupParent)); err != nil {
				leaks = append(leaks, err.Error())
			}
		}
	}
	for _, d := range []string{e.work, e.state} {
		if d == "" {
			continue
		}
		if m := mountsUnder(d); len(m) > 0 {
			leaks = append(leaks, fmt.Sprintf("%d mounts under %s, e.g. %s", len(m), d, m[0]))
			continue // never remove through a mount
		}
		if err := os.RemoveAll(d); err != nil {
			leaks = append(leaks, fmt.Sprintf("remove %s: %v", d, err))
		}
	}
	return leaks
}

// removeAllPods removes every pod and container left in the private
// cri-shim and names them.
func (e *env) removeAllPods(ctx context.Context) error {
	return harness.CleanLeftovers(ctx, runtimeapi.NewRuntimeServiceClient(e.shimConn))
}

// removeCgroupTree removes a cgroup directory and its children, deepest
// first; a cgroup with processes cannot go and is reported.
func removeCgroupTree(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var failed []string
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
			procs, _ := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs"))
			failed = append(failed, fmt.Sprintf("%s (%v; processes: %s)", dirs[i], err, strings.Join(strings.Fields(string(procs)), " ")))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("cgroups not removed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// mountsUnder lists the mount points at or below dir in this mount namespace.
func mountsUnder(dir string) []string {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// poll calls fn every interval until it returns true or an error, or
// until timeout.
func poll(ctx context.Context, timeout, interval time.Duration, fn func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := fn()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func tailFile(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
