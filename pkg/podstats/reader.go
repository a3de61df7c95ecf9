package podstats

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
)

// sampleTTL is how long an unread key's last CPU reading is kept.
const sampleTTL = 10 * time.Minute

// Reader reads cgroups and remembers each key's last CPU reading for
// rates. It is safe for concurrent use; its lock is never held while
// files are read.
type Reader struct {
	mu     sync.Mutex
	last   map[string]cpuReading
	pruned time.Time
}

type cpuReading struct {
	at    time.Time
	usage uint64
}

// NewReader returns a Reader with no readings.
func NewReader() *Reader {
	return &Reader{last: map[string]cpuReading{}}
}

// Dirs returns the directories, by controller, of the cgroup at the
// cgroupfs path cgPath ("/cri-shim/ID"), as libcontainer lays them out on
// this host ("" is the unified hierarchy). Nothing is created.
func Dirs(cgPath string) (map[string]string, error) {
	m, err := manager.New(&cgroups.Cgroup{Path: cgPath, Resources: &cgroups.Resources{}})
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", cgPath, err)
	}
	return m.GetPaths(), nil
}

// Cgroup reads the cgroup whose directories are dirs (by controller, as
// Dirs returns them) and computes its CPU rate against the last reading of
// key. It counts the processes in it and, with procs, their threads,
// descriptors and sockets. A cgroup that is gone reads as zeros.
func (r *Reader) Cgroup(key string, dirs map[string]string, procs bool) (*Sample, error) {
	s := &Sample{At: time.Now()}
	dirs = existing(dirs)
	if len(dirs) == 0 {
		s.Processes = &Processes{}
		return s, nil
	}
	m, err := manager.NewWithPaths(&cgroups.Cgroup{Resources: &cgroups.Resources{}}, dirs)
	if err != nil {
		return nil, fmt.Errorf("cgroup of %s: %w", key, err)
	}
	st, err := m.GetStats()
	if err != nil {
		return nil, fmt.Errorf("cgroup stats of %s: %w", key, err)
	}
	fill(s, st)
	if n, err := m.OOMKillCount(); err == nil {
		s.Memory.OOMKills = n
	}
	s.Limits = readLimits(dirs, st)
	s.Processes = countProcesses(procsDir(dirs), procs)
	s.CPU.NanoCores = r.rate(key, s.At, s.CPU.UsageNanos)
	return s, nil
}

// existing keeps the directories that exist: a cgroup removed meanwhile
// reads as nothing rather than an error, and on cgroup v2 an empty map
// never falls back to the manager's default path.
func existing(dirs map[string]string) map[string]string {
	out := make(map[string]string, len(dirs))
	for k, d := range dirs {
		if d == "" {
			continue
		}
		if _, err := os.Stat(d); err == nil {
			out[k] = d
		}
	}
	if !cgroups.IsCgroup2UnifiedMode() {
		delete(out, "") // the hybrid unified mount holds no v1 stats
	}
	return out
}

// rate returns the CPU rate of key since its last reading and records this one.
func (r *Reader) rate(key string, at time.Time, usage uint64) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at.Sub(r.pruned) > time.Minute {
		for k, v := range r.last {
			if at.Sub(v.at) > sampleTTL {
				delete(r.last, k)
			}
		}
		r.pruned = at
	}
	prev, ok := r.last[key]
	r.last[key] = cpuReading{at: at, usage: usage}
	if !ok || !at.After(prev.at) || usage < prev.usage {
		return 0
	}
	return uint64(float64(usage-prev.usage) / at.Sub(prev.at).Seconds())
}

// Forget drops key's last reading (its object is gone).
func (r *Reader) Forget(key string) {
	r.mu.Lock()
	delete(r.last, key)
	r.mu.Unlock()
}

// fill copies what the CRI and the metrics need out of libcontainer's stats.
func fill(s *Sample, st *cgroups.Stats) {
	cpu := st.CpuStats
	s.CPU = CPU{
		UsageNanos:       cpu.CpuUsage.TotalUsage,
		UserNanos:        cpu.CpuUsage.UsageInUsermode,
		SystemNanos:      cpu.CpuUsage.UsageInKernelmode,
		Periods:          cpu.ThrottlingData.Periods,
		ThrottledPeriods: cpu.ThrottlingData.ThrottledPeriods,
		ThrottledNanos:   cpu.ThrottlingData.ThrottledTime,
	}
	mem := st.MemoryStats
	stat := mem.Stats
	m := &s.Memory
	m.Usage, m.MaxUsage, m.Failcnt = mem.Usage.Usage, mem.Usage.MaxUsage, mem.Usage.Failcnt
	m.InactiveFile = firstOf(stat, "total_inactive_file", "inactive_file")
	m.ActiveFile = firstOf(stat, "total_active_file", "active_file")
	if m.Usage > m.InactiveFile {
		m.WorkingSet = m.Usage - m.InactiveFile
	}
	m.RSS = firstOf(stat, "total_rss", "anon")
	m.Cache = firstOf(stat, "total_cache", "file")
	m.MappedFile = firstOf(stat, "total_mapped_file", "file_mapped")
	m.Kernel = mem.KernelUsage.Usage
	if m.Kernel == 0 {
		m.Kernel = stat["kernel"]
	}
	m.PageFaults = firstOf(stat, "total_pgfault", "pgfault")
	m.MajorPageFaults = firstOf(stat, "total_pgmajfault", "pgmajfault")
	if mem.SwapOnlyUsage.Usage > 0 {
		m.Swap = mem.SwapOnlyUsage.Usage
	} else if mem.SwapUsage.Usage > mem.Usage.Usage {
		m.Swap = mem.SwapUsage.Usage - mem.Usage.Usage
	}
	if limit := limitOf(mem.Usage.Limit); limit > m.WorkingSet {
		m.Available = limit - m.WorkingSet
	}
	s.Pids = Pids{Current: st.PidsStats.Current, Limit: st.PidsStats.Limit}
	s.Blkio = blkio(&st.BlkioStats)
}

// limitOf turns the kernel's "no limit" (a page-rounded 2^63) into 0.
func limitOf(v uint64) uint64 {
	if v >= 1<<62 {
		return 0
	}
	return v
}

func firstOf(m map[string]uint64, keys ...string) uint64 {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return 0
}
