package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestContainerLifecycleAndStatus: create, start, stop and remove through
// the CRI, with every status field the kubelet reads, and list filters.
func TestContainerLifecycleAndStatus(t *testing.T) {
	d := startCtrDaemon(t)
	ctx := context.Background()
	pod := d.podConfig("life", runtimeapi.NamespaceMode_CONTAINER, nil)
	podID := d.runPod(pod)
	data := t.TempDir()

	uid := &runtimeapi.Int64Value{Value: 1234}
	cfg := ctrConfig(pod, "worker", "sh", "-c", "echo uid=$(id -u); echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done")
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: data, Readonly: true}}
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{CpuShares: 512, MemoryLimitInBytes: 64 << 20}
	cfg.Linux.SecurityContext.RunAsUser = uid
	cfg.Labels["tier"] = "back"
	before := time.Now().UnixNano()
	id := d.create(podID, pod, cfg)

	st := d.ctrStatus(id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_CREATED || st.GetCreatedAt() < before || st.GetStartedAt() != 0 {
		t.Fatalf("created: %v", st)
	}
	if st.GetImage().GetImage() != ctrImage || !strings.HasPrefix(st.GetImageRef(), "sha256:") || st.GetImageId() != st.GetImageRef() {
		t.Errorf("image fields: %q %q %q", st.GetImage().GetImage(), st.GetImageRef(), st.GetImageId())
	}
	if want := filepath.Join(pod.GetLogDirectory(), "worker.log"); st.GetLogPath() != want {
		t.Errorf("log path %q, want %q", st.GetLogPath(), want)
	}
	if len(st.GetMounts()) != 1 || st.GetMounts()[0].GetHostPath() != data || !st.GetMounts()[0].GetReadonly() {
		t.Errorf("mounts %v", st.GetMounts())
	}
	if r := st.GetResources().GetLinux(); r.GetCpuShares() != 512 || r.GetMemoryLimitInBytes() != 64<<20 {
		t.Errorf("resources %v", r)
	}
	if u := st.GetUser().GetLinux(); u.GetUid() != 1234 || u.GetGid() != 0 {
		t.Errorf("user %v", u)
	}
	if st.GetLabels()["tier"] != "back" || st.GetMetadata().GetName() != "worker" {
		t.Errorf("labels/metadata %v %v", st.GetLabels(), st.GetMetadata())
	}

	d.start(id)
	waitLogLine(t, st.GetLogPath(), "started")
	st = d.ctrStatus(id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING || st.GetStartedAt() < st.GetCreatedAt() {
		t.Fatalf("running: %v", st)
	}
	if lines := logLines(t, st.GetLogPath(), "stdout"); !slices.Equal(lines, []string{"uid=1234", "started"}) {
		t.Errorf("log %q, want the uid then started", lines)
	}

	// Exits: 0 is Completed, anything else Error.
	done := d.run(podID, pod, ctrConfig(pod, "done", "true"))
	fail := d.run(podID, pod, ctrConfig(pod, "fail", "sh", "-c", "echo bad >&2; exit 7"))
	if st := d.waitCtrState(done, runtimeapi.ContainerState_CONTAINER_EXITED); st.GetExitCode() != 0 || st.GetReason() != "Completed" || st.GetFinishedAt() < st.GetStartedAt() {
		t.Errorf("completed: %v", st)
	}
	st = d.waitCtrState(fail, runtimeapi.ContainerState_CONTAINER_EXITED)
	if st.GetExitCode() != 7 || st.GetReason() != "Error" || st.GetFinishedAt() == 0 {
		t.Errorf("failed: %v", st)
	}
	if lines := logLines(t, st.GetLogPath(), "stderr"); !slices.Equal(lines, []string{"bad"}) {
		t.Errorf("stderr log %q", lines)
	}

	// List filters: id prefix, pod, state, labels.
	list := func(f *runtimeapi.ContainerFilter) []string {
		t.Helper()
		resp, err := d.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range resp.GetContainers() {
			ids = append(ids, c.GetId())
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	for name, tc := range map[string]struct {
		f    *runtimeapi.ContainerFilter
		want []string
	}{
		"all":     {nil, sorted(id, done, fail)},
		"id":      {&runtimeapi.ContainerFilter{Id: id[:12]}, []string{id}},
		"pod":     {&runtimeapi.ContainerFilter{PodSandboxId: podID}, sorted(id, done, fail)},
		"no pod":  {&runtimeapi.ContainerFilter{PodSandboxId: "0000000000"}, nil},
		"running": {&runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}, []string{id}},
		"exited":  {&runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_EXITED}}, sorted(done, fail)},
		"label":   {&runtimeapi.ContainerFilter{LabelSelector: map[string]string{"tier": "back"}}, []string{id}},
		"labels":  {&runtimeapi.ContainerFilter{LabelSelector: map[string]string{"name": "fail", "tier": "back"}}, nil},
	} {
		if got := list(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("list %s: %v, want %v", name, got, tc.want)
		}
	}

	// Stop: SIGTERM ends it within the timeout; a second stop is a no-op.
	stopStart := time.Now()
	if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stopStart); took > 5*time.Second {
		t.Errorf("graceful stop took %v", took)
	}
	st = d.ctrStatus(id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || st.GetExitCode() != 0 || st.GetReason() != "Completed" {
		t.Errorf("stopped: %v", st)
	}
	if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if _, err := d.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("start of an exited container: %v", err)
	}
	for _, c := range []string{id, done, fail} {
		if _, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id}); status.Code(err) != codes.NotFound {
		t.Errorf("status after remove: %v", err)
	}
	if _, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Errorf("second remove: %v", err)
	}
	if _, err := os.Stat(st.GetLogPath()); err != nil {
		t.Errorf("the log went with the container (the kubelet owns it): %v", err)
	}
}

