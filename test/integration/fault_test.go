package integration

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/test/framework"
)

// The fault tests' pod network: a bridge and subnet no other test uses.
const (
	faultBridge = "crishimft0"
	faultSubnet = "10.232.0.0/24"
)

// faultsInjected counts the faults the TestFault tests inject; each test
// logs the count.
var faultsInjected atomic.Int64

// injected counts one injected fault.
func injected() { faultsInjected.Add(1) }

// startFaultDaemon is startCtrDaemonOn on the fault network with cniTOML
// added to the [cni] table and, while the first start runs, env set to
// faults (a fault-injection variable of the code under test).
func startFaultDaemon(t *testing.T, cniTOML, env, faults string) *ctrDaemon {
	t.Helper()
	reg := startImageRegistry(t)
	d := &ctrDaemon{t: t, ids: map[string]bool{}, logDir: t.TempDir(),
		bridge: faultBridge, network: "cri-shim-" + faultBridge,
		cgroupParent: fmt.Sprintf("/crishim-ft-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)}
	confDir := filepath.Join(t.TempDir(), "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("cgroup_parent = %q\n%s\n[cni]\nconf_dir = %q\nbridge_name = %q\nsubnet = %q\n%s\n",
		d.cgroupParent, mirrorTOML(reg.Host), confDir, faultBridge, faultSubnet, cniTOML)
	d.Daemon = framework.NewDaemon(t, framework.Options{ConfigTOML: cfg})
	if err := os.Chmod(d.Dir, 0o711); err != nil {
		t.Fatal(err)
	}
	d.startWith(env, faults)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		removeAllPods(ctx, t, d.Runtime, d.track)
		d.assertHostClean()
		d.cleanup()
	})
	d.pull(ctrImage)
	return d
}

// startWith starts the daemon with env set to faults ("" for none).
func (d *ctrDaemon) startWith(env, faults string) {
	d.t.Helper()
	if env != "" && faults != "" {
		os.Setenv(env, faults)
		defer os.Unsetenv(env)
	}
	if err := d.Start(); err != nil {
		d.t.Fatal(err)
	}
}

// restartAfterKill waits for the daemon killed by an injected fault (or
// kills it) and starts it again with env set to faults.
func (d *ctrDaemon) restartAfterKill(env, faults string) {
	d.t.Helper()
	if err := d.Wait(5 * time.Second); err == nil {
		d.t.Fatal("daemon exited cleanly; want killed")
	} else if strings.Contains(err.Error(), "still running") {
		d.Kill9()
	}
	d.startWith(env, faults)
}

// assertHostClean checks, beyond the container test daemon's own checks,
// the links on the bridge, iptables rules naming a pod and CNI cache
// entries.
func (d *ctrDaemon) assertHostClean() {
	t := d.t
	t.Helper()
	if l, err := netlink.LinkByName(d.bridge); err == nil {
		links, _ := netlink.LinkList()
		for _, x := range links {
			if x.Attrs().MasterIndex == l.Attrs().Index {
				out, _ := exec.Command("ip", "-d", "-s", "link", "show", x.Attrs().Name).CombinedOutput()
				t.Errorf("leak: link %s on bridge %s: %s", x.Attrs().Name, d.bridge, out)
			}
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(d.Root, "cni-cache", "results")); len(ents) > 0 {
		t.Errorf("leak: %d CNI cache entries", len(ents))
	}
	saved, _ := exec.Command("iptables-save").Output()
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range d.ids {
		if strings.Contains(string(saved), id) {
			t.Errorf("leak: iptables rules of pod %s", id)
		}
	}
}

// ctrLeftNothing checks that nothing of container id is left: mounts and
// dirs of its bundle, runtime state and writable layer, its monitor, its
// cgroups.
func (d *ctrDaemon) ctrLeftNothing(id string) {
	t := d.t
	t.Helper()
	for _, dir := range []string{filepath.Join(d.State, "containers", id), filepath.Join(d.State, "containers", "runc", id),
		filepath.Join(d.Root, "containers", id)} {
		if ms, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(dir)); len(ms) > 0 {
			t.Errorf("leak: %d mounts under %s", len(ms), dir)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("leak: %s", dir)
		}
	}
	if pids := processesWith(id); len(pids) > 0 {
		t.Errorf("leak: processes %v of container %s", pids, id[:12])
	}
	ctrls, _ := os.ReadDir("/sys/fs/cgroup")
	for _, c := range ctrls {
		root := filepath.Join("/sys/fs/cgroup", c.Name(), d.cgroupParent)
		_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() && e.Name() == id {
				t.Errorf("leak: cgroup %s", p)
			}
			return nil
		})
	}
}

