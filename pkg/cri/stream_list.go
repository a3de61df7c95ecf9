package cri

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Bounds of one message of a list stream: far below the 16 MiB the kubelet
// accepts, so that no node is too big to list.
const (
	streamBatchItems = 500
	streamBatchBytes = 4 << 20
)

// sendBatches sends items in order, each exactly once, in messages of at
// least one item and at most streamBatchItems items or about
// streamBatchBytes bytes (a single bigger item goes alone). No items send
// no message: the stream just ends.
func sendBatches[T proto.Message](ctx context.Context, items []T, send func([]T) error) error {
	start, size := 0, 0
	for i, it := range items {
		n := proto.Size(it)
		if i > start && (i-start >= streamBatchItems || size+n > streamBatchBytes) {
			if err := send(items[start:i]); err != nil {
				return err
			}
			start, size = i, 0
		}
		size += n
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if start < len(items) {
		return send(items[start:])
	}
	return nil
}

// StreamPodSandboxes streams what ListPodSandbox answers, in batches.
func (s *Service) StreamPodSandboxes(req *runtimeapi.StreamPodSandboxesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	ctx := stream.Context()
	resp, err := s.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: req.GetFilter()})
	if err != nil {
		return err
	}
	return sendBatches(ctx, resp.GetItems(), func(b []*runtimeapi.PodSandbox) error {
		return stream.Send(&runtimeapi.StreamPodSandboxesResponse{PodSandboxes: b})
	})
}

// StreamContainers streams what ListContainers answers, in batches.
func (s *Service) StreamContainers(req *runtimeapi.StreamContainersRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	ctx := stream.Context()
	resp, err := s.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: req.GetFilter()})
	if err != nil {
		return err
	}
	return sendBatches(ctx, resp.GetContainers(), func(b []*runtimeapi.Container) error {
		return stream.Send(&runtimeapi.StreamContainersResponse{Containers: b})
	})
}

// StreamContainerStats streams what ListContainerStats answers, in batches.
func (s *Service) StreamContainerStats(req *runtimeapi.StreamContainerStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	ctx := stream.Context()
	resp, err := s.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: req.GetFilter()})
	if err != nil {
		return err
	}
	return sendBatches(ctx, resp.GetStats(), func(b []*runtimeapi.ContainerStats) error {
		return stream.Send(&runtimeapi.StreamContainerStatsResponse{ContainerStats: b})
	})
}

// StreamPodSandboxStats streams what ListPodSandboxStats answers, in batches.
func (s *Service) StreamPodSandboxStats(req *runtimeapi.StreamPodSandboxStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	ctx := stream.Context()
	stats, err := s.listPodStats(ctx, req.GetFilter())
	if err != nil {
		return err
	}
	return sendBatches(ctx, stats, func(b []*runtimeapi.PodSandboxStats) error {
		return stream.Send(&runtimeapi.StreamPodSandboxStatsResponse{PodSandboxStats: b})
	})
}

// StreamPodSandboxMetrics streams what ListPodSandboxMetrics answers, in batches.
func (s *Service) StreamPodSandboxMetrics(_ *runtimeapi.StreamPodSandboxMetricsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxMetricsResponse]) error {
	ctx := stream.Context()
	metrics, err := s.podMetrics(ctx)
	if err != nil {
		return err
	}
	return sendBatches(ctx, metrics, func(b []*runtimeapi.PodSandboxMetrics) error {
		return stream.Send(&runtimeapi.StreamPodSandboxMetricsResponse{PodSandboxMetrics: b})
	})
}

// StreamImages streams what ListImages answers, in batches.
func (s *Service) StreamImages(req *runtimeapi.StreamImagesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamImagesResponse]) error {
	ctx := stream.Context()
	resp, err := s.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: req.GetFilter()})
	if err != nil {
		return err
	}
	return sendBatches(ctx, resp.GetImages(), func(b []*runtimeapi.Image) error {
		return stream.Send(&runtimeapi.StreamImagesResponse{Images: b})
	})
}
