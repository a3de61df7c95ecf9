// Package container runs CRI containers: it keeps each container's record,
// mounts its root filesystem, builds its OCI spec, starts it under a monitor
// through pkg/oci, follows its exit, and recovers all of it after a daemon
// restart.
package container

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cri-shim/cri-shim/internal/faultinject"
	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/metadata"
	"github.com/cri-shim/cri-shim/pkg/oci"
)

// Pod is what a container needs from its pod sandbox.
type Pod struct {
	// Sandbox holds the namespaces, hostname and files containers share.
	Sandbox spec.Sandbox
	// Ready is false once the pod was stopped: no new containers then.
	Ready bool
	// LogDirectory is the pod's log dir; container log paths are relative to it.
	LogDirectory string
	// CgroupParent is the cgroup containers go under (cgroupfs path).
	CgroupParent string
}

// PodSource looks pods up.
type PodSource interface {
	// Pod returns the pod id, or an error of kind errdefs.ErrNotFound.
	Pod(ctx context.Context, id string) (*Pod, error)
}

// Image is what a container needs from its image.
type Image struct {
	// ID is the image ID (its config digest).
	ID string
	// Ref is the name the image is known by, for the status (a repo tag or digest).
	Ref string
	// Config is the image's runtime config.
	Config ocispec.ImageConfig
	// Layers are the image's unpacked layer dirs, topmost first.
	Layers []string
}

// ImageSource resolves images and keeps the ones containers use.
type ImageSource interface {
	// Resolve finds an image by ID, tag or digest (errdefs.ErrNotFound if absent).
	Resolve(ctx context.Context, ref string) (*Image, error)
	// Lease resolves ref like Resolve and, at once, keeps the image's
	// layers while owner uses them, until Release(owner). Leasing again
	// for an owner replaces its lease.
	Lease(ctx context.Context, owner, ref string) (*Image, error)
	// Release drops owner's lease; an absent lease is not an error.
	Release(ctx context.Context, owner string) error
	// Leases lists the owners holding leases.
	Leases(ctx context.Context) ([]string, error)
}

// Options configure a Manager.
type Options struct {
	// Root is <root_dir>/containers: writable layers.
	Root string
	// State is <state_dir>/containers: bundles, exit files, sockets.
	State string
	// Store is the daemon's metadata database.
	Store metadata.Store
	// Pods and Images are the sandbox and image services.
	Pods   PodSource
	Images ImageSource
	// Host holds facts about this machine for the spec.
	Host spec.Host
	// Binary is the cri-shim binary re-executed as monitor and create command; "" = /proc/self/exe.
	Binary string
	// SpareMonitors is how many monitors are kept started ahead of
	// creates (oci.Runtime.Spares); 0 starts each on demand.
	SpareMonitors int
	// Events, if set, is told of every state change.
	Events func(Event)
	// NRI, if set, is told of every lifecycle point (NRI plugins).
	NRI NRI
}

// Manager runs containers. Its methods are safe for concurrent use; each
// container has its own lock, never held across slow work.
type Manager struct {
	o      Options
	rt     *oci.Runtime
	faults faultinject.Points // test-only fault injection (FaultEnv); nil in production

	usernsOnce sync.Once
	userns     bool // see UserNamespaces

	mu    sync.Mutex
	ctrs  map[string]*ctr
	names map[string]string // pod/name/attempt -> container ID, reserved from the start of a create
}

// New returns a Manager; call Recover before serving.
func New(o Options) *Manager {
	return &Manager{
		o:      o,
		rt:     &oci.Runtime{StateRoot: filepath.Join(o.State, "runc"), Binary: o.Binary, Spares: o.SpareMonitors},
		ctrs:   map[string]*ctr{},
		names:  map[string]string{},
		faults: faultinject.FromEnv(FaultEnv),
	}
}

// ctr is one container in memory.
type ctr struct {
	mu  sync.Mutex
	rec Record
	// exited is closed once the container's exit has been recorded.
	exited chan struct{}
	// watching is true while a goroutine follows the monitor.
	watching bool
	// busy is set, under mu, while a start or a removal works on the
	// container without holding mu (the init's exec, a CRIU restore, the
	// writable layer's removal); it is closed when that operation has
	// recorded its outcome. What would change the container's state (a
	// stop, a remove, an exit, new resources) waits for it.
	busy chan struct{}
	// removed is set once a removal has finished: the container is gone.
	removed bool
}

// setBusy marks c busy; c.mu is held. The function it returns, called
// without c.mu, ends the mark and wakes whoever waits in lockSettled.
func (c *ctr) setBusy() (end func()) {
	done := make(chan struct{})
	c.busy = done
	return func() {
		c.mu.Lock()
		c.busy = nil
		c.mu.Unlock()
		close(done)
	}
}

// lockSettled locks c.mu once no start or removal is running: on return
// c.mu is held and c.busy is nil, or ctx ended first and c.mu is not held.
func (c *ctr) lockSettled(ctx context.Context) error {
	c.mu.Lock()
	for c.busy != nil {
		done, id := c.busy, c.rec.ID
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("container %s: waiting for its start or removal: %w", id, ctx.Err())
		}
		c.mu.Lock()
	}
	return nil
}

func nameKey(podID, name string, attempt uint32) string {
	return fmt.Sprintf("%s/%s/%d", podID, name, attempt)
}

func (m *Manager) get(id string) (*ctr, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.ctrs[id]
	return c, ok
}

// Event is a container state change.
type Event struct {
	// ID is the container's ID and PodID its pod's.
	ID, PodID string
	// State is the new state.
	State State
	// At is when it happened.
	At time.Time
}

func (m *Manager) emit(rec *Record) {
	if m.o.Events != nil {
		m.o.Events(Event{ID: rec.ID, PodID: rec.PodID, State: rec.State, At: time.Now()})
	}
}

// Close lets the spare monitors go. Containers keep running under their
// monitors.
func (m *Manager) Close() { m.rt.Close() }