// containers lists the daemon's containers by ID.
func (d *ctrDaemon) containers() map[string]*runtimeapi.Container {
	d.t.Helper()
	resp, err := d.Runtime.ListContainers(context.Background(), &runtimeapi.ListContainersRequest{})
	if err != nil {
		d.t.Fatal(err)
	}
	out := map[string]*runtimeapi.Container{}
	for _, c := range resp.GetContainers() {
		out[c.GetId()] = c
	}
	return out
}

// TestFaultKill9MidContainerOps kills the daemon with SIGKILL inside
// CreateContainer (after its record, after the rootfs, with the monitor
// running), StartContainer (process released, not recorded), StopContainer
// (killed, exit not awaited) and RemoveContainer (removal recorded). After a
// restart each container is whole in the right state with the right exit
// code, or gone without a trace, and the same name can be used again.
func TestFaultKill9MidContainerOps(t *testing.T) {
	env := container.FaultEnv
	d := startFaultDaemon(t, "", "", "")
	ctx := context.Background()
	pod := d.podConfig("ctr-faults", runtimeapi.NamespaceMode_CONTAINER, nil)
	podID := d.runPod(pod)
	parent := t

	for _, step := range []string{"create-record", "create-rootfs", "create-monitor"} {
		t.Run(step, func(t *testing.T) {
			d.t = t
			defer func() { d.t = parent }()
			d.Stop()
			d.startWith(env, step+"=kill")
			logBefore := len(d.Log())
			cfg := ctrConfig(pod, "c-"+step, "sleep", "3600")
			_, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
			injected()
			if err == nil {
				t.Fatal("container created although the daemon was killed")
			}
			t.Logf("CreateContainer: %v", status.Code(err))
			d.restartAfterKill("", "")
			if cs := d.containers(); len(cs) != 0 {
				t.Fatalf("half-made container listed after restart: %v", cs)
			}
			m := regexp.MustCompile(`container ([0-9a-f]{64}): creating when the daemon stopped: removed`).FindStringSubmatch(d.Log()[logBefore:])
			if m == nil {
				t.Fatal("recovery did not log the removal of the half-made container")
			}
			d.ctrLeftNothing(m[1])
			// A monitor started but not recorded outlives the daemon; recovery
			// must end it before rolling back, or its create command goes on.
			if step == "create-monitor" && !strings.Contains(d.Log()[logBefore:], "container "+m[1]+": creation was cut short: killing its monitor") {
				t.Error("recovery did not kill the unrecorded monitor")
			}
			// The name is free again.
			cid := d.run(podID, pod, cfg)
			d.stopRemoveCtr(cid)
		})
	}

	t.Run("start", func(t *testing.T) {
		d.t = t
		defer func() { d.t = parent }()
		d.Stop()
		d.startWith(env, "start=kill")
		id := d.create(podID, pod, ctrConfig(pod, "c-start", "sleep", "3600"))
		_, err := d.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
		injected()
		if err == nil {
			t.Fatal("container started although the daemon was killed")
		}
		d.restartAfterKill("", "")
		// The process was released before the kill: it runs, and the
		// container must say so (not CREATED, which a kubelet would start
		// again).
		st := d.ctrStatus(id)
		if st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING || st.GetStartedAt() == 0 {
			t.Errorf("after a kill mid-start: state %v startedAt %d, want RUNNING with a start time", st.GetState(), st.GetStartedAt())
		}
		if !strings.Contains(d.Log(), "container "+id+": started when the daemon stopped: recorded as running") {
			t.Error("recovery did not log the start it found cut short")
		}
		if pid := d.info(id).PID; !alivePID(pid) {
			t.Errorf("init %d of the started container does not run", pid)
		}
		if _, err := d.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("second start: %v, want FailedPrecondition", err)
		}
		d.stopRemoveCtr(id)
	})

	t.Run("stop", func(t *testing.T) {
		d.t = t
		defer func() { d.t = parent }()
		d.Stop()
		d.startWith(env, "stop=kill")
		id := d.run(podID, pod, ctrConfig(pod, "c-stop", "sleep", "3600"))
		pid := d.info(id).PID
		_, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 0})
		injected()
		if err == nil {
			t.Fatal("container stopped although the daemon was killed")
		}
		d.restartAfterKill("", "")
		st := d.waitCtrState(id, runtimeapi.ContainerState_CONTAINER_EXITED)
		if st.GetExitCode() != 137 || st.GetReason() != "Error" {
			t.Errorf("after a kill mid-stop: exit %d reason %q, want 137 Error", st.GetExitCode(), st.GetReason())
		}
		waitGone(t, pid)
		d.stopRemoveCtr(id)
	})

	t.Run("remove", func(t *testing.T) {
		d.t = t
		defer func() { d.t = parent }()
		d.Stop()
		d.startWith(env, "remove=kill")
		id := d.run(podID, pod, ctrConfig(pod, "c-remove", "sleep", "3600"))
		if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
			t.Fatal(err)
		}
		_, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
		injected()
		if err == nil {
			t.Fatal("container removed although the daemon was killed")
		}
		d.restartAfterKill("", "")
		if cs := d.containers(); cs[id] != nil {
			t.Errorf("half-removed container listed after restart: %v", cs[id])
		}
		d.ctrLeftNothing(id)
		if !strings.Contains(d.Log(), "container "+id+": removing when the daemon stopped: removed") {
			t.Errorf("recovery did not log finishing the removal")
		}
	})
	d.Stop()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d faults injected so far", faultsInjected.Load())
}

