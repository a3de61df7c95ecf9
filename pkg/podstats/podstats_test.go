package podstats

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
)

func TestRateFromDeltas(t *testing.T) {
	r := NewReader()
	t0 := time.Unix(1000, 0)
	if got := r.rate("k", t0, 1e9); got != 0 {
		t.Fatalf("first reading rate %d, want 0", got)
	}
	if got := r.rate("k", t0.Add(2*time.Second), 2e9); got != 5e8 {
		t.Fatalf("rate %d, want half a core (5e8)", got)
	}
	if got := r.rate("k", t0.Add(3*time.Second), 1e9); got != 0 {
		t.Fatalf("counter reset gave rate %d", got)
	}
	r.Forget("k")
	if got := r.rate("k", t0.Add(4*time.Second), 9e9); got != 0 {
		t.Fatalf("forgotten key gave rate %d", got)
	}
	// Keys unread for long are dropped.
	r.rate("old", t0, 1)
	r.rate("k", t0.Add(sampleTTL+2*time.Minute), 1)
	r.mu.Lock()
	_, kept := r.last["old"]
	r.mu.Unlock()
	if kept {
		t.Error("stale reading kept")
	}
}

func TestFillV1Stats(t *testing.T) {
	st := cgroups.NewStats()
	st.CpuStats.CpuUsage = cgroups.CpuUsage{TotalUsage: 10, UsageInUsermode: 6, UsageInKernelmode: 4}
	st.CpuStats.ThrottlingData = cgroups.ThrottlingData{Periods: 7, ThrottledPeriods: 2, ThrottledTime: 99}
	st.MemoryStats.Usage = cgroups.MemoryData{Usage: 1000, MaxUsage: 1500, Failcnt: 3, Limit: 4000}
	st.MemoryStats.SwapUsage = cgroups.MemoryData{Usage: 1100}
	st.MemoryStats.Stats = map[string]uint64{
		"total_inactive_file": 200, "total_active_file": 50, "total_rss": 600, "total_cache": 250,
		"total_mapped_file": 30, "total_pgfault": 11, "total_pgmajfault": 1,
		"inactive_file": 999, // the cgroup's own share: the hierarchical total wins
	}
	st.PidsStats = cgroups.PidsStats{Current: 4, Limit: 100}
	st.BlkioStats.IoServiceBytesRecursive = []cgroups.BlkioStatEntry{{Major: 1 << 20, Minor: 7, Op: "Read", Value: 4096}}
	st.BlkioStats.IoServicedRecursive = []cgroups.BlkioStatEntry{{Major: 1 << 20, Minor: 7, Op: "Read", Value: 2}}
	s := &Sample{}
	fill(s, st)
	m := s.Memory
	if m.WorkingSet != 800 || m.Available != 3200 || m.RSS != 600 || m.Cache != 250 || m.MappedFile != 30 ||
		m.ActiveFile != 50 || m.InactiveFile != 200 || m.Swap != 100 || m.PageFaults != 11 || m.MajorPageFaults != 1 ||
		m.MaxUsage != 1500 || m.Failcnt != 3 {
		t.Errorf("memory %+v", m)
	}
	if c := s.CPU; c.UsageNanos != 10 || c.UserNanos != 6 || c.SystemNanos != 4 || c.Periods != 7 || c.ThrottledPeriods != 2 || c.ThrottledNanos != 99 {
		t.Errorf("cpu %+v", c)
	}
	if s.Pids != (Pids{4, 100}) {
		t.Errorf("pids %+v", s.Pids)
	}
	want := BlkioEntry{Device: fmt.Sprintf("%d:7", 1<<20), Major: 1 << 20, Minor: 7, Op: "Read", Bytes: 4096, Ops: 2}
	if len(s.Blkio) != 1 || s.Blkio[0] != want {
		t.Errorf("blkio %+v, want %+v", s.Blkio, want)
	}
	// No limit: nothing is "available".
	st.MemoryStats.Usage.Limit = 9223372036854771712
	s = &Sample{}
	fill(s, st)
	if s.Memory.Available != 0 {
		t.Errorf("available %d without a limit", s.Memory.Available)
	}
}

func TestGoneCgroupReadsAsZeros(t *testing.T) {
	s, err := NewReader().Cgroup("gone", map[string]string{"memory": "/sys/fs/cgroup/memory/crishim-no-such-cgroup"}, true)
	if err != nil || s.Memory.Usage != 0 || s.Processes == nil || s.Processes.Count != 0 {
		t.Fatalf("sample %+v, %v", s, err)
	}
}

// TestRealCgroup reads a cgroup the test makes, with a process in it.
func TestRealCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if cgroups.IsCgroup2UnifiedMode() {
		t.Skip("written for this host's cgroup v1 layout")
	}
	path := fmt.Sprintf("/crishim-podstats-test-%d", os.Getpid())
	dirs, err := Dirs(path)
	if err != nil {
		t.Fatal(err)
	}
	made := []string{}
	for _, ctrl := range []string{"memory", "cpu", "cpuacct", "pids"} {
		if err := os.Mkdir(dirs[ctrl], 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		made = append(made, dirs[ctrl])
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		for _, d := range made {
			if err := os.Remove(d); err != nil {
				t.Errorf("remove %s: %v", d, err)
			}
		}
	})
	for _, d := range made {
		if err := cgroups.WriteCgroupProc(d, cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dirs["cpu"], "cpu.cfs_quota_us"), []byte("20000"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirs["memory"], "memory.limit_in_bytes"), []byte("67108864"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := NewReader()
	s, err := r.Cgroup("real", dirs, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.Processes.Count != 1 || s.Processes.Threads != 1 || s.Processes.FileDescriptors == 0 || s.Pids.Current != 1 {
		t.Errorf("processes %+v pids %+v", s.Processes, s.Pids)
	}
	// (cgroup v1 leaves the memory of a moved process charged where it was.)
	if s.Memory.Available != 64<<20-s.Memory.WorkingSet {
		t.Errorf("memory %+v", s.Memory)
	}
	if s.Limits.CPUQuota != 20000 || s.Limits.CPUPeriod != 100000 || s.Limits.CPUShares != 1024 || s.Limits.Memory != 64<<20 {
		t.Errorf("limits %+v", s.Limits)
	}
	s, err = r.Cgroup("real", dirs, false)
	if err != nil || s.Processes.Count != 1 || s.Processes.FileDescriptors != 0 {
		t.Fatalf("count-only reading %+v, %v", s.Processes, err)
	}
}

func TestFilesystemOf(t *testing.T) {
	fs, err := FilesystemOf(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fs.Capacity == 0 || fs.Capacity < fs.Available || fs.Device == "" {
		t.Fatalf("%+v", fs)
	}
}
