package container

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/cgroups"

	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// ApplyResources applies new limits to a live container's cgroups and
// records them for its status, without NRI (UpdateResources, in nri.go,
// is the CRI update: it calls NRI plugins around this).
func (m *Manager) ApplyResources(ctx context.Context, id string, r *spec.Resources) error {
	if r == nil {
		return nil
	}
	c, ok := m.get(id)
	if !ok {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	// Not during a start: libcontainer's state is the start's until then.
	if err := c.lockSettled(ctx); err != nil {
		return err
	}
	defer c.mu.Unlock()
	switch c.rec.State {
	case StateCreated, StateRunning:
	default:
		return fmt.Errorf("container %s is %s: %w", id, c.rec.State, errdefs.ErrFailedPrecondition)
	}
	err := m.rt.Update(ctx, id, func(cr *cgroups.Resources) {
		if r.CPUShares > 0 {
			cr.CpuShares = uint64(r.CPUShares)
		}
		if r.CPUQuota != 0 {
			cr.CpuQuota = r.CPUQuota
		}
		if r.CPUPeriod > 0 {
			cr.CpuPeriod = uint64(r.CPUPeriod)
		}
		if r.MemoryLimit > 0 {
			cr.Memory = r.MemoryLimit
			// As at create: without a swap limit, no swapping (and on
			// cgroup v1 memsw must not stay below the new limit).
			if r.MemorySwapLimit == 0 && m.o.Host.SwapAccounting {
				cr.MemorySwap = r.MemoryLimit
			}
		}
		if r.MemorySwapLimit > 0 && m.o.Host.SwapAccounting {
			cr.MemorySwap = r.MemorySwapLimit
		}
		if r.CpusetCPUs != "" {
			cr.CpusetCpus = r.CpusetCPUs
		}
		if r.CpusetMems != "" {
			cr.CpusetMems = r.CpusetMems
		}
		if len(r.HugepageLimits) > 0 && m.o.Host.HugetlbController {
			cr.HugetlbLimit = nil
			for _, h := range r.HugepageLimits {
				cr.HugetlbLimit = append(cr.HugetlbLimit, &cgroups.HugepageLimit{Pagesize: h.PageSize, Limit: h.Limit})
			}
		}
		if len(r.Unified) > 0 && m.o.Host.CgroupV2 {
			cr.Unified = r.Unified
		}
	})
	if err != nil {
		return err
	}
	if c.rec.Input != nil {
		c.rec.Input.Resources = r
	}
	return m.save(ctx, &c.rec)
}