// stopRemoveCtr stops and removes a container and checks nothing of it is left.
func (d *ctrDaemon) stopRemoveCtr(id string) {
	d.t.Helper()
	ctx := context.Background()
	if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
		d.t.Fatalf("stop container %s: %v", id, err)
	}
	if _, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		d.t.Fatalf("remove container %s: %v", id, err)
	}
	d.ctrLeftNothing(id)
}

// TestFaultMonitorKill9 kills the monitor of a running and of a created
// container (found by its PID in the daemon's verbose status), then the
// daemon. Both containers are reported exited with the reason, stay so
// across the restart, and stop and remove without leaving anything.
func TestFaultMonitorKill9(t *testing.T) {
	d := startFaultDaemon(t, "", "", "")
	ctx := context.Background()
	pod := d.podConfig("monitor-faults", runtimeapi.NamespaceMode_POD, nil)
	podID := d.runPod(pod)
	running := d.run(podID, pod, ctrConfig(pod, "running", "sleep", "3600"))
	created := d.create(podID, pod, ctrConfig(pod, "created", "sleep", "3600"))
	for _, id := range []string{running, created} {
		info := d.info(id)
		if err := syscall.Kill(info.MonitorPID, syscall.SIGKILL); err != nil {
			t.Fatalf("kill monitor %d: %v", info.MonitorPID, err)
		}
		injected()
		st := d.waitCtrState(id, runtimeapi.ContainerState_CONTAINER_EXITED)
		if st.GetExitCode() != 255 || st.GetReason() != "Error" || !strings.Contains(st.GetMessage(), "monitor") {
			t.Errorf("%s: exit %d reason %q message %q", st.GetMetadata().GetName(), st.GetExitCode(), st.GetReason(), st.GetMessage())
		}
		waitGone(t, info.PID)
	}
	if _, err := d.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created}); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), created) {
		t.Errorf("start of a container whose monitor died: %v, want FailedPrecondition naming it", err)
	}
	d.Kill9()
	d.startWith("", "")
	for _, id := range []string{running, created} {
		if st := d.ctrStatus(id); st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || st.GetExitCode() != 255 {
			t.Errorf("%s after restart: %v exit %d", id[:12], st.GetState(), st.GetExitCode())
		}
		d.stopRemoveCtr(id)
	}
	d.stopRemovePod(podID)
	t.Logf("%d faults injected so far", faultsInjected.Load())
}

