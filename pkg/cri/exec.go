package cri

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// ExecSync runs a command in a container and returns its output.
func (s *Service) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	if len(req.GetCmd()) == 0 {
		return nil, fmt.Errorf("exec in container %s: no command: %w", req.GetContainerId(), errdefs.ErrInvalidArgument)
	}
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	res, err := s.deps.Containers.ExecSync(ctx, id, req.GetCmd(), time.Duration(req.GetTimeout())*time.Second)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ExecSyncResponse{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: int32(res.ExitCode)}, nil
}

// Exec returns a single-use URL of the streaming server for an exec session.
func (s *Service) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if len(req.GetCmd()) == 0 {
		return nil, fmt.Errorf("exec in container %s: no command: %w", req.GetContainerId(), errdefs.ErrInvalidArgument)
	}
	if !req.GetStdin() && !req.GetStdout() && !req.GetStderr() {
		return nil, fmt.Errorf("exec in container %s: one of stdin, stdout and stderr is required: %w", req.GetContainerId(), errdefs.ErrInvalidArgument)
	}
	if req.GetTty() && req.GetStderr() {
		return nil, fmt.Errorf("exec in container %s: tty and stderr cannot both be set: %w", req.GetContainerId(), errdefs.ErrInvalidArgument)
	}
	id, err := s.runningContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	req.ContainerId = id
	return s.deps.Stream.GetExec(req)
}

// Attach returns a single-use URL of the streaming server for an attach session.
func (s *Service) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if !req.GetStdin() && !req.GetStdout() && !req.GetStderr() {
		return nil, fmt.Errorf("attach to container %s: one of stdin, stdout and stderr is required: %w", req.GetContainerId(), errdefs.ErrInvalidArgument)
	}
	id, err := s.runningContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	req.ContainerId = id
	return s.deps.Stream.GetAttach(req)
}

// PortForward returns a single-use URL of the streaming server for port forwarding into a pod.
func (s *Service) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("port forward: no pod sandbox ID: %w", errdefs.ErrInvalidArgument)
	}
	if _, err := s.deps.Sandboxes.Get(ctx, req.GetPodSandboxId()); err != nil {
		return nil, err
	}
	return s.deps.Stream.GetPortForward(req)
}

func (s *Service) runningContainer(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("no container ID: %w", errdefs.ErrInvalidArgument)
	}
	rec, err := s.deps.Containers.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if rec.State != container.StateRunning {
		return "", fmt.Errorf("container %s is %s, not running: %w", rec.ID, rec.State, errdefs.ErrFailedPrecondition)
	}
	return rec.ID, nil
}
