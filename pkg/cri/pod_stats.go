package cri

import (
	"context"
	"fmt"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/network"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// PodSandboxStats samples one pod: its cgroup's CPU, memory and process
// count, its network namespace's interfaces, and its containers.
func (s *Service) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("pod sandbox stats: no pod sandbox ID: %w", errdefs.ErrInvalidArgument)
	}
	sb, err := s.deps.Sandboxes.Get(ctx, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	st, err := s.podStats(ctx, &sb)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: st}, nil
}

// ListPodSandboxStats samples the ready pods that match the filter (ID
// prefix, labels). A pod that goes away while it is read is left out.
func (s *Service) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	out, err := s.listPodStats(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: out}, nil
}

func (s *Service) listPodStats(ctx context.Context, f *runtimeapi.PodSandboxStatsFilter) ([]*runtimeapi.PodSandboxStats, error) {
	var out []*runtimeapi.PodSandboxStats
	for _, sb := range s.deps.Sandboxes.List(ctx) {
		if !sb.Ready() || !strings.HasPrefix(sb.ID, f.GetId()) || !labelsMatch(sb.Config.Labels, f.GetLabelSelector()) {
			continue
		}
		st, err := s.podStats(ctx, &sb)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue // removed meanwhile
		}
		out = append(out, st)
	}
	return out, nil
}

// podStats reads pod sb and its containers.
func (s *Service) podStats(ctx context.Context, sb *sandbox.Sandbox) (*runtimeapi.PodSandboxStats, error) {
	p, err := s.deps.PodStats.Pod(sb, false)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", sb.ID, err)
	}
	cg := p.Cgroup
	ts := cg.At.UnixNano()
	linux := &runtimeapi.LinuxPodSandboxStats{
		Cpu: &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(cg.CPU.UsageNanos), UsageNanoCores: u64(cg.CPU.NanoCores)},
		Memory: &runtimeapi.MemoryUsage{
			Timestamp: ts, WorkingSetBytes: u64(cg.Memory.WorkingSet), AvailableBytes: u64(cg.Memory.Available),
			UsageBytes: u64(cg.Memory.Usage), RssBytes: u64(cg.Memory.RSS),
			PageFaults: u64(cg.Memory.PageFaults), MajorPageFaults: u64(cg.Memory.MajorPageFaults),
		},
		Process: &runtimeapi.ProcessUsage{Timestamp: ts, ProcessCount: u64(cg.Processes.Count)},
	}
	if sb.Resources.NetNS != "" {
		net := &runtimeapi.NetworkUsage{Timestamp: ts}
		for i := range p.Interfaces {
			net.Interfaces = append(net.Interfaces, interfaceUsage(&p.Interfaces[i]))
		}
		if d := p.Default(); d != nil {
			net.DefaultInterface = interfaceUsage(d)
		}
		linux.Network = net
	}
	recs := s.deps.Containers.List(ctx, container.Filter{PodID: sb.ID})
	for i := range recs {
		if recs[i].PodID != sb.ID {
			continue // a longer pod ID with this one as prefix
		}
		st, err := s.deps.Containers.Stats(ctx, recs[i].ID)
		if err != nil {
			continue // removed meanwhile
		}
		linux.Containers = append(linux.Containers, criContainerStats(&recs[i], st))
	}
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id:          sb.ID,
			Metadata:    podMetadata(sb),
			Labels:      sb.Config.Labels,
			Annotations: sb.Config.Annotations,
		},
		Linux: linux,
	}, nil
}

// interfaceUsage translates one interface's counters. The CRI lists every
// interface, the default one included, as the kubelet's summary expects.
func interfaceUsage(l *network.LinkStats) *runtimeapi.NetworkInterfaceUsage {
	return &runtimeapi.NetworkInterfaceUsage{
		Name:    l.Name,
		RxBytes: u64(l.RxBytes), RxErrors: u64(l.RxErrors),
		TxBytes: u64(l.TxBytes), TxErrors: u64(l.TxErrors),
	}
}

func u64(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }
