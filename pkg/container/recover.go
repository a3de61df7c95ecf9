package container

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/metadata"
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
	for i := range recs {
		rec := &recs[i]
		switch rec.State {
		case StateCreating, StateRemoving:
			if err := m.teardown(ctx, rec); err != nil {
				klog.Errorf("container %s: cleanup of a %s container: %v", rec.ID, rec.State, err)
				continue
			}
			if err := m.forget(ctx, rec.ID); err != nil {
				return err
			}
			klog.Infof("container %s: %s when the daemon stopped: removed", rec.ID, rec.State)
			continue
		}
		if err := m.o.Images.Pin(ctx, rec.ID, rec.ImageID); err != nil {
			klog.Warningf("container %s: pin image %s: %v", rec.ID, rec.ImageID, err)
		}
		c := &ctr{rec: *rec, exited: make(chan struct{})}
		m.mu.Lock()
		m.ctrs[rec.ID] = c
		m.names[nameKey(rec.PodID, rec.Name, rec.Attempt)] = rec.ID
		m.mu.Unlock()
		switch rec.State {
		case StateExited:
			close(c.exited)
		case StateCreated, StateRunning:
			if m.isMonitor(rec) {
				m.watch(c, nil)
			} else {
				// The monitor is gone (it finished while we were down, or the
				// machine rebooted): take its recorded exit.
				c.rec.MonitorPID = 0
				m.recordExit(c)
			}
		}
	}
	return nil
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
