package sandbox

import "context"

// ContainerHooks let the container package act on a pod's containers when
// the pod stops or goes. Both calls must be idempotent: they are repeated
// when an interrupted stop or removal is finished at start-up.
type ContainerHooks interface {
	// StopPodContainers stops every container of the pod.
	StopPodContainers(ctx context.Context, podID string) error
	// RemovePodContainers removes every container of the pod.
	RemovePodContainers(ctx context.Context, podID string) error
}

// NoContainers is the ContainerHooks of a runtime without containers.
type NoContainers struct{}

// StopPodContainers does nothing.
func (NoContainers) StopPodContainers(context.Context, string) error { return nil }

// RemovePodContainers does nothing.
func (NoContainers) RemovePodContainers(context.Context, string) error { return nil }
