package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cri-shim/cri-shim/pkg/sandbox/podns"
)

// teardown undoes everything the pod's record says it may have, in reverse
// order; every step is idempotent, so it also finishes an interrupted
// teardown. It stops at the first step that fails and must be retried,
// leaving the later (earlier-made) resources in place. The network is
// detached when the pod says it may be attached, or always with
// forceDetach (a creation interrupted by a crash did not record it).
func (m *Manager) teardown(ctx context.Context, p *pod, forceDetach bool) error {
	sb := p.get()
	r := &sb.Resources
	if err := m.killPodInit(p); err != nil {
		return err
	}
	if r.Network != nil && (forceDetach || r.NetworkAttached) {
		if err := m.net.Del(ctx, r.Network); err != nil {
			p.update(func(s *Sandbox) { s.NetworkError = err.Error() })
			return err
		}
		p.update(func(s *Sandbox) { s.Resources.NetworkAttached, s.NetworkError, s.IPs = false, "", nil })
	}
	var errs []error
	for _, pin := range []string{r.NetNS, r.IPCNS, r.UTSNS, r.UserNS} {
		if pin != "" {
			if err := podns.Unpin(pin); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if r.ShmPath != "" && r.ShmPath != HostShm {
		if err := unmountShm(r.ShmPath); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Never remove a directory with something still mounted in it.
		return fmt.Errorf("pod %s: %w", sb.ID, errors.Join(errs...))
	}
	if err := m.cgroups.remove(sb.ID, r.Cgroup); err != nil {
		return fmt.Errorf("pod %s: %w", sb.ID, err)
	}
	if err := os.RemoveAll(r.Dir); err != nil {
		return fmt.Errorf("pod %s: remove state dir: %w", sb.ID, err)
	}
	return nil
}

// killPodInit kills the pod's PID 1, found by its record or, when the
// record was not updated after it started, by its command line.
func (m *Manager) killPodInit(p *pod) error {
	p.mu.RLock()
	sb := p.sb.clone()
	exited := p.initExited
	p.mu.RUnlock()
	r := &sb.Resources
	if !r.WantPodInit && r.UserNS == "" {
		return nil // the pod never had a process of its own
	}
	// Without a PID 1 of record, a user namespace's short-lived holder may
	// be left by a crash: it is found by its command line too.
	procs := []*Process{r.PodInit}
	if r.PodInit == nil {
		procs = findPodInit(sb.ID)
	}
	for _, proc := range procs {
		if err := kill(proc); err != nil {
			return fmt.Errorf("pod %s: pod init: %w", sb.ID, err)
		}
	}
	if exited != nil {
		// Our own child: wait until it is reaped, so no zombie stays behind.
		select {
		case <-exited:
		case <-time.After(killWait):
		}
	}
	return nil
}
