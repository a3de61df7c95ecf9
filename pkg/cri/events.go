package cri

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/events"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

var eventTypes = map[events.Kind]runtimeapi.ContainerEventType{
	events.Created: runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
	events.Started: runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
	events.Stopped: runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
	events.Deleted: runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
}

// GetContainerEvents streams container and pod lifecycle events, each with
// the pod's status and its containers' statuses, for the kubelet's evented
// PLEG. Pod events carry the pod's ID as the container ID, as containerd
// sends them, and the pod's status as it was at the event (none once the
// pod is deleted).
func (s *Service) GetContainerEvents(req *runtimeapi.GetEventsRequest, stream runtimeapi.RuntimeService_GetContainerEventsServer) error {
	ctx := stream.Context()
	for e := range s.deps.Events.Subscribe(ctx) {
		resp := &runtimeapi.ContainerEventResponse{
			ContainerId:        e.ID,
			ContainerEventType: eventTypes[e.Kind],
			CreatedAt:          e.At.UnixNano(),
		}
		live := false
		if e.Pod {
			if sb, ok := e.Snapshot.(*sandbox.Sandbox); ok {
				resp.PodSandboxStatus = podSandboxStatus(sb)
				live = true
			}
		} else if sb, err := s.deps.Sandboxes.Get(ctx, e.PodID); err == nil {
			resp.PodSandboxStatus = podSandboxStatus(&sb)
			live = true
		}
		if live {
			for _, id := range s.deps.Containers.PodContainers(e.PodID) {
				if rec, err := s.deps.Containers.Get(ctx, id); err == nil {
					resp.ContainersStatuses = append(resp.ContainersStatuses, criContainerStatus(&rec))
				}
			}
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return ctx.Err()
}
