package sandbox

import (
	"context"
	"fmt"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// PodHooks are told of the lifecycle points of every pod so that Node
// Resource Interface plugins can act on them (*nri.NRI). They are called
// with the pod's operation lock held but no lock that status, list or
// container calls need.
type PodHooks interface {
	// BlockSync holds back the synchronization of newly connecting plugins
	// until the returned function is called.
	BlockSync() func()
	// RunPod is called when the pod is made but not yet ready (not listed,
	// no container can be made in it); an error fails and undoes the Run.
	RunPod(ctx context.Context, sb Sandbox) error
	// StopPod is called once when the pod stops: its containers have
	// stopped, its namespaces and network are still there.
	StopPod(ctx context.Context, sb Sandbox) error
	// RemovePod is called when the pod is gone.
	RemovePod(ctx context.Context, sb Sandbox) error
	// UpdatePod is called before the pod's resources change to those of
	// sb; an error fails the update.
	UpdatePod(ctx context.Context, sb Sandbox) error
	// PostUpdatePod follows a successful update.
	PostUpdatePod(ctx context.Context, sb Sandbox)
}

// noPodHooks are the PodHooks of a runtime without NRI.
type noPodHooks struct{}

func (noPodHooks) BlockSync() func()                        { return func() {} }
func (noPodHooks) RunPod(context.Context, Sandbox) error    { return nil }
func (noPodHooks) StopPod(context.Context, Sandbox) error   { return nil }
func (noPodHooks) RemovePod(context.Context, Sandbox) error { return nil }
func (noPodHooks) UpdatePod(context.Context, Sandbox) error { return nil }
func (noPodHooks) PostUpdatePod(context.Context, Sandbox)   {}

// HoldReady returns ready pod id and keeps it from stopping until release
// is called: a Stop or Remove that comes meanwhile marks the pod stopping
// at once (no new hold is granted) and waits for the holds to go before it
// stops the pod's containers. So a container being made in the pod is
// either made before the pod's containers are stopped, or refused. A pod
// that is not ready gives errdefs.ErrFailedPrecondition, an unknown one
// errdefs.ErrNotFound. No lock is held while the caller holds the pod.
func (m *Manager) HoldReady(ctx context.Context, id string) (sb Sandbox, release func(), err error) {
	p, err := m.lookup(id)
	if err != nil {
		return Sandbox{}, nil, err
	}
	if p == nil {
		return Sandbox{}, nil, fmt.Errorf("pod %s: %w", id, errdefs.ErrNotFound)
	}
	sb = observe(p)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.sb.State == StateCreating:
		return Sandbox{}, nil, fmt.Errorf("pod %s: %w", id, errdefs.ErrNotFound)
	case p.sb.State != StateReady || sb.State != StateReady:
		return Sandbox{}, nil, fmt.Errorf("pod %s is not ready (%s): %w", p.sb.ID, sb.State, errdefs.ErrFailedPrecondition)
	}
	p.holds++
	if p.holds == 1 {
		p.idle = make(chan struct{})
	}
	done := false
	release = func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if done {
			return
		}
		done = true
		p.holds--
		if p.holds == 0 {
			close(p.idle)
			p.idle = nil
		}
	}
	return sb, release, nil
}

// waitHolds waits until no container is being made in p; the caller has
// marked p stopping, so no new hold comes.
func waitHolds(ctx context.Context, p *pod) error {
	p.mu.RLock()
	idle := p.idle
	p.mu.RUnlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pod %s: waiting for containers being made: %w", p.get().ID, ctx.Err())
	}
}
