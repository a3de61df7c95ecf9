package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/checkpoint"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/oci"
)

// A container restored from a checkpoint archive (CreateContainer whose
// image is the archive's absolute path, as with CRI-O) is created like any
// other on the checkpointed container's image, with the checkpointed
// writable layer, but with no process: CRIU restores the processes at
// StartContainer, under a new monitor. Until then the record's Restore names
// the unpacked CRIU images, kept under the container's dir in the root dir.

// restoreSource is an unpacked checkpoint for a container being created.
type restoreSource struct {
	src *checkpoint.Source
	old Record // the checkpointed container's record
}

// openRestore unpacks the checkpoint archive at path for container id. The
// caller removes p.dir on failure.
func (m *Manager) openRestore(ctx context.Context, p paths, path string) (*restoreSource, error) {
	src, err := checkpoint.Unpack(ctx, path, filepath.Join(p.dir, "checkpoint"))
	if err != nil {
		return nil, err
	}
	var old Record
	if err := json.Unmarshal(src.Record, &old); err != nil || old.ImageID == "" {
		return nil, fmt.Errorf("checkpoint archive %s: unreadable container record: %w", path, errdefs.ErrInvalidArgument)
	}
	if old.TTY {
		return nil, fmt.Errorf("checkpoint archive %s: container %s has a terminal, which CRIU cannot restore here: %w", path, old.ID, errdefs.ErrFailedPrecondition)
	}
	return &restoreSource{src: src, old: old}, nil
}

// startRestored restores a created container's processes from its
// checkpoint under a new monitor. The caller marked c busy (c.mu is not
// held); rec is its record.
func (m *Manager) startRestored(ctx context.Context, c *ctr, rec Record) error {
	id := rec.ID
	p := m.paths(id)
	started := time.Now().UnixNano() // before the processes run again
	mon, err := m.rt.Create(ctx, oci.CreateOptions{ID: id, Bundle: p.bundle, Monitor: m.monitorOptions(&rec, p), RestoreFrom: rec.Restore})
	if err != nil {
		// Whatever CRIU left (a cgroup, a half-restored tree) goes; the
		// container stays created and can be started again.
		if derr := m.rt.Destroy(context.WithoutCancel(ctx), id); derr != nil {
			klog.Errorf("container %s: clean up a failed restore: %v", id, derr)
		}
		return fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	c.mu.Lock()
	c.rec.Restore = ""
	c.rec.State = StateRunning
	c.rec.StartedAt = started
	c.rec.MonitorPID, c.rec.InitPID = mon.PID, mon.InitPID
	// Watched from here, whatever the save does: the processes run.
	m.watchLocked(c, mon)
	err = m.save(ctx, &c.rec)
	if err == nil {
		m.emit(&c.rec)
	}
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	if err := os.RemoveAll(filepath.Dir(rec.Restore)); err != nil {
		klog.Warningf("container %s: remove restored checkpoint: %v", id, err)
	}
	return nil
}

// stopUnrestored stops a restored container that was never started: it has
// no process, so its exit is recorded at once, as recordExit records one.
// A restore that began after Stop looked is stopped as a running container,
// with timeout.
func (m *Manager) stopUnrestored(ctx context.Context, c *ctr, timeout time.Duration) error {
	if err := c.lockSettled(ctx); err != nil {
		return err
	}
	switch id := c.rec.ID; {
	case c.rec.State == StateRunning:
		c.mu.Unlock()
		return m.Stop(ctx, id, timeout)
	case c.rec.State != StateCreated || c.rec.Restore == "":
		c.mu.Unlock()
		return nil
	}
	c.rec.State = StateExited
	c.rec.FinishedAt = time.Now().UnixNano()
	c.rec.StartedAt = c.rec.FinishedAt // it never ran
	c.rec.Message = "stopped before its checkpoint was restored"
	if err := m.save(ctx, &c.rec); err != nil {
		c.mu.Unlock()
		return fmt.Errorf("container %s: %w", c.rec.ID, err)
	}
	m.emit(&c.rec)
	snapshot := c.rec
	c.mu.Unlock()
	m.finishExit(ctx, c, snapshot, true)
	return nil
}
