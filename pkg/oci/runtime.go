// Package oci runs OCI containers through runc's libcontainer, each under a
// monitor (pkg/monitor) that owns its stdio, logs and exit status.
//
// Creating a container runs the cri-shim binary twice: as the monitor, and,
// under it, as "cri-shim __create", which builds the libcontainer config from
// the bundle's config.json, starts the container's init parked before the
// user's process, reports the init's PID and exits, leaving the init to the
// monitor. Start, signal, update and destroy act on the saved libcontainer
// state from the daemon.
package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/monitor"
)

// CreateArg is the argv[1] of the create command.
const CreateArg = "__create"

// Runtime creates and drives containers whose libcontainer state lives under StateRoot.
type Runtime struct {
	// StateRoot holds libcontainer's state, a directory per container.
	StateRoot string
	// Binary is the cri-shim binary to re-execute; "" means /proc/self/exe.
	Binary string
	// Spares is how many spare monitors (pkg/monitor.Spare) Create keeps
	// started ahead, from its first call until SpareIdle passes without
	// one; 0 starts every monitor on demand.
	Spares int
	// SpareIdle is how long spares outlive the last Create (0: a minute).
	SpareIdle time.Duration

	spares spares
}

// CreateOptions describe one container to create.
type CreateOptions struct {
	// ID is the container's ID.
	ID string
	// Bundle is the directory holding config.json; the rootfs in it is mounted.
	Bundle string
	// Monitor options; Binary and Create are filled in by Create.
	Monitor monitor.Options
	// RestoreFrom, when set, names CRIU images (a checkpoint written by
	// CheckpointContainer) to restore the container's processes from,
	// running, instead of starting a parked init. The stdio pipes are
	// reconnected to the new monitor; a terminal cannot be (no TTY).
	RestoreFrom string
}

// Create starts the container's monitor and, under it, the container's init,
// parked before the user's process runs, or, with o.RestoreFrom, its
// restored processes, running.
func (r *Runtime) Create(ctx context.Context, o CreateOptions) (*monitor.Monitor, error) {
	if o.RestoreFrom != "" && o.Monitor.TTY {
		return nil, fmt.Errorf("container %s: restore: a container with a terminal cannot be restored", o.ID)
	}
	bin := r.binary()
	mo := o.Monitor
	mo.Binary = bin
	mo.Create = []string{bin, CreateArg, r.StateRoot, o.ID, o.Bundle}
	if mo.TTY {
		mo.Create = append(mo.Create, "--tty")
	}
	if o.RestoreFrom != "" {
		mo.Create = append(mo.Create, restoreFlag, o.RestoreFrom)
	}
	m, err := r.startMonitor(ctx, mo)
	if err != nil {
		if o.RestoreFrom != "" {
			return nil, fmt.Errorf("container %s: restore: %w", o.ID, restoreErrors(err, o.RestoreFrom))
		}
		return nil, fmt.Errorf("container %s: create: %w", o.ID, err)
	}
	return m, nil
}

// binary is the cri-shim binary the monitors and create commands run.
func (r *Runtime) binary() string {
	if r.Binary == "" {
		return "/proc/self/exe"
	}
	return r.Binary
}

func (r *Runtime) load(id string) (*libcontainer.Container, error) {
	c, err := libcontainer.Load(r.StateRoot, id)
	if errors.Is(err, libcontainer.ErrNotExist) || errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %s: no runtime state: %w", id, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: load runtime state: %w", id, err)
	}
	return c, nil
}

// Start lets a created container's init run the user's process, and returns
// once the init is alone in its exec of it (or past it). Until then the init
// is libcontainer's multi-threaded Go code: a signal sent in that window (a
// StopContainer right after StartContainer) can be taken by one of its
// threads that the exec then ends, and is lost: the user's process never
// sees it.
func (r *Runtime) Start(ctx context.Context, id string) error {
	c, err := r.load(id)
	if err != nil {
		return err
	}
	st, err := c.State()
	if err != nil {
		return fmt.Errorf("container %s: state: %w", id, err)
	}
	if err := c.Exec(); err != nil {
		return fmt.Errorf("container %s: start: %w", id, err)
	}
	if err := waitExec(ctx, st.InitProcessPid, st.InitProcessStartTime); err != nil {
		klog.Warningf("container %s: %v", id, err)
	}
	return nil
}

// Signal sends sig to the container's init (SIGKILL reaches every process
// of a container that shares its PID namespace). A container that is not
// running is not an error.
func (r *Runtime) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	c, err := r.load(id)
	if err != nil {
		return err
	}
	err = c.Signal(sig)
	if errors.Is(err, libcontainer.ErrNotRunning) {
		klog.V(2).Infof("container %s: %v not sent: its init is gone", id, sig)
		return nil
	}
	if err != nil {
		return fmt.Errorf("container %s: signal %v: %w", id, sig, err)
	}
	return nil
}

// Status reports libcontainer's view: created, running, paused or stopped.
func (r *Runtime) Status(ctx context.Context, id string) (libcontainer.Status, error) {
	c, err := r.load(id)
	if err != nil {
		return libcontainer.Stopped, err
	}
	return c.Status()
}

// Update applies new resources to a container's cgroups.
func (r *Runtime) Update(ctx context.Context, id string, apply func(*cgroups.Resources)) error {
	c, err := r.load(id)
	if err != nil {
		return err
	}
	cfg := c.Config()
	if cfg.Cgroups == nil || cfg.Cgroups.Resources == nil {
		return fmt.Errorf("container %s: no cgroup resources", id)
	}
	apply(cfg.Cgroups.Resources)
	if err := c.Set(cfg); err != nil {
		return fmt.Errorf("container %s: update resources: %w", id, err)
	}
	return nil
}

// Container returns the libcontainer view of id, for stats and exec.
func (r *Runtime) Container(id string) (*libcontainer.Container, error) { return r.load(id) }

// Destroy kills whatever is left of the container, waits for it to stop, and
// removes its cgroups and runtime state. Destroying an unknown container is
// not an error.
func (r *Runtime) Destroy(ctx context.Context, id string) error {
	c, err := r.load(id)
	if errors.Is(err, errdefs.ErrNotFound) {
		// A create that died before libcontainer wrote its state may leave the dir.
		_ = os.RemoveAll(filepath.Join(r.StateRoot, id))
		return nil
	}
	if err != nil {
		return err
	}
	for {
		st, err := c.Status()
		if err != nil {
			return fmt.Errorf("container %s: status: %w", id, err)
		}
		if st == libcontainer.Stopped {
			break
		}
		if st == libcontainer.Paused {
			_ = c.Resume()
		}
		if err := c.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
			return fmt.Errorf("container %s: kill: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container %s: waiting for it to stop: %w", id, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := c.Destroy(); err != nil {
		return fmt.Errorf("container %s: destroy: %w", id, err)
	}
	return nil
}
