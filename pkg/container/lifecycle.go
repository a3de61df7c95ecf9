package container

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/monitor"
)

// watch follows the container's monitor until it exits, then records the
// exit. mon is the monitor when this process started it (and must reap it).
func (m *Manager) watch(c *ctr, mon *monitor.Monitor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.watchLocked(c, mon)
}

// watchLocked is watch with c.mu held.
func (m *Manager) watchLocked(c *ctr, mon *monitor.Monitor) {
	if c.watching {
		return
	}
	c.watching = true
	pid := c.rec.MonitorPID
	go func() {
		if err := monitor.WaitPID(context.Background(), pid); err != nil {
			klog.Errorf("container %s: waiting for monitor %d: %v", c.rec.ID, pid, err)
		}
		if mon != nil {
			_ = mon.Wait()
		}
		m.recordExit(c)
	}()
}

// recordExit stores the exit the monitor wrote, releases the container's
// runtime state, rootfs and image volume mounts, and wakes whoever waits
// for the exit.
func (m *Manager) recordExit(c *ctr) {
	// An exit during a start is recorded after the start is: a start
	// always ends, so the wait has no bound.
	_ = c.lockSettled(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := &c.rec
	p := m.paths(rec.ID)
	exited := false
	if rec.State == StateCreated || rec.State == StateRunning {
		e, err := monitor.ReadExit(p.exitFile)
		switch {
		case err == nil:
			rec.ExitCode = int32(e.ExitCode)
			rec.FinishedAt = e.FinishedAt
			switch {
			case e.OOMKilled:
				rec.Reason = ReasonOOMKilled
			case e.ExitCode == 0:
				rec.Reason = ReasonCompleted
			default:
				rec.Reason = ReasonError
			}
		default:
			// The monitor died without recording an exit: nothing owns the
			// container's stdio or status any more, so end it.
			klog.Errorf("container %s: monitor %d ended without an exit status (%v): killing the container", rec.ID, rec.MonitorPID, err)
			_ = m.rt.Signal(ctx, rec.ID, unix.SIGKILL)
			rec.ExitCode = 255
			rec.FinishedAt = time.Now().UnixNano()
			rec.Reason = ReasonError
			rec.Message = "the container's monitor ended without recording an exit status"
		}
		if rec.StartedAt == 0 {
			// It never ran; the kubelet expects a start time not after the finish.
			rec.StartedAt = rec.FinishedAt
		}
		rec.State = StateExited
		if err := m.save(ctx, rec); err != nil {
			klog.Errorf("container %s: record exit: %v", rec.ID, err)
		}
		m.emit(rec)
		exited = true
	}
	snapshot := *rec
	c.mu.Unlock()
	m.finishExit(ctx, c, snapshot, exited)
}

// finishExit follows a recorded exit (c.mu not held): it releases the
// runtime state and the rootfs, tells NRI plugins of the exit when it was
// just recorded (exited), and then wakes whoever waits for it, so a Remove
// that waited never races the cleanup and reaches plugins after the stop.
func (m *Manager) finishExit(ctx context.Context, c *ctr, snapshot Record, exited bool) {
	m.releaseExited(ctx, snapshot.ID)
	if exited {
		m.nri().StopContainer(ctx, snapshot)
	}
	select {
	case <-c.exited:
	default:
		close(c.exited)
	}
}

// start runs a created container's process (Start, in nri.go, wraps it).
// c.mu is not held while the process starts: the container is marked
// busy instead, so that status and list calls go on, and what would
// change its state waits for the start to record its outcome.
func (m *Manager) start(ctx context.Context, id string) error {
	c, ok := m.get(id)
	if !ok {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	c.mu.Lock()
	if c.rec.State != StateCreated {
		c.mu.Unlock()
		return fmt.Errorf("container %s is %s, not created: %w", id, c.rec.State, errdefs.ErrFailedPrecondition)
	}
	if c.busy != nil {
		c.mu.Unlock()
		return fmt.Errorf("container %s is being started: %w", id, errdefs.ErrFailedPrecondition)
	}
	end := c.setBusy()
	rec := c.rec
	c.mu.Unlock()
	defer end()
	if rec.Restore != "" {
		return m.startRestored(ctx, c, rec)
	}
	// Taken before the release: a process that exits at once must not
	// finish before it started.
	started := time.Now().UnixNano()
	if err := m.rt.Start(ctx, id); err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	_ = m.faults.At("start")
	// The state is still created: its changes wait for c.busy.
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rec.State = StateRunning
	c.rec.StartedAt = started
	if err := m.save(ctx, &c.rec); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	m.emit(&c.rec)
	return nil
}

// slowStop is how long a container may take to exit on its stop signal
// before Stop logs (at level 2) what its init is doing.
const slowStop = 10 * time.Second

// Stop stops a container: its stop signal, then SIGKILL after timeout
// (at once when timeout is 0). Stopping an exited container does nothing.
func (m *Manager) Stop(ctx context.Context, id string, timeout time.Duration) error {
	c, ok := m.get(id)
	if !ok {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	// A stop right after a start stops the started process, with its grace.
	if err := c.lockSettled(ctx); err != nil {
		return err
	}
	state, stopSig, unrestored := c.rec.State, c.rec.StopSig, c.rec.Restore != ""
	c.mu.Unlock()
	switch state {
	case StateExited, StateRemoving:
		return nil
	case StateCreated:
		if unrestored {
			return m.stopUnrestored(ctx, c, timeout)
		}
		// A parked init never ran the user's process: no grace to give.
		timeout = 0
	}
	if timeout > 0 {
		sig, err := parseSignal(stopSig)
		if err != nil {
			klog.Warningf("container %s: stop signal %q: %v; using SIGTERM", id, stopSig, err)
			sig = unix.SIGTERM
		}
		if err := m.rt.Signal(ctx, id, sig); err != nil {
			return err
		}
		// slow fires once, for the log; nil (never) for a short timeout.
		var slow <-chan time.Time
		if timeout > slowStop {
			slow = time.After(slowStop)
		}
		killAt := time.After(timeout)
	wait:
		for {
			select {
			case <-c.exited:
				return nil
			case <-slow:
				klog.V(2).Infof("container %s: still running %s after %v (%s)", id, slowStop, sig, m.rt.InitSignals(id))
				slow = nil
			case <-killAt:
				klog.V(2).Infof("container %s: still running %s after %v: killing it (%s)", id, timeout, sig, m.rt.InitSignals(id))
				break wait
			case <-ctx.Done():
				return fmt.Errorf("container %s: stop: %w", id, ctx.Err())
			}
		}
	}
	if err := m.rt.Signal(ctx, id, unix.SIGKILL); err != nil {
		return err
	}
	_ = m.faults.At("stop")
	select {
	case <-c.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("container %s: waiting for exit after SIGKILL: %w", id, ctx.Err())
	}
}

// remove stops a container if needed and removes its runtime state, writable
// layer and record. Removing an unknown container is not an error; the log
// file stays (the kubelet owns it). Remove, in nri.go, wraps it.
func (m *Manager) remove(ctx context.Context, id string) error {
	c, ok := m.get(id)
	if !ok {
		return nil
	}
	// Stopped and settled; a start between the two runs the loop once more
	// (a container starts at most once).
	for {
		if err := m.Stop(ctx, id, 0); err != nil {
			return err
		}
		if err := c.lockSettled(ctx); err != nil {
			return err
		}
		if c.rec.State != StateRunning {
			break
		}
		c.mu.Unlock()
	}
	if c.removed {
		c.mu.Unlock()
		return nil
	}
	if c.rec.State != StateRemoving {
		c.rec.State = StateRemoving
		if err := m.save(ctx, &c.rec); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("container %s: %w", id, err)
		}
	}
	// The teardown (the writable layer's removal can take long) runs
	// without c.mu: status and list go on, showing the container removing.
	end := c.setBusy()
	rec := c.rec
	c.mu.Unlock()
	defer end()
	if err := m.faults.At("remove"); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	if err := m.teardown(ctx, &rec); err != nil {
		return fmt.Errorf("container %s: remove: %w", id, err)
	}
	if err := m.forget(ctx, id); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	c.mu.Lock()
	c.removed = true // seen by a remove waiting for this one
	c.mu.Unlock()
	m.mu.Lock()
	delete(m.ctrs, id)
	m.mu.Unlock()
	forgetStats(id)
	m.release(nameKey(rec.PodID, rec.Name, rec.Attempt), id)
	m.emit(&Record{ID: id, PodID: rec.PodID, State: StateRemoving})
	return nil
}

// ReopenLog makes a running container's monitor reopen its log file.
func (m *Manager) ReopenLog(ctx context.Context, id string) error {
	c, ok := m.get(id)
	if !ok {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	c.mu.Lock()
	state := c.rec.State
	c.mu.Unlock()
	if state != StateRunning {
		return fmt.Errorf("container %s is %s, not running: %w", id, state, errdefs.ErrFailedPrecondition)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := monitor.ReopenLog(ctx, m.paths(id).socket); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	return nil
}

// parseSignal reads a stop signal: "SIGTERM", "TERM", "15" or "" (SIGTERM).
func parseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return unix.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d out of range", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errors.New("unknown signal")
}
