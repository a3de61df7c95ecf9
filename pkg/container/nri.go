package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// NRI is told of the lifecycle points of every container, so that Node
// Resource Interface plugins can act on them (*nri.NRI). The calls that
// return an error can fail the operation; the others only inform. None is
// made with a container's lock held.
type NRI interface {
	// BlockSync holds back the synchronization of newly connecting plugins
	// until the returned function is called.
	BlockSync() func()
	// CreateContainer may adjust the spec s of container rec before it is made.
	CreateContainer(ctx context.Context, rec *Record, s *rspec.Spec) error
	// PostCreateContainer follows a successful create.
	PostCreateContainer(ctx context.Context, rec Record)
	// StartContainer precedes a start.
	StartContainer(ctx context.Context, rec Record) error
	// PostStartContainer follows a successful start.
	PostStartContainer(ctx context.Context, rec Record)
	// UpdateContainer may change the resources r of an update; it returns what to apply.
	UpdateContainer(ctx context.Context, rec Record, r *spec.Resources) (*spec.Resources, error)
	// PostUpdateContainer follows a successful update.
	PostUpdateContainer(ctx context.Context, rec Record)
	// StopContainer follows the exit of a container, once, stopped or not.
	StopContainer(ctx context.Context, rec Record)
	// RemoveContainer follows a removal, or the undoing of a create.
	RemoveContainer(ctx context.Context, rec Record)
}

// noNRI is the NRI of a runtime without it.
type noNRI struct{}

func (noNRI) BlockSync() func()                                           { return func() {} }
func (noNRI) CreateContainer(context.Context, *Record, *rspec.Spec) error { return nil }
func (noNRI) PostCreateContainer(context.Context, Record)                 {}
func (noNRI) StartContainer(context.Context, Record) error                { return nil }
func (noNRI) PostStartContainer(context.Context, Record)                  {}
func (noNRI) UpdateContainer(_ context.Context, _ Record, r *spec.Resources) (*spec.Resources, error) {
	return r, nil
}
func (noNRI) PostUpdateContainer(context.Context, Record) {}
func (noNRI) StopContainer(context.Context, Record)       {}
func (noNRI) RemoveContainer(context.Context, Record)     {}

func (m *Manager) nri() NRI {
	if m.o.NRI == nil {
		return noNRI{}
	}
	return m.o.NRI
}

// Spec returns the OCI spec container id was created with.
func (m *Manager) Spec(ctx context.Context, id string) (*rspec.Spec, error) {
	if _, ok := m.get(id); !ok {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	raw, err := os.ReadFile(filepath.Join(m.paths(id).bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("container %s: spec: %w", id, err)
	}
	var s rspec.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("container %s: spec: %w", id, err)
	}
	return &s, nil
}

// Start starts created container id: NRI plugins hear of it first and may
// refuse it.
func (m *Manager) Start(ctx context.Context, id string) error {
	c, ok := m.get(id)
	if !ok {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if rec.State != StateCreated {
		return fmt.Errorf("container %s is %s, not created: %w", id, rec.State, errdefs.ErrFailedPrecondition)
	}
	if err := m.nri().StartContainer(ctx, rec); err != nil {
		return err
	}
	if err := m.start(ctx, id); err != nil {
		return err
	}
	c.mu.Lock()
	rec = c.rec
	c.mu.Unlock()
	m.nri().PostStartContainer(ctx, rec)
	return nil
}

// Remove removes container id, killing it first; an unknown container is
// not an error. NRI plugins hear of the removal afterwards.
func (m *Manager) Remove(ctx context.Context, id string) error {
	c, ok := m.get(id)
	if !ok {
		return nil
	}
	if err := m.remove(ctx, id); err != nil {
		return err
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	m.nri().RemoveContainer(ctx, rec)
	return nil
}

// UpdateResources applies new limits r to a live container's cgroups and
// records them for its status. NRI plugins may change them first, and
// hear of the update afterwards.
func (m *Manager) UpdateResources(ctx context.Context, id string, r *spec.Resources) error {
	if r == nil {
		return nil
	}
	rec, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	if r, err = m.nri().UpdateContainer(ctx, rec, r); err != nil {
		return err
	}
	if err := m.ApplyResources(ctx, rec.ID, r); err != nil {
		return err
	}
	if rec, err = m.Get(ctx, rec.ID); err == nil {
		m.nri().PostUpdateContainer(ctx, rec)
	}
	return nil
}