// faultPlugin is a CNI plugin chained after the bridge plugin; the word
// in MODE decides: "fail-add" fails ADD, "hang-add" and "hang-del" hang
// there (until the runtime kills them); anything else passes the result
// through. Each call writes its PID to DIR/<command>.pid.
const faultPlugin = `#!/bin/sh
mode=$(cat MODE 2>/dev/null)
echo $$ > "DIR/$CNI_COMMAND.pid"
case "$CNI_COMMAND" in
ADD)
  case "$mode" in
  fail-add) echo '{"cniVersion":"1.1.0","code":999,"msg":"injected ADD failure"}'; exit 1 ;;
  hang-add) exec sleep 300 ;;
  esac
  exec python3 -c 'import json,sys; c=json.load(sys.stdin); r=c.get("prevResult",{}); r["cniVersion"]=c["cniVersion"]; print(json.dumps(r))' ;;
DEL) if [ "$mode" = hang-del ]; then exec sleep 300; fi ;;
VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}' ;;
esac
exit 0
`

// TestFaultCNIPlugin runs pods on an operator network whose chained plugin
// fails ADD, hangs on ADD, or hangs on DEL (plugin timeout 5s). A failed
// or hung ADD fails RunPodSandbox with a code and the plugin's words and
// leaves nothing; a hung DEL lets StopPodSandbox return within the bound
// with the pod stopped and the error in its status. Every hanging plugin
// is killed when the bound passes. After each a restart is consistent.
func TestFaultCNIPlugin(t *testing.T) {
	bin := t.TempDir()
	mode := filepath.Join(bin, "mode")
	plugin := strings.NewReplacer("MODE", mode, "DIR", bin).Replace(faultPlugin)
	if err := os.WriteFile(filepath.Join(bin, "faultplugin"), []byte(plugin), 0o755); err != nil {
		t.Fatal(err)
	}
	const timeout = 5 * time.Second
	d := startFaultDaemon(t, `plugin_timeout = "5s"`+"\n"+`bin_dirs = ["`+bin+`", "/opt/cni/bin"]`, "", "")
	const netName = "crishim-ft-faultplugin"
	d.network = netName
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join("/var/lib/cni/networks", netName)) })
	conf := `{"cniVersion":"1.1.0","name":"` + netName + `","plugins":[
	  {"type":"bridge","bridge":"` + faultBridge + `","isGateway":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"` + faultSubnet + `"}]]}},
	  {"type":"faultplugin"}]}`
	if err := os.WriteFile(filepath.Join(confDirOfRuntime(t, d.Runtime), "10-fault.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	setMode := func(m string) {
		if err := os.WriteFile(mode, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pluginPID := func(cmd string) int {
		b, _ := os.ReadFile(filepath.Join(bin, cmd+".pid"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}
	ctx := context.Background()
	parent := t

	for _, m := range []string{"fail-add", "hang-add"} {
		t.Run(m, func(t *testing.T) {
			d.t = t
			defer func() { d.t = parent }()
			setMode(m)
			defer setMode("")
			cfg := d.podConfig("cni-"+m, runtimeapi.NamespaceMode_POD, nil)
			start := time.Now()
			_, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
			took := time.Since(start)
			injected()
			if err == nil {
				t.Fatal("pod made on a failing network")
			}
			t.Logf("RunPodSandbox after %s: %v", took.Round(time.Millisecond), err)
			want := "injected ADD failure"
			if m == "hang-add" {
				want = "faultplugin"
				if took > 4*timeout {
					t.Errorf("RunPodSandbox took %s with a %s plugin timeout", took, timeout)
				}
				if status.Code(err) != codes.DeadlineExceeded {
					t.Errorf("code %v, want DeadlineExceeded", status.Code(err))
				}
				waitGone(t, pluginPID("ADD"))
			} else if c := status.Code(err); c != codes.Unavailable {
				t.Errorf("code %v, want Unavailable", c)
			}
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "pod ") {
				t.Errorf("error %q does not name the plugin's failure and the pod", err)
			}
			if pods := d.listPods(); len(pods) != 0 {
				t.Fatalf("half-made pod listed: %v", pods)
			}
			d.Kill9()
			d.startWith("", "")
			if pods := d.listPods(); len(pods) != 0 {
				t.Fatalf("half-made pod listed after restart: %v", pods)
			}
			d.assertNoContainerLeaks()
			d.assertHostClean()
		})
	}

	t.Run("hang-del", func(t *testing.T) {
		d.t = t
		defer func() { d.t = parent }()
		setMode("")
		pod := d.podConfig("cni-hang-del", runtimeapi.NamespaceMode_POD, nil)
		podID := d.runPod(pod)
		cid := d.run(podID, pod, ctrConfig(pod, "sleeper", "sleep", "3600"))
		setMode("hang-del")
		start := time.Now()
		_, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		took := time.Since(start)
		injected()
		if err != nil {
			t.Fatalf("StopPodSandbox with a hanging DEL: %v", err)
		}
		if took > 4*timeout {
			t.Errorf("StopPodSandbox took %s with a %s plugin timeout", took, timeout)
		}
		waitGone(t, pluginPID("DEL"))
		check := func() {
			t.Helper()
			st, err := d.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
			if err != nil {
				t.Fatal(err)
			}
			if st.GetStatus().GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
				t.Errorf("pod %v after a stop with a hanging DEL", st.GetStatus().GetState())
			}
			if !strings.Contains(st.GetInfo()["info"], "faultplugin") {
				t.Errorf("the DEL failure is not in the pod's status: %s", st.GetInfo()["info"])
			}
			if c := d.ctrStatus(cid); c.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED {
				t.Errorf("container %v in a stopped pod", c.GetState())
			}
		}
		check()
		if !strings.Contains(d.Log(), "faultplugin") {
			t.Error("the DEL failure is not logged")
		}
		d.Kill9()
		d.startWith("", "")
		check()
		// Removal tears the network down again: with the plugin still
		// hanging it fails within the bound, naming the pod; once the
		// plugin answers it succeeds.
		start = time.Now()
		_, err = d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
		if err == nil || !strings.Contains(err.Error(), podID) {
			t.Errorf("RemovePodSandbox with DEL hanging: %v, want an error naming the pod", err)
		}
		if took := time.Since(start); took > 4*timeout {
			t.Errorf("RemovePodSandbox took %s with a %s plugin timeout", took, timeout)
		}
		waitGone(t, pluginPID("DEL"))
		setMode("")
		if _, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
			t.Fatalf("RemovePodSandbox once DEL works: %v", err)
		}
		d.ctrLeftNothing(cid)
		d.assertNoContainerLeaks()
		d.assertHostClean()
	})
	t.Logf("%d faults injected so far", faultsInjected.Load())
}

// listPods lists the daemon's pods.
func (d *ctrDaemon) listPods() []*runtimeapi.PodSandbox {
	d.t.Helper()
	resp, err := d.Runtime.ListPodSandbox(context.Background(), &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		d.t.Fatal(err)
	}
	return resp.GetItems()
}

// confDirOfRuntime reads a daemon's CNI conf dir from its verbose status.
func confDirOfRuntime(t *testing.T, rt runtimeapi.RuntimeServiceClient) string {
	t.Helper()
	st, err := rt.Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.GetInfo()["config"]
	i := strings.Index(cfg, `"conf_dir":"`)
	if i < 0 {
		t.Fatalf("no conf_dir in %s", cfg)
	}
	rest := cfg[i+len(`"conf_dir":"`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// bigImage is a linux/amd64 image of n layers of size random bytes each
// (incompressible: the blobs are as large as the files).
func bigImage(t *testing.T, size, n int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, n)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/random"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// fillTo writes a file at path that leaves about free bytes available on
// its filesystem.
func fillTo(t *testing.T, path string, free int64) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	size := int64(st.Bavail)*st.Bsize - free
	if size <= 0 {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for size > 0 {
		n := min(size, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatalf("fill %s: %v", path, err)
		}
		size -= n
	}
}

// storeEntries lists what the image store holds in its tmp, layers and
// blob dirs.
func storeEntries(root string) []string {
	var out []string
	for _, sub := range []string{"tmp", "layers", "blobs/sha256"} {
		es, _ := os.ReadDir(filepath.Join(root, "images", sub))
		for _, e := range es {
			out = append(out, sub+"/"+e.Name())
		}
	}
	return out
}

// TestFaultDiskFullPull pulls a 16 MiB image into a root dir on a 64 MiB
// tmpfs filled to leave 4 MiB (the download runs out) or 27 MiB (the
// unpacking runs out). The pull fails with ResourceExhausted naming the
// image, nothing of it is left in the store, a restart is consistent, and
// once space is freed the same pull succeeds.
func TestFaultDiskFullPull(t *testing.T) {
	reg := startImageRegistry(t)
	const ref = "registry.k8s.io/faults/big:1"
	tag, err := name.NewTag(reg.Host+"/faults/big:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, bigImage(t, 8<<20, 2)); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=64m,mode=0711"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	root := filepath.Join(mnt, "root")
	d := framework.NewDaemon(t, framework.Options{ConfigTOML: mirrorTOML(reg.Host)})
	if err := d.Start("--root", root); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pull := func() error {
		_, err := d.Image.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		return err
	}
	filler := filepath.Join(mnt, "filler")
	for _, tc := range []struct {
		name string
		free int64
	}{{"download", 4 << 20}, {"unpack", 27 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			fillTo(t, filler, tc.free)
			err := pull()
			injected()
			if err == nil {
				t.Fatal("pull succeeded on a full disk")
			}
			t.Logf("PullImage: %v", err)
			if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), ref) {
				t.Errorf("pull on a full disk: %v, want ResourceExhausted naming %s", err, ref)
			}
			// A download shared with the failed pull may end just after it.
			for deadline := time.Now().Add(10 * time.Second); len(storeEntries(root)) > 0 && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			if left := storeEntries(root); len(left) > 0 {
				t.Errorf("partial pull left %v", left)
			}
			d.Kill9()
			if err := d.Start("--root", root); err != nil {
				t.Fatal(err)
			}
			if list, err := d.Image.ListImages(ctx, &runtimeapi.ListImagesRequest{}); err != nil || len(list.GetImages()) != 0 {
				t.Errorf("images after restart: %v %v", list, err)
			}
			if left := storeEntries(root); len(left) > 0 {
				t.Errorf("after restart the store holds %v", left)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			if err := pull(); err != nil {
				t.Fatalf("pull once space is free: %v", err)
			}
			if _, err := d.Image.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
				t.Fatal(err)
			}
			// The collection after a removal runs in the background.
			for deadline := time.Now().Add(30 * time.Second); len(storeEntries(root)) > 0; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the removed image's content stays: %v", storeEntries(root))
				}
			}
		})
	}
	d.Stop()
	t.Logf("%d faults injected so far", faultsInjected.Load())
}

