package nri

import (
	"maps"
	"slices"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/runtime-tools/generate"
	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// podToNRI is pod sb as NRI plugins see it.
func podToNRI(sb *sandbox.Sandbox) *api.PodSandbox {
	r := &sb.Resources
	p := &api.PodSandbox{
		Id:             sb.ID,
		Name:           sb.Config.Name,
		Uid:            sb.Config.UID,
		Namespace:      sb.Config.Namespace,
		Labels:         maps.Clone(sb.Config.Labels),
		Annotations:    maps.Clone(sb.Config.Annotations),
		RuntimeHandler: sb.Config.RuntimeHandler,
		Ips:            slices.Clone(sb.IPs),
		Linux: &api.LinuxPodSandbox{
			CgroupParent: sb.Config.CgroupParent,
			CgroupsPath:  r.Cgroup.Path,
		},
	}
	if r.PodInit != nil {
		p.Pid = uint32(r.PodInit.PID)
	}
	if res := sb.Config.Resources; res != nil {
		p.Linux.PodResources = podResourcesToNRI(res.Resources)
		p.Linux.PodOverhead = podResourcesToNRI(res.Overhead)
	}
	for typ, path := range map[string]string{"network": r.NetNS, "ipc": r.IPCNS, "uts": r.UTSNS, "user": r.UserNS} {
		if path != "" {
			p.Linux.Namespaces = append(p.Linux.Namespaces, &api.LinuxNamespace{Type: typ, Path: path})
		}
	}
	slices.SortFunc(p.Linux.Namespaces, func(a, b *api.LinuxNamespace) int {
		if a.Type < b.Type {
			return -1
		}
		if a.Type > b.Type {
			return 1
		}
		return 0
	})
	return p
}

// containerStates maps our states to NRI's.
var containerStates = map[container.State]api.ContainerState{
	container.StateCreating: api.ContainerState_CONTAINER_UNKNOWN,
	container.StateCreated:  api.ContainerState_CONTAINER_CREATED,
	container.StateRunning:  api.ContainerState_CONTAINER_RUNNING,
	container.StateExited:   api.ContainerState_CONTAINER_STOPPED,
	container.StateRemoving: api.ContainerState_CONTAINER_STOPPED,
}

// containerToNRI is container rec as NRI plugins see it; s, its OCI spec,
// may be nil.
func containerToNRI(rec *container.Record, s *rspec.Spec) *api.Container {
	c := &api.Container{
		Id:            rec.ID,
		PodSandboxId:  rec.PodID,
		Name:          rec.Name,
		State:         containerStates[rec.State],
		Labels:        maps.Clone(rec.Labels),
		Annotations:   maps.Clone(rec.Annots),
		CreatedAt:     rec.CreatedAt,
		StartedAt:     rec.StartedAt,
		FinishedAt:    rec.FinishedAt,
		ExitCode:      rec.ExitCode,
		StatusReason:  rec.Reason,
		StatusMessage: rec.Message,
		Pid:           uint32(max(rec.InitPID, 0)),
	}
	if s == nil {
		return c
	}
	if len(s.Annotations) > 0 {
		c.Annotations = maps.Clone(s.Annotations)
	}
	if p := s.Process; p != nil {
		c.Args = slices.Clone(p.Args)
		c.Env = slices.Clone(p.Env)
		for _, rl := range p.Rlimits {
			c.Rlimits = append(c.Rlimits, &api.POSIXRlimit{Type: rl.Type, Hard: rl.Hard, Soft: rl.Soft})
		}
	}
	c.Mounts = api.FromOCIMounts(s.Mounts)
	c.Hooks = api.FromOCIHooks(s.Hooks)
	if l := s.Linux; l != nil {
		c.Linux = &api.LinuxContainer{
			Namespaces:  api.FromOCILinuxNamespaces(l.Namespaces),
			Devices:     api.FromOCILinuxDevices(l.Devices),
			Resources:   api.FromOCILinuxResources(l.Resources, s.Annotations),
			CgroupsPath: l.CgroupsPath,
			Sysctl:      maps.Clone(l.Sysctl),
		}
		if p := s.Process; p != nil && p.OOMScoreAdj != nil {
			c.Linux.OomScoreAdj = api.Int(*p.OOMScoreAdj)
		}
	}
	return c
}

// resourcesToNRI is r as NRI plugins see it.
func resourcesToNRI(r *spec.Resources) *api.LinuxResources {
	if r == nil {
		return nil
	}
	out := &api.LinuxResources{
		Cpu:     &api.LinuxCPU{Cpus: r.CpusetCPUs, Mems: r.CpusetMems},
		Memory:  &api.LinuxMemory{},
		Unified: maps.Clone(r.Unified),
	}
	if r.CPUShares > 0 {
		out.Cpu.Shares = api.UInt64(uint64(r.CPUShares))
	}
	if r.CPUQuota != 0 {
		out.Cpu.Quota = api.Int64(r.CPUQuota)
	}
	if r.CPUPeriod > 0 {
		out.Cpu.Period = api.UInt64(uint64(r.CPUPeriod))
	}
	if r.MemoryLimit > 0 {
		out.Memory.Limit = api.Int64(r.MemoryLimit)
	}
	if r.MemorySwapLimit > 0 {
		out.Memory.Swap = api.Int64(r.MemorySwapLimit)
	}
	for _, h := range r.HugepageLimits {
		out.HugepageLimits = append(out.HugepageLimits, &api.HugepageLimit{PageSize: h.PageSize, Limit: h.Limit})
	}
	return out
}

// podResourcesToNRI is the pod-level r as NRI plugins see it.
func podResourcesToNRI(r *sandbox.LinuxResources) *api.LinuxResources {
	if r == nil {
		return nil
	}
	out := resourcesToNRI(&spec.Resources{
		CPUPeriod: r.CPUPeriod, CPUQuota: r.CPUQuota, CPUShares: r.CPUShares,
		MemoryLimit: r.MemoryLimit, MemorySwapLimit: r.MemorySwapLimit,
		CpusetCPUs: r.CpusetCPUs, CpusetMems: r.CpusetMems, Unified: r.Unified,
	})
	for _, size := range slices.Sorted(maps.Keys(r.HugepageLimits)) {
		out.HugepageLimits = append(out.HugepageLimits, &api.HugepageLimit{PageSize: size, Limit: r.HugepageLimits[size]})
	}
	return out
}

// resourcesFromNRI is base with what l sets; base is not modified.
func resourcesFromNRI(base *spec.Resources, l *api.LinuxResources) *spec.Resources {
	out := &spec.Resources{}
	if base != nil {
		*out = *base
		out.HugepageLimits = slices.Clone(base.HugepageLimits)
		out.Unified = maps.Clone(base.Unified)
	}
	if cpu := l.GetCpu(); cpu != nil {
		if v := cpu.GetShares(); v != nil {
			out.CPUShares = int64(v.GetValue())
		}
		if v := cpu.GetQuota(); v != nil {
			out.CPUQuota = v.GetValue()
		}
		if v := cpu.GetPeriod(); v != nil {
			out.CPUPeriod = int64(v.GetValue())
		}
		if cpu.GetCpus() != "" {
			out.CpusetCPUs = cpu.GetCpus()
		}
		if cpu.GetMems() != "" {
			out.CpusetMems = cpu.GetMems()
		}
	}
	if mem := l.GetMemory(); mem != nil {
		if v := mem.GetLimit(); v != nil {
			out.MemoryLimit = v.GetValue()
		}
		if v := mem.GetSwap(); v != nil {
			out.MemorySwapLimit = v.GetValue()
		}
	}
	if hp := l.GetHugepageLimits(); len(hp) > 0 {
		out.HugepageLimits = nil
		for _, h := range hp {
			out.HugepageLimits = append(out.HugepageLimits, spec.HugepageLimit{PageSize: h.GetPageSize(), Limit: h.GetLimit()})
		}
	}
	if u := l.GetUnified(); len(u) > 0 {
		if out.Unified == nil {
			out.Unified = map[string]string{}
		}
		maps.Copy(out.Unified, u)
	}
	return out
}

// adjust applies the plugins' combined adjustment adj to spec s, through
// the NRI library's generator.
func adjust(s *rspec.Spec, adj *api.ContainerAdjustment) error {
	return generate.SpecGenerator(newSpecGen(s)).Adjust(adj)
}
