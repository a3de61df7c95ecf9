package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// maxContainerNameLen bounds a container's name, as the pod's are bounded:
// it is kept in the metadata and returned by every list.
const maxContainerNameLen = 512

// CreateContainer creates a container in a pod, parked before its process runs.
func (s *Service) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	cfg := req.GetConfig()
	switch {
	case req.GetPodSandboxId() == "":
		return nil, fmt.Errorf("create container: no pod sandbox ID: %w", errdefs.ErrInvalidArgument)
	case cfg.GetMetadata().GetName() == "":
		return nil, fmt.Errorf("create container in pod %s: no container name: %w", req.GetPodSandboxId(), errdefs.ErrInvalidArgument)
	case len(cfg.GetMetadata().GetName()) > maxContainerNameLen || strings.IndexFunc(cfg.GetMetadata().GetName(), unicode.IsControl) >= 0:
		return nil, fmt.Errorf("create container %.64q in pod %s: name longer than %d bytes or holding control characters: %w",
			cfg.GetMetadata().GetName(), req.GetPodSandboxId(), maxContainerNameLen, errdefs.ErrInvalidArgument)
	case cfg.GetImage().GetImage() == "":
		return nil, fmt.Errorf("create container %q: no image: %w", cfg.GetMetadata().GetName(), errdefs.ErrInvalidArgument)
	}
	in, err := containerInput(cfg, req.GetSandboxConfig())
	if err != nil {
		return nil, err
	}
	id, err := s.deps.Containers.Create(ctx, container.CreateRequest{
		PodID:   req.GetPodSandboxId(),
		Attempt: cfg.GetMetadata().GetAttempt(),
		Image:   cfg.GetImage().GetImage(),
		LogPath: cfg.GetLogPath(),
		Input:   in,
	})
	if err != nil {
		return nil, err
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

// StartContainer runs a created container's process.
func (s *Service) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if err := s.deps.Containers.Start(ctx, id); err != nil {
		return nil, err
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

// StopContainer stops a container within the request's timeout. Stopping
// an unknown container is not an error (the kubelet retries stops).
func (s *Service) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	timeout := max(time.Duration(req.GetTimeout())*time.Second, 0)
	if err := s.deps.Containers.Stop(ctx, id, timeout); err != nil {
		return nil, err
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

// RemoveContainer removes a container; an unknown one is not an error.
func (s *Service) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	if req.GetContainerId() == "" {
		return nil, fmt.Errorf("remove container: no ID: %w", errdefs.ErrInvalidArgument)
	}
	id, err := s.containerID(ctx, req.GetContainerId())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.deps.Containers.Remove(ctx, id); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveContainerResponse{}, nil
}

// containerID resolves a full ID or a unique prefix.
func (s *Service) containerID(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("no container ID: %w", errdefs.ErrInvalidArgument)
	}
	rec, err := s.deps.Containers.Get(ctx, id)
	if err != nil {
		return "", err
	}
	return rec.ID, nil
}

// ListContainers lists containers matching the filter.
func (s *Service) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f := req.GetFilter()
	filter := container.Filter{IDPrefix: f.GetId(), PodID: f.GetPodSandboxId(), Labels: f.GetLabelSelector()}
	if st := f.GetState(); st != nil {
		filter.State = domainState(st.GetState())
		if filter.State == "" {
			return &runtimeapi.ListContainersResponse{}, nil
		}
	}
	recs := s.deps.Containers.List(ctx, filter)
	out := make([]*runtimeapi.Container, 0, len(recs))
	for i := range recs {
		out = append(out, criContainer(&recs[i]))
	}
	return &runtimeapi.ListContainersResponse{Containers: out}, nil
}

