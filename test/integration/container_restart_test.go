package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ctrInfo is what the tests read of a container's verbose status.
type ctrInfo struct {
	PID        int `json:"pid"`
	MonitorPID int `json:"monitorPid"`
}

func (d *ctrDaemon) info(id string) ctrInfo {
	d.t.Helper()
	resp, err := d.Runtime.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		d.t.Fatal(err)
	}
	var info ctrInfo
	if err := json.Unmarshal([]byte(resp.GetInfo()["info"]), &info); err != nil {
		d.t.Fatalf("verbose info: %v", err)
	}
	return info
}

// TestContainersOutliveDaemonKill9: pods and containers running, exiting
// and writing logs across a kill -9 of the daemon. The restarted daemon
// lists every pod and container with the right state, exit code and log;
// running containers were never interrupted (same init PID, still
// running), and a container writing a numbered line every 10 ms lost none.
// A monitor killed while the daemon was down makes its container exit
// with an error, and the container's processes go.
func TestContainersOutliveDaemonKill9(t *testing.T) {
	d := startCtrDaemon(t)
	ctx := context.Background()
	pod := d.podConfig("survivors", runtimeapi.NamespaceMode_CONTAINER, nil)
	podID := d.runPod(pod)
	upod := d.podConfig("userns-survivor", runtimeapi.NamespaceMode_POD, podUserNS())
	upodID := d.runPod(upod)

	writer := d.run(podID, pod, ctrConfig(pod, "writer", "sh", "-c",
		"i=0; trap 'echo end $i; exit 0' TERM; while true; do echo line $i; i=$((i+1)); sleep 0.01; done"))
	exitedBefore := d.run(podID, pod, ctrConfig(pod, "exited-before", "sh", "-c", "echo before; exit 3"))
	volume := []*runtimeapi.Mount{{ContainerPath: "/mnt/iv", Readonly: true, Image: &runtimeapi.ImageSpec{Image: ctrVolImage}}}
	signal := t.TempDir()
	cfg := ctrConfig(pod, "exits-during", "sh", "-c", "while [ ! -e /signal/go ]; do sleep 0.05; done; echo during; exit 4")
	cfg.Mounts = append([]*runtimeapi.Mount{{ContainerPath: "/signal", HostPath: signal}}, volume...)
	exitsDuring := d.run(podID, pod, cfg)
	created := d.create(podID, pod, ctrConfig(pod, "created", "sh", "-c", "echo late start"))
	lostMonitor := d.run(podID, pod, ctrConfig(pod, "lost-monitor", "sleep", "3600"))
	cfg = ctrConfig(upod, "userns-sleeper", "sleep", "3600")
	cfg.Mounts = volume
	userns := d.run(upodID, upod, cfg)
	d.waitCtrState(exitedBefore, runtimeapi.ContainerState_CONTAINER_EXITED)
	waitLogLine(t, d.ctrStatus(writer).GetLogPath(), "line 20")
	writerPID, usernsPID := d.info(writer).PID, d.info(userns).PID
	lost := d.info(lostMonitor)
	writerLog := d.ctrStatus(writer).GetLogPath()

	d.Kill9()
	atKill := len(logLines(t, writerLog, "stdout"))
	// While the daemon is down: the writer keeps writing, one container
	// loses its monitor, one is told to exit.
	if err := syscall.Kill(lost.MonitorPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill monitor %d: %v", lost.MonitorPID, err)
	}
	if err := os.WriteFile(filepath.Join(signal, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	duringOutage := len(logLines(t, writerLog, "stdout")) - atKill
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if duringOutage < 20 {
		t.Errorf("only %d lines logged during the 3 s outage", duringOutage)
	}

	pods, err := d.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var podIDs []string
	for _, p := range pods.GetItems() {
		if p.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY {
			t.Errorf("pod %s is %v after the restart", p.GetMetadata().GetName(), p.GetState())
		}
		podIDs = append(podIDs, p.GetId())
	}
	if slices.Sort(podIDs); !slices.Equal(podIDs, sortedIDs(podID, upodID)) {
		t.Errorf("pods after the restart %v, want %v", podIDs, sortedIDs(podID, upodID))
	}
	list, err := d.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]runtimeapi.ContainerState{}
	for _, c := range list.GetContainers() {
		states[c.GetId()] = c.GetState()
	}
	for id, want := range map[string]runtimeapi.ContainerState{
		writer: runtimeapi.ContainerState_CONTAINER_RUNNING, userns: runtimeapi.ContainerState_CONTAINER_RUNNING,
		exitedBefore: runtimeapi.ContainerState_CONTAINER_EXITED, exitsDuring: runtimeapi.ContainerState_CONTAINER_EXITED,
		created: runtimeapi.ContainerState_CONTAINER_CREATED, lostMonitor: runtimeapi.ContainerState_CONTAINER_EXITED,
	} {
		if states[id] != want {
			t.Errorf("container %s is %v after the restart, want %v", id[:12], states[id], want)
		}
	}
	if len(states) != 6 {
		t.Errorf("%d containers listed, want 6", len(states))
	}

	// The running ones were never interrupted.
	if info := d.info(writer); info.PID != writerPID || !alivePID(writerPID) {
		t.Errorf("writer init %d (was %d), alive %v", info.PID, writerPID, alivePID(writerPID))
	}
	if info := d.info(userns); info.PID != usernsPID || !alivePID(usernsPID) {
		t.Errorf("userns container init %d (was %d), alive %v", info.PID, usernsPID, alivePID(usernsPID))
	}
	if resp, err := d.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: userns, Cmd: []string{"ls", "/mnt/iv/bin/sh"}, Timeout: 10}); err != nil || resp.GetExitCode() != 0 {
		t.Errorf("image volume of the running userns container after the restart: %v %s", err, resp.GetStderr())
	}
	if ms, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Join(d.State, "containers", exitsDuring))); len(ms) > 0 {
		t.Errorf("%d mounts (rootfs, image volume) of a container that exited during the outage left after recovery", len(ms))
	}
	// Exits, from before and during the outage, with their logs.
	for _, tc := range []struct {
		id   string
		code int32
		line string
	}{{exitedBefore, 3, "before"}, {exitsDuring, 4, "during"}} {
		st := d.ctrStatus(tc.id)
		if st.GetExitCode() != tc.code || st.GetReason() != "Error" || st.GetFinishedAt() < st.GetStartedAt() {
			t.Errorf("%s: exit %d reason %q", st.GetMetadata().GetName(), st.GetExitCode(), st.GetReason())
		}
		if lines := logLines(t, st.GetLogPath(), "stdout"); !slices.Equal(lines, []string{tc.line}) {
			t.Errorf("%s: log %q", st.GetMetadata().GetName(), lines)
		}
	}
	// The monitor lost while the daemon was down: an error exit, and the
	// container's process is gone.
	st := d.ctrStatus(lostMonitor)
	if st.GetExitCode() != 255 || st.GetReason() != "Error" || !strings.Contains(st.GetMessage(), "monitor") {
		t.Errorf("lost monitor: exit %d reason %q message %q", st.GetExitCode(), st.GetReason(), st.GetMessage())
	}
	waitGone(t, lost.PID)
	// The created one still starts.
	d.start(created)
	if st := d.waitCtrState(created, runtimeapi.ContainerState_CONTAINER_EXITED); st.GetExitCode() != 0 {
		t.Errorf("late start: exit %d", st.GetExitCode())
	}

	// No line lost: every number, in order.
	if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: writer, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	lines := logLines(t, d.ctrStatus(writer).GetLogPath(), "stdout")
	var last int
	for i, l := range lines {
		if strings.HasPrefix(l, "end ") {
			last, _ = strconv.Atoi(strings.TrimPrefix(l, "end "))
			if i != len(lines)-1 {
				t.Errorf("lines after the end: %q", lines[i+1:])
			}
			break
		}
		if l != fmt.Sprintf("line %d", i) {
			t.Fatalf("log line %d is %q, want %q", i, l, fmt.Sprintf("line %d", i))
		}
	}
	if last != len(lines)-1 {
		t.Errorf("the writer wrote %d lines, the log holds %d", last, len(lines)-1)
	}
	t.Logf("%d numbered lines, all in order; %d logged while the daemon was down", last, duringOutage)
}

// TestMonitorKill9: a container whose monitor is killed is reported exited
// with an error; its process goes and nothing leaks once it is removed.
func TestMonitorKill9(t *testing.T) {
	d := startCtrDaemon(t)
	ctx := context.Background()
	pod := d.podConfig("monitor", runtimeapi.NamespaceMode_CONTAINER, nil)
	podID := d.runPod(pod)
	id := d.run(podID, pod, ctrConfig(pod, "orphan", "sleep", "3600"))
	info := d.info(id)
	if err := syscall.Kill(info.MonitorPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := d.waitCtrState(id, runtimeapi.ContainerState_CONTAINER_EXITED)
	if st.GetExitCode() != 255 || st.GetReason() != "Error" || !strings.Contains(st.GetMessage(), "monitor") {
		t.Errorf("exit %d reason %q message %q", st.GetExitCode(), st.GetReason(), st.GetMessage())
	}
	waitGone(t, info.PID)
	if _, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	d.stopRemovePod(podID)
	d.assertNoContainerLeaks()
}

// waitGone waits until pid has exited.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alivePID(pid) {
		if time.Now().After(deadline) {
			t.Errorf("process %d still runs", pid)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}
