package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/container"
)

// ContainerStats samples one container.
func (s *Service) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	rec, err := s.deps.Containers.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	st, err := s.deps.Containers.Stats(ctx, id)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: criContainerStats(&rec, st)}, nil
}

// ListContainerStats samples the containers that match the filter.
func (s *Service) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f := req.GetFilter()
	recs := s.deps.Containers.List(ctx, container.Filter{IDPrefix: f.GetId(), PodID: f.GetPodSandboxId(), Labels: f.GetLabelSelector()})
	out := make([]*runtimeapi.ContainerStats, 0, len(recs))
	for i := range recs {
		st, err := s.deps.Containers.Stats(ctx, recs[i].ID)
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, criContainerStats(&recs[i], st))
	}
	return &runtimeapi.ListContainerStatsResponse{Stats: out}, nil
}

func criContainerStats(r *container.Record, st *container.Stats) *runtimeapi.ContainerStats {
	ts := st.Timestamp.UnixNano()
	u64 := func(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }
	out := &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{
			Id:          r.ID,
			Metadata:    &runtimeapi.ContainerMetadata{Name: r.Name, Attempt: r.Attempt},
			Labels:      r.Labels,
			Annotations: r.Annots,
		},
		Cpu: &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(st.CPUUsageNanos), UsageNanoCores: u64(st.CPUNanoCores)},
		Memory: &runtimeapi.MemoryUsage{
			Timestamp: ts, WorkingSetBytes: u64(st.MemoryWorkingSet), AvailableBytes: u64(st.MemoryAvailable),
			UsageBytes: u64(st.MemoryUsage), RssBytes: u64(st.MemoryRSS),
			PageFaults: u64(st.PageFaults), MajorPageFaults: u64(st.MajorPageFaults),
		},
		Swap: &runtimeapi.SwapUsage{Timestamp: ts, SwapUsageBytes: u64(st.SwapUsage)},
		WritableLayer: &runtimeapi.FilesystemUsage{
			Timestamp:  ts,
			FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: st.WritableLayer.Path},
			UsedBytes:  u64(st.WritableLayer.Bytes),
			InodesUsed: u64(st.WritableLayer.Inodes),
		},
	}
	return out
}
