package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cri-shim/cri-shim/pkg/config"
)

// eventLog collects the events a manager reports.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) kinds(id string) []EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []EventKind
	for _, e := range l.events {
		if e.ID == id {
			out = append(out, e.Kind)
		}
	}
	return out
}

func (e *env) managerWithEvents(log *eventLog) *Manager {
	e.t.Helper()
	m, err := New(Options{
		Store: e.store, Config: func() *config.Config { return e.cfg }, Network: e.net,
		PodInitExe: "/proc/self/exe", PodInitEnv: []string{podInitEnv}, Events: log.add,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func sameKinds(a, b []EventKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPodEventsOnePerChange(t *testing.T) {
	e := newEnv(t, newFakeNetwork())
	log := &eventLog{}
	e.m = e.managerWithEvents(log)
	ctx := context.Background()
	sb := e.run(podConfig())
	if err := e.m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	want := []EventKind{EventCreated, EventStarted, EventStopped, EventDeleted}
	if got := log.kinds(sb.ID); !sameKinds(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	e.assertNothingLeft()
}

func TestPodEventStopWhenPodInitDies(t *testing.T) {
	e := newEnv(t, newFakeNetwork())
	log := &eventLog{}
	e.m = e.managerWithEvents(log)
	cfg := podConfig()
	cfg.Namespaces.PID = NamespacePod
	sb := e.run(cfg)
	if sb.Resources.PodInit == nil {
		t.Fatal("pod has no PID 1")
	}
	if err := kill(sb.Resources.PodInit); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(log.kinds(sb.ID)) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	want := []EventKind{EventCreated, EventStarted, EventStopped, EventDeleted}
	if got := log.kinds(sb.ID); !sameKinds(got, want) {
		t.Fatalf("events %v, want %v (one stop for the death and the later stop)", got, want)
	}
	e.assertNothingLeft()
}

func readCgroupFile(t *testing.T, sb Sandbox, ctrl, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sb.Resources.Cgroup.Dirs[ctrl], file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestUpdateResourcesOfRuntimeMadeCgroup(t *testing.T) {
	e := newEnv(t, newFakeNetwork())
	ctx := context.Background()
	cfg := podConfig()
	cfg.Resources = &PodResources{Resources: &LinuxResources{MemoryLimit: 32 << 20}}
	sb := e.run(cfg)
	defer func() {
		if err := e.m.Remove(ctx, sb.ID); err != nil {
			t.Error(err)
		}
		e.assertNothingLeft()
	}()
	if got := readCgroupFile(t, sb, "memory", "memory.limit_in_bytes"); got != strconv.Itoa(32<<20) {
		t.Fatalf("memory limit at creation %s, want %d", got, 32<<20)
	}
	upd := &PodResources{
		Overhead:  &LinuxResources{MemoryLimit: 16 << 20, CPUQuota: 10000, CPUPeriod: 100000, CPUShares: 10},
		Resources: &LinuxResources{MemoryLimit: 64 << 20, CPUQuota: 50000, CPUPeriod: 100000, CPUShares: 512},
	}
	if err := e.m.UpdateResources(ctx, sb.ID, upd); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(80 << 20)},
		{"cpu", "cpu.cfs_quota_us", "60000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.shares", "522"},
	} {
		if got := readCgroupFile(t, sb, c.ctrl, c.file); got != c.want {
			t.Errorf("%s = %s, want %s", c.file, got, c.want)
		}
	}
	got, _ := e.m.Get(ctx, sb.ID)
	if got.Config.Resources == nil || got.Config.Resources.Resources.MemoryLimit != 64<<20 {
		t.Fatalf("resources not recorded: %+v", got.Config.Resources)
	}
	// Lifting the limits: the containers no longer set any.
	if err := e.m.UpdateResources(ctx, sb.ID, &PodResources{Resources: &LinuxResources{CPUShares: 2}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := strconv.ParseUint(readCgroupFile(t, sb, "memory", "memory.limit_in_bytes"), 10, 64); v < 1<<62 {
		t.Errorf("memory limit %d after lifting it", v)
	}
	if got := readCgroupFile(t, sb, "cpu", "cpu.cfs_quota_us"); got != "-1" {
		t.Errorf("cpu quota %s after lifting it", got)
	}
	// A restarted manager reads the recorded resources back.
	e.m = e.manager()
	if err := e.m.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = e.m.Get(ctx, sb.ID)
	if got.Config.Resources == nil || got.Config.Resources.Resources.CPUShares != 2 {
		t.Fatalf("resources after restart: %+v", got.Config.Resources)
	}
}

func TestUpdateResourcesLeavesKubeletCgroup(t *testing.T) {
	e := newEnv(t, newFakeNetwork())
	ctx := context.Background()
	// A pod cgroup someone else made: the pod records, never writes.
	parent := e.cfg.CgroupParent + "-kubelet"
	dirs := []string{}
	for _, ctrl := range []string{"memory", "cpu"} {
		d := filepath.Join("/sys/fs/cgroup", ctrl, parent)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	cfg := podConfig()
	cfg.CgroupParent = parent
	sb := e.run(cfg)
	defer func() {
		if err := e.m.Remove(ctx, sb.ID); err != nil {
			t.Error(err)
		}
		for _, d := range sb.Resources.Cgroup.Dirs {
			_ = os.Remove(d)
		}
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}()
	before := readCgroupFile(t, sb, "memory", "memory.limit_in_bytes")
	if err := e.m.UpdateResources(ctx, sb.ID, &PodResources{Resources: &LinuxResources{MemoryLimit: 64 << 20}}); err != nil {
		t.Fatal(err)
	}
	if after := readCgroupFile(t, sb, "memory", "memory.limit_in_bytes"); after != before {
		t.Errorf("kubelet's pod cgroup changed: %s -> %s", before, after)
	}
	if got, _ := e.m.Get(ctx, sb.ID); got.Config.Resources == nil {
		t.Error("resources not recorded")
	}
}

func TestPodResourcesSum(t *testing.T) {
	p := &PodResources{
		Overhead:  &LinuxResources{CPUQuota: 5000, CPUPeriod: 50000, MemoryLimit: 1 << 20, HugepageLimits: map[string]uint64{"2MB": 2 << 20}},
		Resources: &LinuxResources{CPUQuota: 20000, CPUPeriod: 100000, MemoryLimit: 8 << 20, CpusetCPUs: "0", HugepageLimits: map[string]uint64{"2MB": 4 << 20}},
	}
	r := p.cgroup()
	if r.CpuPeriod != 100000 || r.CpuQuota != 30000 {
		t.Errorf("cpu %d/%d, want 30000/100000 (overhead scaled to the period)", r.CpuQuota, r.CpuPeriod)
	}
	if r.Memory != 9<<20 || r.CpusetCpus != "0" || !r.SkipDevices {
		t.Errorf("memory %d cpuset %q skip devices %v", r.Memory, r.CpusetCpus, r.SkipDevices)
	}
	if len(r.HugetlbLimit) != 1 || r.HugetlbLimit[0].Limit != 6<<20 {
		t.Errorf("hugetlb %+v", r.HugetlbLimit)
	}
	// No container limit: unlimited, whatever the overhead.
	r = (&PodResources{Overhead: &LinuxResources{MemoryLimit: 1 << 20, CPUQuota: 1000}}).cgroup()
	if r.Memory != -1 || r.CpuQuota != -1 {
		t.Errorf("overhead alone set limits: memory %d quota %d", r.Memory, r.CpuQuota)
	}
}
