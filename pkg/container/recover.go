package container

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/metadata"
	"github.com/cri-shim/cri-shim/pkg/monitor"
	"github.com/cri-shim/cri-shim/pkg/rootfs"
)

// Recover rebuilds the manager from the metadata after a start or a crash:
// a create cut short is undone, a removal cut short is finished, running
// containers are followed again through their monitors, and containers whose
// monitor is gone get the exit it recorded (or an error exit). Images in use
// are pinned again.
func (m *Manager) Recover(ctx context.Context) error {
	var recs []Record
	err := m.o.Store.View(ctx, func(tx metadata.Tx) error {
		return tx.ForEach(bucket, func(_ string, v []byte) error {
			var r Record
			if err := jsonUnmarshal(v, &r); err != nil {
				klog.Errorf("skipping unreadable container record: %v", err)
				return nil
			}
			recs = append(recs, r)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("read container records: %w", err)
	}
	kept := map[string]bool{} // records that stay, even ones whose cleanup failed
	for i := range recs {
		rec := &recs[i]
		kept[rec.ID] = true
		switch rec.State {
		case StateCreating, StateRemoving:
			if rec.State == StateCreating {
				m.killUnrecordedMonitor(ctx, rec.ID)
			}
			if err := m.teardown(ctx, rec); err != nil {
				klog.Errorf("container %s: cleanup of a %s container: %v", rec.ID, rec.State, err)
				continue
			}
			if err := m.forget(ctx, rec.ID); err != nil {
				return err
			}
			delete(kept, rec.ID)
			klog.Infof("container %s: %s when the daemon stopped: removed", rec.ID, rec.State)
			continue
		}
		if _, err := m.o.Images.Lease(ctx, rec.ID, rec.ImageID); err != nil {
			klog.Warningf("container %s: lease image %s: %v", rec.ID, rec.ImageID, err)
		}
		c := &ctr{rec: *rec, exited: make(chan struct{})}
		m.mu.Lock()
		m.ctrs[rec.ID] = c
		m.names[nameKey(rec.PodID, rec.Name, rec.Attempt)] = rec.ID
		m.mu.Unlock()
		switch rec.State {
		case StateExited:
			// A crash may have come between recording the exit and the cleanup.
			m.releaseExited(ctx, rec.ID)
			close(c.exited)
		case StateCreated, StateRunning:
			if rec.State == StateCreated && rec.Restore != "" {
				// Not restored yet: no process to follow. A restore cut
				// short by the crash leaves runtime state, which goes.
				if err := m.rt.Destroy(ctx, rec.ID); err != nil {
					klog.Errorf("container %s: clean up a restore cut short: %v", rec.ID, err)
				}
				continue
			}
			if m.isMonitor(rec) {
				if rec.State == StateCreated {
					m.recoverStarted(ctx, c)
				}
				m.watch(c, nil)
			} else {
				// The monitor is gone (it finished while we were down, or the
				// machine rebooted): take its recorded exit.
				c.rec.MonitorPID = 0
				m.recordExit(c)
			}
		}
	}
	m.dropOrphanLeases(ctx, kept)
	m.UserNamespaces() // probed before serving, so Status answers at once
	return nil
}

// killUnrecordedMonitor ends the monitor of a container whose creation was
// cut short before the monitor's PID was recorded, with its process group
// (the create command under it). The monitor runs in a session of its own
// and outlives the daemon: left alone, its create command goes on making
// the container, recreating dirs in the bundle after the rollback removed
// them.
func (m *Manager) killUnrecordedMonitor(ctx context.Context, id string) {
	exitArg := "--exit-file=" + m.paths(id).exitFile
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(raw), "\x00")
		if len(args) < 3 || args[1] != monitor.Arg || !slices.Contains(args, exitArg) {
			continue
		}
		klog.Infof("container %s: creation was cut short: killing its monitor %d and the processes of its group", id, pid)
		_ = unix.Kill(-pid, unix.SIGKILL) // the monitor leads its session and group
		_ = unix.Kill(pid, unix.SIGKILL)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := monitor.WaitPID(wctx, pid); err != nil {
			klog.Errorf("container %s: monitor %d: %v", id, pid, err)
		}
		for wctx.Err() == nil && unix.Kill(-pid, 0) == nil {
			_ = unix.Kill(-pid, unix.SIGKILL)
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}
}

// recoverStarted records as running a container recorded as created whose
// process was released before the daemon stopped (a StartContainer cut
// short between the release and its record): it is not parked any more and
// cannot be started again. The start time is the recovery's.
func (m *Manager) recoverStarted(ctx context.Context, c *ctr) {
	st, err := m.rt.Status(ctx, c.rec.ID)
	if err != nil || (st != libcontainer.Running && st != libcontainer.Paused) {
		return
	}
	c.rec.State = StateRunning
	c.rec.StartedAt = time.Now().UnixNano()
	if err := m.save(ctx, &c.rec); err != nil {
		klog.Errorf("container %s: record the start cut short: %v", c.rec.ID, err)
	}
	klog.Infof("container %s: started when the daemon stopped: recorded as running", c.rec.ID)
}

// releaseExited releases what an exited container no longer needs: its
// runtime state, rootfs and image volume mounts. It is idempotent.
func (m *Manager) releaseExited(ctx context.Context, id string) {
	p := m.paths(id)
	if err := m.rt.Destroy(ctx, id); err != nil {
		klog.Errorf("container %s: release runtime state: %v", id, err)
	}
	if err := rootfs.Unmount(p.rootfs); err != nil {
		klog.Errorf("container %s: %v", id, err)
	}
	if err := unmountVolumes(p); err != nil {
		klog.Errorf("container %s: image volumes: %v", id, err)
	}
}

// dropOrphanLeases releases image leases of containers that have no
// record (a create cut short before its record was written, or a removal
// that crashed after forgetting it).
func (m *Manager) dropOrphanLeases(ctx context.Context, kept map[string]bool) {
	owners, err := m.o.Images.Leases(ctx)
	if err != nil {
		klog.Errorf("container image leases: %v", err)
		return
	}
	for _, owner := range owners {
		id, rest, _ := strings.Cut(owner, "/")
		if !isContainerID(id) || (rest != "" && !strings.HasPrefix(rest, "vol/")) {
			continue // not a container's
		}
		if kept[id] {
			continue
		}
		if err := m.o.Images.Release(ctx, owner); err != nil {
			klog.Errorf("container %s: release orphan image lease %s: %v", id, owner, err)
			continue
		}
		klog.Infof("container %s: released the image lease %s of a container that no longer exists", id, owner)
	}
}

// isContainerID reports whether s has the form of a container ID.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// isMonitor checks that rec's monitor PID is still that container's monitor,
// not a reused PID.
func (m *Manager) isMonitor(rec *Record) bool {
	if rec.MonitorPID <= 0 {
		return false
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(rec.MonitorPID) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(raw), "\x00")
	return len(args) > 2 && args[1] == "__monitor" && strings.Contains(string(raw), "--exit-file="+m.paths(rec.ID).exitFile)
}
