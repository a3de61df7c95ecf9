package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// hostileCount counts the hostile cases the request tests try.
var hostileCount atomic.Int64

// wantCode fails unless err is a gRPC status with one of the codes.
func wantCode(t *testing.T, what string, err error, want ...codes.Code) {
	t.Helper()
	hostileCount.Add(1)
	st, _ := status.FromError(err)
	for _, c := range want {
		if st.Code() == c {
			return
		}
	}
	t.Errorf("%s: got %v, want one of %v", what, err, want)
}

// hostileStrings are names, namespaces and IDs that must not reach a path,
// a command line or a log line unchecked.
func hostileStrings(canary string) map[string]string {
	return map[string]string{
		"slash":          "a/b",
		"dotdot":         "..",
		"dotdot-path":    "../../../../../../.." + canary + "/x",
		"absolute":       canary + "/x",
		"nul":            "a\x00b",
		"newline":        "a\nb",
		"huge":           strings.Repeat("n", 1<<20),
		"dot":            ".",
		"cni-args":       "a;K8S_POD_NAME=evil",
		"glob-and-space": "* ?[] $(id)",
	}
}

// TestHostileRequestNames sends pods and containers whose names,
// namespaces and uids hold path separators, "..", NUL or a megabyte, and
// IDs of the same kinds to every call that takes one: each is refused as
// an invalid argument or not found, or works; nothing appears outside the
// daemon's dirs.
func TestHostileRequestNames(t *testing.T) {
	ctx := context.Background()
	d := startCtrDaemonOn(t, hostileBridge, hostileSubnet, "")
	canary := t.TempDir()
	before := treeState(t, canary)

	for key, s := range hostileStrings(canary) {
		for _, field := range []string{"name", "namespace", "uid"} {
			cfg := d.podConfig("hostile", runtimeapi.NamespaceMode_POD, nil)
			switch field {
			case "name":
				cfg.Metadata.Name = s
			case "namespace":
				cfg.Metadata.Namespace = s
			case "uid":
				cfg.Metadata.Uid = s
			}
			resp, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
			if err == nil {
				hostileCount.Add(1)
				d.track(resp.GetPodSandboxId())
				t.Logf("pod %s %s: accepted", field, key)
				continue
			}
			wantCode(t, "pod "+field+" "+key, err, codes.InvalidArgument)
		}
	}
	podCfg := d.podConfig("hostile-names", runtimeapi.NamespaceMode_POD, nil)
	podID := d.runPod(podCfg)
	for key, s := range hostileStrings(canary) {
		cfg := ctrConfig(podCfg, "c", "sh", "-c", "exit 0")
		cfg.Metadata.Name = s
		cfg.LogPath = ""
		resp, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
		if key == "nul" || key == "newline" || key == "huge" {
			wantCode(t, "container name "+key, err, codes.InvalidArgument)
			if err == nil {
				_, _ = d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: resp.GetContainerId()})
			}
			continue
		}
		if err == nil {
			hostileCount.Add(1)
			t.Logf("container name %s: accepted", key)
			if _, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: resp.GetContainerId()}); err != nil {
				t.Errorf("remove container named %s: %v", key, err)
			}
			continue
		}
		wantCode(t, "container name "+key, err, codes.InvalidArgument)
	}
	// IDs: never a path, never a crash.
	for key, id := range hostileStrings(canary) {
		what := "id " + key
		_, err := d.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		wantCode(t, what+": ContainerStatus", err, codes.NotFound, codes.InvalidArgument)
		_, err = d.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
		wantCode(t, what+": StartContainer", err, codes.NotFound, codes.InvalidArgument)
		_, err = d.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"true"}})
		wantCode(t, what+": ExecSync", err, codes.NotFound, codes.InvalidArgument)
		_, err = d.Runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id})
		wantCode(t, what+": ReopenContainerLog", err, codes.NotFound, codes.InvalidArgument)
		_, err = d.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
		wantCode(t, what+": PodSandboxStatus", err, codes.NotFound, codes.InvalidArgument)
		_, err = d.Runtime.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: id})
		wantCode(t, what+": PortForward", err, codes.NotFound, codes.InvalidArgument)
		_, err = d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: ctrConfig(podCfg, "c", "true"), SandboxConfig: podCfg})
		wantCode(t, what+": CreateContainer in pod", err, codes.NotFound, codes.InvalidArgument)
		// Removal of what does not exist succeeds (the CRI's idempotence), and must not touch a path.
		_, err = d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
		wantCode(t, what+": RemoveContainer", err, codes.OK, codes.NotFound, codes.InvalidArgument)
		_, err = d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
		wantCode(t, what+": StopPodSandbox", err, codes.OK, codes.NotFound, codes.InvalidArgument)
		_, err = d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
		wantCode(t, what+": RemovePodSandbox", err, codes.OK, codes.NotFound, codes.InvalidArgument)
		_, err = d.Image.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: id}})
		wantCode(t, what+": ImageStatus", err, codes.OK, codes.NotFound, codes.InvalidArgument)
		_, err = d.Image.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: id}})
		wantCode(t, what+": RemoveImage", err, codes.OK, codes.NotFound, codes.InvalidArgument)
	}
	// References that are not names: refused before any registry is asked
	// (a valid one would reach the internet: none is pulled here).
	for _, ref := range []string{"..", ".", "a/../b", "127.0.0.1:1/a/../../v2/x", "127.0.0.1:1/library/..:latest", "a\x00b",
		"127.0.0.1:1/" + strings.Repeat("a", 1<<20), "127.0.0.1:1/a/./b", "/etc/passwd", "127.0.0.1:1/a@sha256:../../etc"} {
		_, err := d.Image.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		wantCode(t, fmt.Sprintf("pull %.60q", ref), err, codes.InvalidArgument)
	}
	if ch := treeChanges(before, treeState(t, canary)); len(ch) > 0 {
		t.Errorf("hostile names wrote outside the daemon's dirs: %v", ch)
	}
	if _, err := d.Runtime.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
		t.Fatalf("daemon after hostile names: %v", err)
	}
	t.Logf("hostile request cases so far: %d", hostileCount.Load())
}

