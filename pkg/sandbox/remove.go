package sandbox

import (
	"context"
	"fmt"

	"k8s.io/klog/v2"
)

// Remove removes pod id, stopping it first: its containers (through the
// hooks) and every namespace pin, mount, file, cgroup and network
// attachment it had. Removing an unknown pod succeeds. On failure the pod
// stays, marked as being removed, and a later Remove or the next start-up
// finishes the work.
func (m *Manager) Remove(ctx context.Context, id string) error {
	p, err := m.lookup(id)
	if err != nil || p == nil {
		return err
	}
	p.op.Lock()
	defer p.op.Unlock()
	return m.removeLocked(ctx, p)
}

// removeLocked removes p; the caller holds p.op.
func (m *Manager) removeLocked(ctx context.Context, p *pod) error {
	sb := p.get()
	if sb.State == StateReady || sb.State == StateStopping {
		if err := m.stopLocked(ctx, p); err != nil {
			return err
		}
		sb = p.get()
	}
	if sb.State != StateRemoving {
		sb = p.update(func(s *Sandbox) { s.State = StateRemoving })
		if err := m.put(ctx, sb); err != nil {
			return err
		}
	}
	if err := m.faults.At("removing"); err != nil {
		return err
	}
	if err := m.containers().RemovePodContainers(ctx, sb.ID); err != nil {
		return fmt.Errorf("pod %s: remove containers: %w", sb.ID, err)
	}
	if err := m.teardown(ctx, p, false); err != nil {
		return err
	}
	if err := m.drop(ctx, sb.ID); err != nil {
		return err
	}
	m.forget(sb.ID, &sb.Config)
	m.emit(p, EventDeleted)
	if err := m.nri.RemovePod(ctx, sb); err != nil {
		klog.Errorf("pod %s: %v", sb.ID, err)
	}
	return nil
}