// ContainerStatus reports one container; verbose adds its record as JSON.
func (s *Service) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	if req.GetContainerId() == "" {
		return nil, fmt.Errorf("container status: no ID: %w", errdefs.ErrInvalidArgument)
	}
	rec, err := s.deps.Containers.Get(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: criContainerStatus(&rec)}
	if req.GetVerbose() {
		info, err := json.Marshal(map[string]any{"pid": rec.InitPID, "monitorPid": rec.MonitorPID, "record": rec})
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// UpdateContainerResources applies new limits to a live container.
func (s *Service) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if err := s.deps.Containers.UpdateResources(ctx, id, resources(req.GetLinux())); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// ReopenContainerLog asks a running container's monitor to reopen its log.
func (s *Service) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if err := s.deps.Containers.ReopenLog(ctx, id); err != nil {
		return nil, err
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}

func domainState(st runtimeapi.ContainerState) container.State {
	switch st {
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		return container.StateCreated
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return container.StateRunning
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		return container.StateExited
	}
	return ""
}

func criState(st container.State) runtimeapi.ContainerState {
	switch st {
	case container.StateCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case container.StateRunning:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case container.StateExited:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

func criContainer(r *container.Record) *runtimeapi.Container {
	return &runtimeapi.Container{
		Id:           r.ID,
		PodSandboxId: r.PodID,
		Metadata:     &runtimeapi.ContainerMetadata{Name: r.Name, Attempt: r.Attempt},
		Image:        &runtimeapi.ImageSpec{Image: imageName(r), UserSpecifiedImage: r.ImageRef},
		ImageRef:     r.ImageID,
		ImageId:      r.ImageID,
		State:        criState(r.State),
		CreatedAt:    r.CreatedAt,
		Labels:       r.Labels,
		Annotations:  r.Annots,
	}
}

func imageName(r *container.Record) string {
	if r.ImageTag != "" {
		return r.ImageTag
	}
	return r.ImageRef
}

// criMount is a mount as the request gave it; an image volume also says
// which image it resolved to (ImageSpec.image_ref, the ID PullImage answered).
func criMount(m *spec.Mount) *runtimeapi.Mount {
	cm := &runtimeapi.Mount{
		ContainerPath: m.ContainerPath, HostPath: m.HostPath, Readonly: m.Readonly,
		RecursiveReadOnly: m.RecursiveReadOnly, SelinuxRelabel: m.SelinuxRelabel,
		ImageSubPath: m.ImageSubPath,
	}
	switch m.Propagation {
	case spec.PropagationHostToContainer:
		cm.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
	case spec.PropagationBidirectional:
		cm.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
	}
	if m.Image != "" {
		cm.Image = &runtimeapi.ImageSpec{Image: m.Image, UserSpecifiedImage: m.ImageUserSpecified, ImageRef: m.ImageID}
	}
	for _, x := range m.UIDMappings {
		cm.UidMappings = append(cm.UidMappings, &runtimeapi.IDMapping{ContainerId: x.ContainerID, HostId: x.HostID, Length: x.Size})
	}
	for _, x := range m.GIDMappings {
		cm.GidMappings = append(cm.GidMappings, &runtimeapi.IDMapping{ContainerId: x.ContainerID, HostId: x.HostID, Length: x.Size})
	}
	return cm
}

func criContainerStatus(r *container.Record) *runtimeapi.ContainerStatus {
	st := &runtimeapi.ContainerStatus{
		Id:          r.ID,
		Metadata:    &runtimeapi.ContainerMetadata{Name: r.Name, Attempt: r.Attempt},
		State:       criState(r.State),
		CreatedAt:   r.CreatedAt,
		StartedAt:   r.StartedAt,
		FinishedAt:  r.FinishedAt,
		ExitCode:    r.ExitCode,
		Image:       &runtimeapi.ImageSpec{Image: imageName(r), UserSpecifiedImage: r.ImageRef},
		ImageRef:    r.ImageID,
		ImageId:     r.ImageID,
		Reason:      r.Reason,
		Message:     r.Message,
		Labels:      r.Labels,
		Annotations: r.Annots,
		LogPath:     r.LogPath,
	}
	for _, m := range r.Mounts {
		st.Mounts = append(st.Mounts, criMount(&m))
	}
	if r.Input != nil {
		st.Resources = criResources(r.Input.Resources)
	}
	if r.User != nil {
		st.User = &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{
			Uid: r.User.UID, Gid: r.User.GID, SupplementalGroups: r.User.Groups,
		}}
	}
	if r.StopSig != "" {
		if v, ok := runtimeapi.Signal_value["SIGNAL_"+r.StopSig]; ok {
			st.StopSignal = runtimeapi.Signal(v)
		}
	}
	return st
}
