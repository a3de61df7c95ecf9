package cri

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/checkpoint"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// CheckpointContainer writes a checkpoint archive of a running container
// (CRIU images, its record, spec and writable layer) to the request's
// location, within the request's timeout. The container keeps running.
// Where CRIU cannot work (it needs a kernel it knows), the answer is
// FailedPrecondition with CRIU's own reason.
func (s *Service) CheckpointContainer(ctx context.Context, req *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	if req.GetLocation() == "" {
		return nil, fmt.Errorf("checkpoint container %s: no location: %w", req.GetContainerId(), errdefs.ErrInvalidArgument)
	}
	id, err := s.runningContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if s.deps.Checkpoint == nil {
		return nil, fmt.Errorf("checkpoint container %s: %w", id, errdefs.ErrNotImplemented)
	}
	timeout := checkpoint.DefaultTimeout
	if t := req.GetTimeout(); t > 0 {
		timeout = time.Duration(t) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.deps.Checkpoint(ctx, id, req.GetLocation()); err != nil {
		return nil, err
	}
	return &runtimeapi.CheckpointContainerResponse{}, nil
}

// CheckpointPod is not supported: a pod-wide cut needs every container
// frozen and dumped by CRIU together, which this runtime does not do.
func (s *Service) CheckpointPod(ctx context.Context, req *runtimeapi.CheckpointPodRequest) (*runtimeapi.CheckpointPodResponse, error) {
	return nil, fmt.Errorf("checkpoint pod %s: pod checkpoints are not supported (containers are checkpointed one by one with CheckpointContainer): %w",
		req.GetPodSandboxId(), errdefs.ErrNotImplemented)
}

// RestorePod is not supported, as CheckpointPod is not.
func (s *Service) RestorePod(ctx context.Context, req *runtimeapi.RestorePodRequest) (*runtimeapi.RestorePodResponse, error) {
	return nil, fmt.Errorf("restore pod: pod checkpoints are not supported: %w", errdefs.ErrNotImplemented)
}
