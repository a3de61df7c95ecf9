package container

import (
	"context"
	"sync"
	"time"

	"github.com/opencontainers/cgroups"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/fsusage"
)

// Stats are one sample of a container's resource use.
type Stats struct {
	Timestamp time.Time
	// CPUUsageNanos is the total CPU time used; CPUNanoCores the rate since
	// the previous sample (0 on the first).
	CPUUsageNanos, CPUNanoCores uint64
	// Memory in bytes.
	MemoryUsage, MemoryWorkingSet, MemoryRSS, MemoryAvailable uint64
	PageFaults, MajorPageFaults                               uint64
	SwapUsage                                                 uint64
	// Pids is the number of processes.
	Pids uint64
	// Writable layer use.
	WritableLayer fsusage.Usage
	// Live is false for a container without cgroups (not running): only the
	// writable layer is measured then.
	Live bool
}

// cpuSample is the last CPU reading per container, for rates.
type cpuSample struct {
	at    time.Time
	usage uint64
}

var (
	cpuMu      sync.Mutex
	cpuSamples = map[string]cpuSample{}
)

// Stats samples a container's cgroups and writable layer.
func (m *Manager) Stats(ctx context.Context, id string) (*Stats, error) {
	c, err := m.lookup(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	st := &Stats{Timestamp: time.Now()}
	p := m.paths(rec.ID)
	if u, err := fsusage.Measure(p.upper); err == nil {
		st.WritableLayer = u
		st.WritableLayer.Path = p.upper
	}
	if rec.State != StateRunning && rec.State != StateCreated {
		return st, nil
	}
	lc, err := m.rt.Container(rec.ID)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return st, nil
		}
		return nil, err
	}
	s, err := lc.Stats()
	if err != nil || s.CgroupStats == nil {
		// It may have exited since the state was read.
		return st, nil
	}
	fillCgroupStats(st, s.CgroupStats, rec.ID)
	return st, nil
}

func fillCgroupStats(st *Stats, cg *cgroups.Stats, key string) {
	st.Live = true
	st.CPUUsageNanos = cg.CpuStats.CpuUsage.TotalUsage
	cpuMu.Lock()
	if prev, ok := cpuSamples[key]; ok && st.Timestamp.After(prev.at) && st.CPUUsageNanos >= prev.usage {
		st.CPUNanoCores = uint64(float64(st.CPUUsageNanos-prev.usage) / st.Timestamp.Sub(prev.at).Seconds())
	}
	cpuSamples[key] = cpuSample{at: st.Timestamp, usage: st.CPUUsageNanos}
	cpuMu.Unlock()
	mem := cg.MemoryStats
	st.MemoryUsage = mem.Usage.Usage
	inactive, ok := mem.Stats["total_inactive_file"]
	if !ok {
		inactive = mem.Stats["inactive_file"]
	}
	if st.MemoryUsage > inactive {
		st.MemoryWorkingSet = st.MemoryUsage - inactive
	}
	if v, ok := mem.Stats["total_rss"]; ok {
		st.MemoryRSS = v
	} else {
		st.MemoryRSS = mem.Stats["anon"]
	}
	st.PageFaults = firstOf(mem.Stats, "total_pgfault", "pgfault")
	st.MajorPageFaults = firstOf(mem.Stats, "total_pgmajfault", "pgmajfault")
	if limit := mem.Usage.Limit; limit > 0 && limit < 1<<62 && limit > st.MemoryWorkingSet {
		st.MemoryAvailable = limit - st.MemoryWorkingSet
	}
	if mem.SwapOnlyUsage.Usage > 0 {
		st.SwapUsage = mem.SwapOnlyUsage.Usage
	} else if mem.SwapUsage.Usage > mem.Usage.Usage {
		st.SwapUsage = mem.SwapUsage.Usage - mem.Usage.Usage
	}
	st.Pids = cg.PidsStats.Current
}

func firstOf(m map[string]uint64, keys ...string) uint64 {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return 0
}

// forgetStats drops a removed container's CPU sample.
func forgetStats(id string) {
	cpuMu.Lock()
	delete(cpuSamples, id)
	cpuMu.Unlock()
}
