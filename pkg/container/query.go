package container

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Get returns a copy of a container's record; an ID prefix of at least 6
// characters is accepted when it is unique.
func (m *Manager) Get(ctx context.Context, id string) (Record, error) {
	c, err := m.lookup(id)
	if err != nil {
		return Record{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec, nil
}

func (m *Manager) lookup(id string) (*ctr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.ctrs[id]; ok {
		return c, nil
	}
	if len(id) >= 6 {
		var found *ctr
		for cid, c := range m.ctrs {
			if strings.HasPrefix(cid, id) {
				if found != nil {
					return nil, fmt.Errorf("container ID prefix %s is ambiguous: %w", id, errdefs.ErrInvalidArgument)
				}
				found = c
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
}

// Filter selects containers; zero fields match everything.
type Filter struct {
	// IDPrefix matches container IDs that start with it.
	IDPrefix string
	// PodID matches containers of that pod (a prefix).
	PodID string
	// State matches one state.
	State State
	// Labels must all be present with these values.
	Labels map[string]string
}

// List returns copies of the records that match f, oldest first.
func (m *Manager) List(ctx context.Context, f Filter) []Record {
	m.mu.Lock()
	all := make([]*ctr, 0, len(m.ctrs))
	for _, c := range m.ctrs {
		all = append(all, c)
	}
	m.mu.Unlock()
	var out []Record
	for _, c := range all {
		c.mu.Lock()
		rec := c.rec
		c.mu.Unlock()
		if f.matches(&rec) {
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt < out[j].CreatedAt })
	return out
}

func (f Filter) matches(r *Record) bool {
	if f.IDPrefix != "" && !strings.HasPrefix(r.ID, f.IDPrefix) {
		return false
	}
	if f.PodID != "" && !strings.HasPrefix(r.PodID, f.PodID) {
		return false
	}
	if f.State != "" && r.State != f.State {
		return false
	}
	for k, v := range f.Labels {
		if r.Labels[k] != v {
			return false
		}
	}
	return true
}

// PodContainers lists the IDs of a pod's containers.
func (m *Manager) PodContainers(podID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, c := range m.ctrs {
		if c.rec.PodID == podID {
			ids = append(ids, id)
		}
	}
	return ids
}

// StopPodContainers kills every container of a pod and waits for them.
func (m *Manager) StopPodContainers(ctx context.Context, podID string) error {
	for _, id := range m.PodContainers(podID) {
		if err := m.Stop(ctx, id, 0); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// RemovePodContainers removes every container of a pod.
func (m *Manager) RemovePodContainers(ctx context.Context, podID string) error {
	for _, id := range m.PodContainers(podID) {
		if err := m.Remove(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