// TestFaultKill9AtIncreasingDelays kills the daemon with SIGKILL at
// increasing delays (12 kills; 40 under make soak), spread over the time
// one uncut run of the same steps takes, into a pod's whole life (run, create, start, stop,
// remove the container, stop and remove the pod), without hooks, so the
// kills land in windows no hook marks. After each restart every pod and
// container listed answers its status in a whole state (a running
// container's process runs), everything is removed through the CRI, and
// nothing is left on the host.
func TestFaultKill9AtIncreasingDelays(t *testing.T) {
	n := loadSize(12, 40)
	d := startFaultDaemon(t, "", "", "")
	phases := map[string]int{}
	// life runs a pod's whole life, storing in phase the call under way.
	life := func(ctx context.Context, name string, phase *atomic.Value) {
		pod := d.podConfig(name, runtimeapi.NamespaceMode_POD, nil)
		phase.Store("RunPodSandbox")
		r, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
		if err != nil {
			return
		}
		d.track(r.GetPodSandboxId())
		phase.Store("CreateContainer")
		c, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: r.GetPodSandboxId(),
			Config: ctrConfig(pod, "c", "sleep", "3600"), SandboxConfig: pod})
		if err != nil {
			return
		}
		id := c.GetContainerId()
		for _, step := range []struct {
			name string
			call func() error
		}{
			{"StartContainer", func() error {
				_, err := d.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
				return err
			}},
			{"StopContainer", func() error {
				_, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id})
				return err
			}},
			{"RemoveContainer", func() error {
				_, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
				return err
			}},
			{"StopPodSandbox", func() error {
				_, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: r.GetPodSandboxId()})
				return err
			}},
			{"RemovePodSandbox", func() error {
				_, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: r.GetPodSandboxId()})
				return err
			}},
		} {
			phase.Store(step.name)
			if step.call() != nil {
				return
			}
		}
		phase.Store("done")
	}
	// The kills are spread over the time one uncut life takes here and now.
	var uncut atomic.Value
	begin := time.Now()
	life(context.Background(), "delay-uncut", &uncut)
	span := time.Since(begin) * 6 / 5
	if uncut.Load() != "done" {
		t.Fatalf("an uncut pod life failed at %v", uncut.Load())
	}
	for i := range n {
		delay := span * time.Duration(i) / time.Duration(n)
		ctx, cancel := context.WithCancel(context.Background())
		var phase atomic.Value
		phase.Store("none")
		done := make(chan struct{})
		go func() {
			defer close(done)
			life(ctx, fmt.Sprintf("delay-%d", i), &phase)
		}()
		time.Sleep(delay)
		d.Kill9()
		cancel()
		<-done
		injected()
		phases[phase.Load().(string)]++
		d.startWith("", "")
		ctx = context.Background()
		for _, p := range d.listPods() {
			d.track(p.GetId())
			st := d.status(p.GetId())
			if s := st.GetState(); s != runtimeapi.PodSandboxState_SANDBOX_READY && s != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
				t.Errorf("kill %d (%s): pod %s in state %v", i, phase.Load(), p.GetId()[:12], s)
			}
		}
		for id := range d.containers() {
			st := d.ctrStatus(id)
			switch st.GetState() {
			case runtimeapi.ContainerState_CONTAINER_RUNNING:
				if pid := d.info(id).PID; !alivePID(pid) {
					t.Errorf("kill %d (%s): container %s RUNNING but its process %d does not run", i, phase.Load(), id[:12], pid)
				}
			case runtimeapi.ContainerState_CONTAINER_EXITED:
				if st.GetFinishedAt() == 0 {
					t.Errorf("kill %d (%s): container %s EXITED with no finish time", i, phase.Load(), id[:12])
				}
			case runtimeapi.ContainerState_CONTAINER_CREATED:
			default:
				t.Errorf("kill %d (%s): container %s in state %v", i, phase.Load(), id[:12], st.GetState())
			}
		}
		removeAllPods(ctx, t, d.Runtime, d.track)
		d.assertNoContainerLeaks()
		d.assertHostClean()
		if t.Failed() {
			break
		}
	}
	t.Logf("%d kills over %s, landing in %v; %d faults injected so far", n, span.Round(time.Millisecond), phases, faultsInjected.Load())
}

// status returns a pod's status.
func (d *ctrDaemon) status(id string) *runtimeapi.PodSandboxStatus {
	d.t.Helper()
	st, err := d.Runtime.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		d.t.Fatalf("status of pod %s: %v", id, err)
	}
	return st.GetStatus()
}
