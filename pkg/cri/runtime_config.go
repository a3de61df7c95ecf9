package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// UpdateRuntimeConfig takes the node's pod CIDR from the kubelet: pods
// made afterwards get their addresses from it (the built-in network's
// subnet, or the ipRanges capability of an operator's network). An empty
// CIDR changes nothing, as the CRI asks.
func (s *Service) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	cidr := req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if cidr == "" {
		return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
	}
	if s.deps.SetPodCIDR == nil {
		return nil, fmt.Errorf("update runtime config: pod CIDR %q: %w", cidr, errdefs.ErrNotImplemented)
	}
	if err := s.deps.SetPodCIDR(ctx, cidr); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}

// UpdatePodSandboxResources records a pod's pod-level resources (they show
// in its verbose status) and applies them to its cgroup when the runtime
// made that cgroup; a kubelet-made pod cgroup was already set by the kubelet.
func (s *Service) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("update pod sandbox resources: no pod sandbox ID: %w", errdefs.ErrInvalidArgument)
	}
	sb, err := s.deps.Sandboxes.Get(ctx, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if err := s.deps.Sandboxes.UpdateResources(ctx, sb.ID, podResources(req.GetOverhead(), req.GetResources())); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}

// podResources translates pod-level resources; nil when there are none.
func podResources(overhead, resources *runtimeapi.LinuxContainerResources) *sandbox.PodResources {
	if overhead == nil && resources == nil {
		return nil
	}
	return &sandbox.PodResources{Overhead: linuxResources(overhead), Resources: linuxResources(resources)}
}

func linuxResources(r *runtimeapi.LinuxContainerResources) *sandbox.LinuxResources {
	if r == nil {
		return nil
	}
	out := &sandbox.LinuxResources{
		CPUPeriod: r.GetCpuPeriod(), CPUQuota: r.GetCpuQuota(), CPUShares: r.GetCpuShares(),
		MemoryLimit: r.GetMemoryLimitInBytes(), MemorySwapLimit: r.GetMemorySwapLimitInBytes(),
		CpusetCPUs: r.GetCpusetCpus(), CpusetMems: r.GetCpusetMems(),
		Unified: r.GetUnified(),
	}
	for _, h := range r.GetHugepageLimits() {
		if out.HugepageLimits == nil {
			out.HugepageLimits = map[string]uint64{}
		}
		out.HugepageLimits[h.GetPageSize()] = h.GetLimit()
	}
	return out
}
