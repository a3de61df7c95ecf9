package sandbox

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/network"
)

// Get returns pod id (an ID or a unique prefix of one). A pod whose PID 1
// died is reported not ready. An unknown pod is errdefs.ErrNotFound.
func (m *Manager) Get(ctx context.Context, id string) (Sandbox, error) {
	p, err := m.lookup(id)
	if err != nil {
		return Sandbox{}, err
	}
	if p == nil {
		return Sandbox{}, fmt.Errorf("pod %s: %w", id, errdefs.ErrNotFound)
	}
	return observe(p), nil
}

// List returns every pod that has been made (none still being made), oldest first.
func (m *Manager) List(ctx context.Context) []Sandbox {
	m.mu.RLock()
	pods := make([]*pod, 0, len(m.pods))
	for _, p := range m.pods {
		pods = append(pods, p)
	}
	m.mu.RUnlock()
	out := make([]Sandbox, 0, len(pods))
	for _, p := range pods {
		if sb := observe(p); sb.State != StateCreating {
			out = append(out, sb)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Check runs a CNI CHECK of the pod's network now; a pod without one (host
// network, or stopped) checks out.
func (m *Manager) Check(ctx context.Context, id string) error {
	sb, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	if sb.Resources.Network == nil || !sb.Resources.NetworkAttached {
		return nil
	}
	return m.net.Check(ctx, sb.Resources.Network)
}

// checkMaxAge is how old a pod's last CNI CHECK may be before
// LastNetworkCheck starts another.
const checkMaxAge = 30 * time.Second

// NetworkCheck is the outcome of a CNI CHECK of a pod's network.
type NetworkCheck struct {
	// At is when it ended; zero while none has.
	At time.Time `json:"at"`
	// Result is "ok", "not supported" or the error.
	Result  string `json:"result"`
	running bool
}

// LastNetworkCheck returns the pod's last CNI CHECK and, when there is none
// or it is older than checkMaxAge, starts one in the background: a status
// call never waits for plugins. ok is false for a pod without a network.
func (m *Manager) LastNetworkCheck(ctx context.Context, id string) (check NetworkCheck, ok bool, err error) {
	p, err := m.lookup(id)
	if err != nil {
		return NetworkCheck{}, false, err
	}
	if p == nil {
		return NetworkCheck{}, false, fmt.Errorf("pod %s: %w", id, errdefs.ErrNotFound)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.sb.Resources.Network
	if a == nil || !p.sb.Resources.NetworkAttached || p.sb.State != StateReady {
		return NetworkCheck{}, false, nil
	}
	check = p.check
	if !p.check.running && time.Since(p.check.At) > checkMaxAge {
		p.check.running = true
		go m.runCheck(p, a)
	}
	return check, true, nil
}

// runCheck runs a CNI CHECK of p's network and records the outcome.
func (m *Manager) runCheck(p *pod, a *network.Attachment) {
	result := "ok"
	err := m.net.Check(context.Background(), a)
	if errors.Is(err, errdefs.ErrNotImplemented) {
		result = "not supported"
	} else if err != nil {
		result = err.Error()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.check = NetworkCheck{At: time.Now(), Result: result}
	if result != "ok" && p.sb.State == StateReady && p.sb.Resources.NetworkAttached {
		klog.Warningf("pod %s: network check: %s", a.PodID, result)
	}
}

// checkAll checks the networks of the ready pods one after the other.
func (m *Manager) checkAll(pods []Sandbox) {
	for _, sb := range pods {
		p, _ := m.lookup(sb.ID)
		if p == nil {
			continue
		}
		p.mu.Lock()
		a := p.sb.Resources.Network
		run := a != nil && p.sb.Resources.NetworkAttached && p.sb.State == StateReady && !p.check.running
		p.check.running = p.check.running || run
		p.mu.Unlock()
		if run {
			m.runCheck(p, a)
		}
	}
}

// observe returns the pod as it is now: a ready pod whose PID 1 has died
// is not ready any more.
func observe(p *pod) Sandbox {
	sb := p.get()
	if sb.State == StateReady && sb.Resources.PodInit != nil && !alive(sb.Resources.PodInit) {
		sb.State = StateNotReady
	}
	return sb
}
