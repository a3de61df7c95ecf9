package spec

import (
	"maps"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// OOM score bounds of the kernel.
const (
	minOOMScoreAdj = -1000
	maxOOMScoreAdj = 1000
)

// resources sets the cgroup limits and oom_score_adj as containerd does:
// zero values stay unset, a memory limit without a swap limit also caps swap
// (no swapping) where swap can be limited, hugepage limits are dropped
// without a hugetlb controller, and oom_score_adj is raised to the daemon's own.
func (b *builder) resources() error {
	in := b.in
	r := in.Resources
	if r == nil {
		return nil
	}
	if r.CPUPeriod < 0 || r.CPUShares < 0 {
		return in.errorf(errdefs.ErrInvalidArgument, "negative cpu period %d or shares %d", r.CPUPeriod, r.CPUShares)
	}
	if r.OOMScoreAdj < minOOMScoreAdj || r.OOMScoreAdj > maxOOMScoreAdj {
		return in.errorf(errdefs.ErrInvalidArgument, "oom_score_adj %d out of range [%d, %d]", r.OOMScoreAdj, minOOMScoreAdj, maxOOMScoreAdj)
	}
	lr := b.s.Linux.Resources
	if lr == nil {
		lr = &specs.LinuxResources{}
		b.s.Linux.Resources = lr
	}
	cpu := &specs.LinuxCPU{Cpus: r.CpusetCPUs, Mems: r.CpusetMems}
	if r.CPUPeriod != 0 {
		p := uint64(r.CPUPeriod)
		cpu.Period = &p
	}
	if r.CPUQuota != 0 {
		q := r.CPUQuota
		cpu.Quota = &q
	}
	if r.CPUShares != 0 {
		s := uint64(r.CPUShares)
		cpu.Shares = &s
	}
	lr.CPU = cpu

	mem := &specs.LinuxMemory{}
	if r.MemoryLimit != 0 {
		limit := r.MemoryLimit
		mem.Limit = &limit
		if r.MemorySwapLimit == 0 && in.Host.SwapAccounting {
			swap := limit
			mem.Swap = &swap
		}
	}
	if r.MemorySwapLimit != 0 && in.Host.SwapAccounting {
		swap := r.MemorySwapLimit
		mem.Swap = &swap
	}
	lr.Memory = mem

	if in.Host.HugetlbController {
		for _, h := range r.HugepageLimits {
			lr.HugepageLimits = append(lr.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: h.PageSize, Limit: h.Limit})
		}
	}
	if len(r.Unified) > 0 {
		lr.Unified = maps.Clone(r.Unified)
	}

	adj := int(r.OOMScoreAdj)
	if adj < in.Host.OOMScoreAdjFloor {
		adj = in.Host.OOMScoreAdjFloor
	}
	b.s.Process.OOMScoreAdj = &adj
	return nil
}