// TestContainerOOMKilled: a container over its memory limit is reported
// OOMKilled.
func TestContainerOOMKilled(t *testing.T) {
	d := startCtrDaemon(t)
	pod := d.podConfig("oom", runtimeapi.NamespaceMode_CONTAINER, nil)
	podID := d.runPod(pod)
	cfg := ctrConfig(pod, "hog", "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1")
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 16 << 20, MemorySwapLimitInBytes: 16 << 20}
	id := d.run(podID, pod, cfg)
	st := d.waitCtrState(id, runtimeapi.ContainerState_CONTAINER_EXITED)
	if st.GetReason() != "OOMKilled" || st.GetExitCode() != 137 {
		t.Errorf("oom: reason %q exit %d", st.GetReason(), st.GetExitCode())
	}
}

// TestUpdateContainerResources: new limits land in the cgroup files and
// the status; an exited container refuses them.
func TestUpdateContainerResources(t *testing.T) {
	d := startCtrDaemon(t)
	ctx := context.Background()
	pod := d.podConfig("update", runtimeapi.NamespaceMode_CONTAINER, nil)
	podID := d.runPod(pod)
	cfg := ctrConfig(pod, "limited", "sleep", "3600")
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{CpuShares: 256, MemoryLimitInBytes: 100 << 20}
	id := d.run(podID, pod, cfg)
	cg := ctrCgroup(t, d.ctrPID(id), "memory")
	read := func(ctrl, file string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, cg, file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if read("memory", "memory.limit_in_bytes") != strconv.Itoa(100<<20) || read("cpu", "cpu.shares") != "256" {
		t.Fatalf("initial limits: memory %s shares %s", read("memory", "memory.limit_in_bytes"), read("cpu", "cpu.shares"))
	}
	upd := &runtimeapi.LinuxContainerResources{CpuShares: 1024, CpuPeriod: 100000, CpuQuota: 50000, MemoryLimitInBytes: 200 << 20}
	if _, err := d.Runtime.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: upd}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory/memory.limit_in_bytes": strconv.Itoa(200 << 20),
		"cpu/cpu.shares":               "1024",
		"cpu/cpu.cfs_quota_us":         "50000",
		"cpu/cpu.cfs_period_us":        "100000",
	} {
		ctrl, f, _ := strings.Cut(file, "/")
		if got := read(ctrl, f); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
	if r := d.ctrStatus(id).GetResources().GetLinux(); r.GetCpuShares() != 1024 || r.GetCpuQuota() != 50000 || r.GetMemoryLimitInBytes() != 200<<20 {
		t.Errorf("status resources %v", r)
	}
	if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: upd}); err == nil {
		t.Error("update of an exited container succeeded")
	}
}

// ctrCgroup is the cgroup (path under the controller's mount) of pid.
func ctrCgroup(t *testing.T, pid int, ctrl string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), ctrl) {
			return parts[2]
		}
	}
	t.Fatalf("no %s cgroup in %s", ctrl, b)
	return ""
}

// TestReopenContainerLog: a running container's monitor reopens its log
// after the kubelet rotated it; a stopped container refuses.
func TestReopenContainerLog(t *testing.T) {
	d := startCtrDaemon(t)
	ctx := context.Background()
	pod := d.podConfig("rotate", runtimeapi.NamespaceMode_CONTAINER, nil)
	podID := d.runPod(pod)
	id := d.run(podID, pod, ctrConfig(pod, "ticker", "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"))
	logPath := d.ctrStatus(id).GetLogPath()
	waitLogLine(t, logPath, "tick 3")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	waitLogLine(t, logPath, "tick")
	old := logLines(t, logPath+".1", "stdout")
	fresh := logLines(t, logPath, "stdout")
	last, _ := strconv.Atoi(strings.TrimPrefix(old[len(old)-1], "tick "))
	first, _ := strconv.Atoi(strings.TrimPrefix(fresh[0], "tick "))
	if first != last+1 {
		t.Errorf("rotation lost or repeated lines: old ends at %d, new starts at %d", last, first)
	}
	if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("reopen on a stopped container: %v", err)
	}
	if _, err := d.Runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: "feedfacefeed"}); status.Code(err) != codes.NotFound {
		t.Errorf("reopen on an unknown container: %v", err)
	}
}