// TestHostileLogPaths sends log directories and log paths that leave the
// pod's log directory, and plants symlinks in the log directory (before
// create, and swapped in before a log reopen as a container with the log
// directory mounted could): no byte may land outside it.
func TestHostileLogPaths(t *testing.T) {
	ctx := context.Background()
	d := startCtrDaemonOn(t, hostileBridge, hostileSubnet, "")
	canary := t.TempDir()
	target := filepath.Join(canary, "target")
	if err := os.WriteFile(target, []byte("host file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(canary, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := treeState(t, canary)

	for _, dir := range []string{"relative/dir", d.logDir + "/../escape", d.logDir + "/./x", d.logDir + "//x"} {
		cfg := d.podConfig("hostile-logdir", runtimeapi.NamespaceMode_POD, nil)
		cfg.LogDirectory = dir
		_, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		wantCode(t, "log directory "+dir, err, codes.InvalidArgument)
	}

	podCfg := d.podConfig("hostile-logs", runtimeapi.NamespaceMode_POD, nil)
	podID := d.runPod(podCfg)
	logDir := podCfg.GetLogDirectory()
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{target, "../" + filepath.Base(logDir) + "/../../x", "a/../../x", "..", "a\x00b", "/etc/passwd"} {
		cfg := ctrConfig(podCfg, "badlog", "sh", "-c", "echo pwned")
		cfg.LogPath = p
		_, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
		wantCode(t, fmt.Sprintf("log path %q", p), err, codes.InvalidArgument)
	}

	// Symlinks planted before create: to a host file (absolute and
	// relative) and a directory leading out.
	plants := map[string]string{"abs.log": target, "rel.log": "../../../../../../../../.." + target, "up": filepath.Join(canary, "dir")}
	for name, to := range plants {
		if err := os.Symlink(to, filepath.Join(logDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range []string{"abs.log", "rel.log", "up/c.log"} {
		hostileCount.Add(1)
		cfg := ctrConfig(podCfg, fmt.Sprintf("planted%d", i), "sh", "-c", "echo pwned")
		cfg.LogPath = p
		resp, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
		if err != nil {
			t.Logf("log path %s through a planted symlink: %v", p, err)
			continue
		}
		d.start(resp.GetContainerId())
		d.waitCtrState(resp.GetContainerId(), runtimeapi.ContainerState_CONTAINER_EXITED)
	}

	// Symlinks swapped in before a reopen (what the kubelet's rotation
	// does: rename the log, then ask for a reopen).
	for i, swap := range []struct{ rel, link, to string }{
		{"swap.log", "swap.log", target},
		{"sub/c.log", "sub", filepath.Join(canary, "dir")},
	} {
		hostileCount.Add(1)
		cfg := ctrConfig(podCfg, fmt.Sprintf("swapped%d", i), "sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done")
		cfg.LogPath = swap.rel
		if err := os.MkdirAll(filepath.Dir(filepath.Join(logDir, swap.rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		id := d.run(podID, podCfg, cfg)
		logFile := filepath.Join(logDir, swap.rel)
		waitLogLine(t, logFile, "line1")
		if err := os.Rename(filepath.Join(logDir, swap.link), filepath.Join(logDir, swap.link+".rotated")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(swap.to, filepath.Join(logDir, swap.link)); err != nil {
			t.Fatal(err)
		}
		_, err := d.Runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id})
		t.Logf("reopen with %s swapped for a symlink: %v", swap.link, err)
		wantCode(t, "reopen through a symlink", err, codes.FailedPrecondition)
		// Let the container write on: to whatever the monitor holds now.
		rotated := filepath.Join(logDir, swap.link+".rotated")
		if swap.link != swap.rel {
			rotated = filepath.Join(rotated, filepath.Base(swap.rel))
		}
		mark := func() int { b, _ := os.ReadFile(rotated); return bytes.Count(b, []byte("\n")) }
		n := mark()
		deadline := time.Now().Add(10 * time.Second)
		for mark() < n+5 && time.Now().Before(deadline) && err == nil {
			if ch := treeChanges(before, treeState(t, canary)); len(ch) > 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 1}); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
	if ch := treeChanges(before, treeState(t, canary)); len(ch) > 0 {
		b, _ := os.ReadFile(target)
		t.Errorf("container logs written outside the pod's log directory: %v\n%s", ch, b)
	}
	t.Logf("hostile request cases so far: %d", hostileCount.Load())
}

// TestHostileSysctls asks for sysctls outside the pod's namespaces and in
// CRI-O's CVE-2022-0811 injection form: each is an invalid argument before
// anything runs, and the host's kernel.core_pattern does not change.
func TestHostileSysctls(t *testing.T) {
	ctx := context.Background()
	d := startCtrDaemonOn(t, hostileBridge, hostileSubnet, "")
	watch := []string{"/proc/sys/kernel/core_pattern", "/proc/sys/kernel/shm_rmid_forced", "/proc/sys/kernel/hostname", "/proc/sys/vm/overcommit_memory"}
	read := func() string {
		var b strings.Builder
		for _, f := range watch {
			v, _ := os.ReadFile(f)
			b.WriteString(f + "=" + string(v))
		}
		return b.String()
	}
	before := read()
	cases := []map[string]string{
		{"kernel.shm_rmid_forced": "1+kernel.core_pattern=|/x"},
		{"kernel.shm_rmid_forced=1+kernel.core_pattern": "|/x"},
		{"kernel.shm_rmid_forced": "1=kernel.core_pattern=|/x"},
		{"kernel.shm_rmid_forced": "1\nkernel.core_pattern=|/x"},
		{"kernel.core_pattern": "|/x"},
		{"kernel/core_pattern": "|/x"},
		{"kernel.shm_rmid_forced/../core_pattern": "|/x"},
		{"kernel.shm_rmid_forced/../../kernel/core_pattern": "|/x"},
		{"net/../kernel/core_pattern": "|/x"},
		{"kernel.shmmax/../core_pattern": "|/x"},
		{"net.ipv4.ip_forward\x00": "1"},
		{"vm.overcommit_memory": "1"},
		{"kernel.hostname": "pwned"},
		{"fs.mqueue.msg_max/../../../kernel/core_pattern": "|/x"},
		{"net.ipv4.conf.all.forwarding+kernel.core_pattern": "|/x"},
		{" kernel.shm_rmid_forced": "1"},
		{"kernel.shm_rmid_forced": strings.Repeat("1", 1<<16)},
	}
	for i, sysctls := range cases {
		cfg := d.podConfig(fmt.Sprintf("hostile-sysctl-%d", i), runtimeapi.NamespaceMode_POD, nil)
		cfg.Linux.Sysctls = sysctls
		resp, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		if err == nil {
			d.track(resp.GetPodSandboxId())
		}
		wantCode(t, fmt.Sprintf("sysctls %q", sysctls), err, codes.InvalidArgument)
		if after := read(); after != before {
			t.Fatalf("sysctls %q changed the host:\nbefore %s\nafter  %s", sysctls, before, after)
		}
	}
	// Host namespaces: namespaced sysctls are the host's then.
	cfg := d.podConfig("hostile-sysctl-hostnet", runtimeapi.NamespaceMode_POD, nil)
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	cfg.Linux.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
	_, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	wantCode(t, "net sysctl with the host network", err, codes.InvalidArgument)
	cfg = d.podConfig("hostile-sysctl-hostipc", runtimeapi.NamespaceMode_POD, nil)
	cfg.Linux.SecurityContext.NamespaceOptions.Ipc = runtimeapi.NamespaceMode_NODE
	cfg.Linux.Sysctls = map[string]string{"kernel.shm_rmid_forced": "1"}
	_, err = d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	wantCode(t, "ipc sysctl with the host IPC", err, codes.InvalidArgument)
	if after := read(); after != before {
		t.Fatalf("host sysctls changed:\nbefore %s\nafter  %s", before, after)
	}
	// A good one still works.
	cfg = d.podConfig("sysctl-ok", runtimeapi.NamespaceMode_POD, nil)
	cfg.Linux.Sysctls = map[string]string{"kernel.shm_rmid_forced": "1", "net.ipv4.ip_local_port_range": "32768 60999"}
	d.runPod(cfg)
	t.Logf("hostile request cases so far: %d", hostileCount.Load())
}

// daemonPID finds the daemon's process by its config path.
func daemonPID(t *testing.T, d *ctrDaemon) int {
	t.Helper()
	pids := processesWith(d.Config)
	if len(pids) != 1 {
		t.Fatalf("daemon processes naming %s: %v", d.Config, pids)
	}
	return pids[0]
}

func fdCount(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// procStatus reads a field (in kB) of /proc/<pid>/status.
func procStatus(pid int, field string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			var v int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, field+":")), "%d", &v)
			return v
		}
	}
	return -1
}

// cgroupProcs lists the processes in pid's pids cgroup.
func cgroupProcs(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if parts := strings.SplitN(l, ":", 3); len(parts) == 3 && parts[1] == "pids" {
			procs, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/pids", parts[2], "cgroup.procs"))
			if err != nil {
				t.Fatal(err)
			}
			return strings.Fields(string(procs))
		}
	}
	t.Fatalf("no pids cgroup for %d", pid)
	return nil
}

// kubeletClient is a CRI client with the kubelet's message size limit
// (16 MiB), which ExecSync responses must fit in.
func kubeletClient(t *testing.T, d *ctrDaemon) runtimeapi.RuntimeServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+d.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16*1024*1024), grpc.MaxCallSendMsgSize(16*1024*1024)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn)
}

