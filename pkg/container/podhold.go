package container

import "context"

// PodHolder is a PodSource that can keep a pod from stopping while a
// container is made in it, so that no container is ever made in a pod that
// is stopping or stopped (*sandbox.Manager through the daemon's wiring).
type PodHolder interface {
	// HoldPod returns ready pod id and keeps it from stopping until release
	// is called: a pod that is not ready gives errdefs.ErrFailedPrecondition
	// naming it, an unknown one errdefs.ErrNotFound.
	HoldPod(ctx context.Context, id string) (pod *Pod, release func(), err error)
}

// holdPod holds pod id when the PodSource can, and otherwise looks it up.
func (m *Manager) holdPod(ctx context.Context, id string) (*Pod, func(), error) {
	if h, ok := m.o.Pods.(PodHolder); ok {
		return h.HoldPod(ctx, id)
	}
	pod, err := m.o.Pods.Pod(ctx, id)
	return pod, func() {}, err
}
