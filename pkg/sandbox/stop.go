package sandbox

import (
	"context"
	"fmt"

	"k8s.io/klog/v2"
)

// Stop stops pod id: its containers (through the hooks), its PID 1 and its
// network. Stopping a stopped or unknown pod succeeds. A network that
// cannot be detached (a broken plugin, bounded by the plugin timeout) is
// logged and kept in the pod's status; the pod stops all the same, and
// removal tries again.
func (m *Manager) Stop(ctx context.Context, id string) error {
	p, err := m.lookup(id)
	if err != nil || p == nil {
		return err
	}
	p.op.Lock()
	defer p.op.Unlock()
	return m.stopLocked(ctx, p)
}

// stopLocked stops p; the caller holds p.op.
func (m *Manager) stopLocked(ctx context.Context, p *pod) error {
	timer := newStepTimer()
	sb := p.get()
	switch sb.State {
	case StateCreating, StateRemoving:
		return nil
	case StateNotReady:
		if !sb.Resources.NetworkAttached {
			return nil
		}
		// A detach failed earlier: try again.
	}
	defer timer.log("stopped", sb.ID)
	// Plugins hear of the stop once, not on a retry of the network detach.
	tellNRI := sb.State == StateReady || sb.State == StateStopping
	if sb.State != StateStopping {
		sb = p.update(func(s *Sandbox) { s.State = StateStopping })
		if err := m.put(ctx, sb); err != nil {
			return err
		}
		timer.mark("record")
	}
	if err := m.faults.At("stopping"); err != nil {
		return err
	}
	// No container is made in a stopping pod: wait for those being made.
	if err := waitHolds(ctx, p); err != nil {
		return err
	}
	if err := m.containers().StopPodContainers(ctx, sb.ID); err != nil {
		return fmt.Errorf("pod %s: stop containers: %w", sb.ID, err)
	}
	timer.mark("containers")
	if tellNRI {
		if err := m.nri.StopPod(ctx, p.get()); err != nil {
			klog.Errorf("pod %s: %v", sb.ID, err)
		}
		timer.mark("nri")
	}
	if err := m.killPodInit(p); err != nil {
		return err
	}
	timer.mark("pod-init")
	if r := sb.Resources; r.Network != nil && r.NetworkAttached {
		if err := m.net.Del(ctx, r.Network); err != nil {
			klog.Errorf("pod %s: network teardown failed, the pod stops and removal retries it: %v", sb.ID, err)
			p.update(func(s *Sandbox) { s.NetworkError = err.Error() })
		} else {
			p.update(func(s *Sandbox) { s.Resources.NetworkAttached, s.NetworkError, s.IPs = false, "", nil })
		}
		timer.mark("cni-del")
	}
	if err := m.faults.At("stopped"); err != nil {
		return err
	}
	err := m.put(ctx, p.update(func(s *Sandbox) { s.State = StateNotReady }))
	timer.mark("record")
	if err == nil {
		m.emit(p, EventStopped)
	}
	return err
}