// TestHostileExecSync runs commands with endless output through ExecSync
// (the output is capped, the truncation said, the response fits the
// kubelet's message limit, the daemon's memory stays bounded), then 300
// ExecSync calls at once against one container: every call returns, and
// the daemon keeps no process, no fd.
func TestHostileExecSync(t *testing.T) {
	ctx := context.Background()
	d := startCtrDaemonOn(t, hostileBridge, hostileSubnet, "")
	rt := kubeletClient(t, d)
	podCfg := d.podConfig("hostile-exec", runtimeapi.NamespaceMode_POD, nil)
	podID := d.runPod(podCfg)
	id := d.run(podID, podCfg, ctrConfig(podCfg, "target", "sleep", "infinity"))
	pid := daemonPID(t, d)

	for _, cmd := range [][]string{
		{"sh", "-c", "yes"},
		{"sh", "-c", "yes >&2"},
		{"sh", "-c", "yes & yes >&2"},
		{"sh", "-c", "head -c 100000000 /dev/zero"},
		{"sh", "-c", "yes | tr -d '\\n'"},
		{"sh", "-c", "yes & exit 0"},
	} {
		hostileCount.Add(1)
		// No timeout of its own: the output bound must end it. The
		// client's bound only turns a hang into a failure.
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		resp, err := rt.ExecSync(cctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd})
		cancel()
		if err != nil {
			t.Errorf("exec %q: %v", cmd, err)
			continue
		}
		if !bytes.Contains(resp.GetStderr(), []byte("truncated")) || len(resp.GetStdout())+len(resp.GetStderr()) > 16<<20 {
			t.Errorf("exec %q: %d+%d bytes of output, no truncation reported", cmd, len(resp.GetStdout()), len(resp.GetStderr()))
		}
		t.Logf("exec %q: %d bytes stdout, %d bytes stderr, exit %d", cmd, len(resp.GetStdout()), len(resp.GetStderr()), resp.GetExitCode())
	}
	if procs := cgroupProcs(t, d.ctrPID(id)); len(procs) != 1 {
		t.Errorf("container processes after the unbounded execs: %q", procs)
	}
	// A child left behind holds the output: the call's timeout ends it
	// (the child stays in the container, as with runc: only the exec'd
	// process is killed).
	for _, cmd := range [][]string{{"sh", "-c", "sleep 1000 & echo started"}, {"sh", "-c", "sleep 1000 >&2 & sleep 1000"}} {
		hostileCount.Add(1)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		_, err := rt.ExecSync(cctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 2})
		cancel()
		if st, _ := status.FromError(err); st.Code() != codes.DeadlineExceeded || !strings.Contains(st.Message(), "timed out after") {
			t.Errorf("exec %q with a child holding its output: %v, want the daemon's deadline exceeded", cmd, err)
		}
	}
	procsBefore := len(cgroupProcs(t, d.ctrPID(id)))
	if hwm := procStatus(pid, "VmHWM"); hwm > 512*1024 {
		t.Errorf("daemon peak RSS %d kB after unbounded exec output", hwm)
	}

	// Hundreds at once.
	fdsBefore := fdCount(pid)
	const n = 300
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			resp, err := d.Runtime.ExecSync(cctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", fmt.Sprintf("echo %d", i)}, Timeout: 240})
			switch {
			case err != nil:
				failed.Add(1)
				if st, _ := status.FromError(err); st.Code() == codes.Unknown || st.Code() == codes.Internal || st.Code() == codes.DeadlineExceeded {
					errs <- err
				}
			case strings.TrimSpace(string(resp.GetStdout())) != fmt.Sprint(i):
				errs <- fmt.Errorf("exec %d: stdout %q", i, resp.GetStdout())
			default:
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	hostileCount.Add(n)
	bad := 0
	for err := range errs {
		if bad++; bad <= 5 {
			t.Errorf("concurrent exec: %v", err)
		}
	}
	t.Logf("%d concurrent execs: %d ok, %d refused with a clear error", n, ok.Load(), failed.Load())
	// The container's cgroup holds its init alone again.
	st := d.ctrStatus(id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("container is %v after the execs", st.GetState())
	}
	if procs := cgroupProcs(t, d.ctrPID(id)); len(procs) != procsBefore {
		t.Errorf("container processes after the execs: %q, %d before", procs, procsBefore)
	}
	if after := fdCount(pid); after > fdsBefore {
		t.Errorf("daemon fds: %d before the execs, %d after", fdsBefore, after)
	}
	if _, err := d.Runtime.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
		t.Fatalf("daemon after the execs: %v", err)
	}
	t.Logf("hostile request cases so far: %d", hostileCount.Load())
}

