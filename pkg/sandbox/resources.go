package sandbox

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// LinuxResources are cgroup limits as the CRI states them; zero fields are
// not set.
type LinuxResources struct {
	// CPUPeriod and CPUQuota are the CFS period and quota in microseconds.
	CPUPeriod int64 `json:"cpuPeriod,omitempty"`
	CPUQuota  int64 `json:"cpuQuota,omitempty"`
	// CPUShares is the relative CPU weight.
	CPUShares int64 `json:"cpuShares,omitempty"`
	// MemoryLimit and MemorySwapLimit are bytes (memory, memory+swap).
	MemoryLimit     int64 `json:"memoryLimit,omitempty"`
	MemorySwapLimit int64 `json:"memorySwapLimit,omitempty"`
	// CpusetCPUs and CpusetMems are cpuset lists.
	CpusetCPUs string `json:"cpusetCpus,omitempty"`
	CpusetMems string `json:"cpusetMems,omitempty"`
	// HugepageLimits are bytes by page size ("2MB").
	HugepageLimits map[string]uint64 `json:"hugepageLimits,omitempty"`
	// Unified are raw cgroup v2 settings.
	Unified map[string]string `json:"unified,omitempty"`
}

// PodResources are the pod-level resources the kubelet declares: the sum
// of its containers' resources and the pod's overhead.
type PodResources struct {
	Overhead  *LinuxResources `json:"overhead,omitempty"`
	Resources *LinuxResources `json:"resources,omitempty"`
}

// UpdateResources records pod id's pod-level resources (shown in its
// verbose status) and, when the runtime made the pod's cgroup, applies
// them to it. A kubelet-made pod cgroup is the kubelet's to set: only the
// record changes then.
func (m *Manager) UpdateResources(ctx context.Context, id string, r *PodResources) error {
	p, err := m.lookup(id)
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("pod %s: %w", id, errdefs.ErrNotFound)
	}
	p.op.Lock()
	defer p.op.Unlock()
	sb := p.get()
	if sb.State == StateRemoving {
		return fmt.Errorf("pod %s is being removed: %w", id, errdefs.ErrFailedPrecondition)
	}
	sb.Config.Resources = r
	if err := m.nri.UpdatePod(ctx, sb); err != nil {
		return err
	}
	if err := applyResources(&sb); err != nil {
		return err
	}
	if err := m.put(ctx, sb); err != nil {
		return err
	}
	m.nri.PostUpdatePod(ctx, p.update(func(s *Sandbox) { s.Config.Resources = r }))
	return nil
}

// applyResources sets sb's pod-level resources on its cgroup if the runtime
// made it (the request named no cgroup parent: the kubelet makes and sets
// the pod cgroups it names) and the pod has any.
func applyResources(sb *Sandbox) error {
	cg := &sb.Resources.Cgroup
	if sb.Config.Resources == nil || sb.Config.CgroupParent != "" || len(cg.Created) == 0 {
		return nil
	}
	res := sb.Config.Resources.cgroup()
	mgr, err := manager.NewWithPaths(&cgroups.Cgroup{Path: cg.Path, Resources: res}, cg.Dirs)
	if err != nil {
		return fmt.Errorf("pod %s: cgroup %s: %w", sb.ID, cg.Path, err)
	}
	if err := mgr.Set(res); err != nil {
		return fmt.Errorf("pod %s: set resources of cgroup %s: %w", sb.ID, cg.Path, err)
	}
	return nil
}

// cgroup works out the pod cgroup's limits: the containers' sum plus the
// overhead. A limit the containers do not set stays unlimited (-1, so that
// an update can lift it); device rules are never touched.
func (p *PodResources) cgroup() *cgroups.Resources {
	r, o := p.Resources, p.Overhead
	if r == nil {
		r = &LinuxResources{}
	}
	if o == nil {
		o = &LinuxResources{}
	}
	out := &cgroups.Resources{SkipDevices: true, CpusetCpus: r.CpusetCPUs, CpusetMems: r.CpusetMems}
	if shares := r.CPUShares + o.CPUShares; shares > 0 {
		out.CpuShares = uint64(shares)
	}
	period := r.CPUPeriod
	if period <= 0 {
		period = o.CPUPeriod
	}
	if period <= 0 {
		period = 100000
	}
	out.CpuPeriod = uint64(period)
	// Quotas are per period: scale each to the pod's period before adding.
	scale := func(quota, per int64) int64 {
		if per <= 0 {
			per = period
		}
		return quota * period / per
	}
	out.CpuQuota = -1
	if r.CPUQuota > 0 {
		out.CpuQuota = scale(r.CPUQuota, r.CPUPeriod)
		if o.CPUQuota > 0 {
			out.CpuQuota += scale(o.CPUQuota, o.CPUPeriod)
		}
	}
	out.Memory = -1
	if r.MemoryLimit > 0 {
		out.Memory = r.MemoryLimit + max(o.MemoryLimit, 0)
	}
	if r.MemorySwapLimit > 0 {
		out.MemorySwap = r.MemorySwapLimit + max(o.MemorySwapLimit, 0)
	}
	sizes := map[string]uint64{}
	for _, m := range []map[string]uint64{r.HugepageLimits, o.HugepageLimits} {
		for size, limit := range m {
			sizes[size] += limit
		}
	}
	for _, size := range slices.Sorted(maps.Keys(sizes)) {
		out.HugetlbLimit = append(out.HugetlbLimit, &cgroups.HugepageLimit{Pagesize: size, Limit: sizes[size]})
	}
	if len(r.Unified)+len(o.Unified) > 0 && cgroups.IsCgroup2UnifiedMode() {
		out.Unified = maps.Clone(o.Unified)
		if out.Unified == nil {
			out.Unified = map[string]string{}
		}
		maps.Copy(out.Unified, r.Unified)
	}
	return out
}