// TestHostileMountSymlinkRace is runc's CVE-2021-30465 class: a container
// shares a volume with another that swaps a directory of it for a symlink
// to / (and to a host directory with a canary file) again and again, while
// containers mounting a second volume onto that directory are created: the
// mount must land inside the container or fail, never on the host, and the
// container must never see the host's files. (A symlink to / or /etc seen
// from inside a container resolves in the container's own root: only a file
// that exists on the host alone tells an escape.)
func TestHostileMountSymlinkRace(t *testing.T) {
	ctx := context.Background()
	d := startCtrDaemonOn(t, hostileBridge, hostileSubnet, "")
	shared, given, canaryDir := t.TempDir(), t.TempDir(), t.TempDir()
	canary := fmt.Sprintf("host-canary-%d", os.Getpid())
	if err := os.WriteFile(filepath.Join(canaryDir, canary), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(given, "given"), []byte("given\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(shared, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	podCfg := d.podConfig("hostile-race", runtimeapi.NamespaceMode_POD, nil)
	podID := d.runPod(podCfg)
	swapper := ctrConfig(podCfg, "swapper", "sh", "-c",
		"while true; do rm -rf /shared/sub; mkdir /shared/sub; rm -rf /shared/sub; ln -s / /shared/sub; rm -f /shared/sub; ln -s /etc /shared/sub; rm -f /shared/sub; done")
	swapper.Mounts = []*runtimeapi.Mount{{ContainerPath: "/shared", HostPath: shared}}
	d.run(podID, podCfg, swapper)

	// The host side swaps too: the volume's directory for a symlink to
	// the host's / and the canary dir (as a process of the host sharing the dir).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sub, tmp := filepath.Join(shared, "sub"), filepath.Join(shared, "sub.tmp")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			target := "/"
			if i%2 == 1 {
				target = canaryDir
			}
			_ = os.Symlink(target, tmp)
			_ = os.Rename(tmp, sub)
			_ = os.Remove(sub)
			_ = os.Mkdir(sub, 0o755)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	// Mounts of the host (outside the daemon's dirs) of the given volume,
	// or on / or /etc.
	escaped := func() []string {
		var out []string
		ms, _ := mountinfo.GetMounts(nil)
		for _, m := range ms {
			if strings.HasPrefix(m.Mountpoint, d.Dir+"/") {
				continue
			}
			if strings.HasPrefix(m.Root, given) || strings.HasPrefix(m.Root, shared) || m.Mountpoint == "/etc" || strings.HasPrefix(m.Mountpoint, "/etc/") {
				out = append(out, m.Mountpoint+" (of "+m.Root+")")
			}
		}
		return out
	}
	mountsBefore := len(escaped())
	const rounds = 40
	created, refused := 0, 0
	for i := range rounds {
		hostileCount.Add(1)
		cfg := ctrConfig(podCfg, fmt.Sprintf("victim%d", i), "sh", "-c",
			"if [ -e /shared/sub/given ]; then echo GIVEN; fi; if [ -e /shared/sub/"+canary+" ] || [ -e /shared/sub"+canaryDir+"/"+canary+" ]; then echo HOSTFILES; fi")
		cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/shared", HostPath: shared}, {ContainerPath: "/shared/sub", HostPath: given, Readonly: true}}
		resp, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
		if err != nil {
			refused++
			st, _ := status.FromError(err)
			t.Logf("create %d: %v: %s", i, st.Code(), st.Message())
			if st.Code() == codes.Unknown || st.Code() == codes.Internal {
				t.Errorf("create %d refused without a clear code: %v", i, err)
			}
			continue
		}
		id := resp.GetContainerId()
		if _, err := d.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
			refused++
			t.Logf("start %d: %v", i, err)
		} else {
			created++
			st := d.waitCtrState(id, runtimeapi.ContainerState_CONTAINER_EXITED)
			if out, _ := os.ReadFile(st.GetLogPath()); bytes.Contains(out, []byte("HOSTFILES")) {
				t.Errorf("container %d saw the host's files through the swapped mount:\n%s", i, out)
			}
		}
		if _, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Errorf("remove %d: %v", i, err)
		}
		if m := escaped(); len(m) != mountsBefore {
			t.Fatalf("round %d: a mount landed on the host: %v", i, m)
		}
	}
	t.Logf("%d rounds: %d containers ran, %d refused; hostile request cases so far: %d", rounds, created, refused, hostileCount.Load())
	if ents, _ := os.ReadDir(given); len(ents) != 1 {
		t.Errorf("the given volume changed: %v", ents)
	}
}
