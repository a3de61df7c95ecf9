package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/network"
	"github.com/cri-shim/cri-shim/pkg/sandbox/podns"
)

// Recover loads the pod records at start-up, before serving: a pod left
// half-created is rolled back and dropped, a half-stopped or half-removed
// one is finished, a ready pod that lost its namespace or PID 1 (a reboot,
// a kill) is stopped, and state directories no record owns are cleaned.
// Then a CNI GC tears down cached attachments of pods that no longer
// exist, and CNI CHECKs of the ready pods start in the background.
// Failures are logged and left for the next start; only an unreadable
// store is an error.
func (m *Manager) Recover(ctx context.Context) error {
	recs, bad, err := m.loadAll(ctx)
	if err != nil {
		return fmt.Errorf("load pods: %w", err)
	}
	for _, err := range bad {
		klog.Errorf("%v (left in the store; no CNI GC this start)", err)
	}
	for _, sb := range recs {
		p := &pod{sb: sb}
		m.mu.Lock()
		m.pods[sb.ID] = p
		if sb.State != StateCreating {
			m.names[nameKey(&sb.Config)] = sb.ID
		}
		m.mu.Unlock()
		m.cgroups.adopt(sb.ID, sb.Resources.Cgroup)
	}
	for _, sb := range recs {
		m.recoverOne(ctx, m.pods[sb.ID])
	}
	m.cleanOrphanDirs(recs)
	if len(bad) == 0 {
		m.gc(ctx)
	}
	// The networks of the pods that came through are checked in the
	// background; failures are logged and shown in verbose status.
	go m.checkAll(m.List(ctx))
	return nil
}

func (m *Manager) recoverOne(ctx context.Context, p *pod) {
	p.op.Lock()
	defer p.op.Unlock()
	sb := p.get()
	switch sb.State {
	case StateCreating:
		klog.Infof("pod %s (%s/%s): creation was interrupted: rolling back", sb.ID, sb.Config.Namespace, sb.Config.Name)
		if err := m.teardown(ctx, p, true); err != nil {
			klog.Errorf("pod %s: rollback incomplete, left for the next start: %v", sb.ID, err)
			return
		}
		if err := m.drop(ctx, sb.ID); err != nil {
			klog.Errorf("%v", err)
			return
		}
		m.forget(sb.ID, &sb.Config)
	case StateStopping:
		klog.Infof("pod %s: stop was interrupted: finishing it", sb.ID)
		if err := m.stopLocked(ctx, p); err != nil {
			klog.Errorf("pod %s: finishing stop: %v", sb.ID, err)
		}
	case StateRemoving:
		klog.Infof("pod %s: removal was interrupted: finishing it", sb.ID)
		if err := m.removeLocked(ctx, p); err != nil {
			klog.Errorf("pod %s: finishing removal: %v", sb.ID, err)
		}
	case StateReady:
		if why := lost(&sb); why != "" {
			klog.Warningf("pod %s: %s: stopping it", sb.ID, why)
			if err := m.stopLocked(ctx, p); err != nil {
				klog.Errorf("pod %s: stop: %v", sb.ID, err)
			}
		}
	}
}

// lost says what a ready pod lost, or "".
func lost(sb *Sandbox) string {
	r := &sb.Resources
	for k, pin := range map[podns.Kind]string{podns.Net: r.NetNS, podns.IPC: r.IPCNS, podns.UTS: r.UTSNS, podns.User: r.UserNS} {
		if pin != "" && !podns.Pinned(k, pin) {
			return fmt.Sprintf("its %s namespace is gone", k)
		}
	}
	if r.WantPodInit && (r.PodInit == nil || !alive(r.PodInit)) {
		return "its PID 1 is gone"
	}
	return ""
}

// cleanOrphanDirs removes pod state directories that no record owns,
// unmounting what is mounted in them first.
func (m *Manager) cleanOrphanDirs(recs []Sandbox) {
	root := filepath.Join(m.cfg().StateDir, Dir)
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	owned := map[string]bool{}
	for _, sb := range recs {
		owned[sb.ID] = true
	}
	for _, e := range ents {
		if owned[e.Name()] || !isID(e.Name()) || !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		klog.Warningf("pod state dir %s has no record: removing it, its PID 1 and its cgroup under %s", dir, m.cfg().CgroupParent)
		for _, p := range findPodInit(e.Name()) {
			if err := kill(p); err != nil {
				klog.Errorf("pod %s: %v", e.Name(), err)
			}
		}
		if err := cleanDir(dir); err != nil {
			klog.Errorf("%v", err)
		}
		// Only the runtime's own default pod cgroup can be told apart without a record.
		if cg, err := newCgroupTree().plan(e.Name(), defaultCgroupPath(m.cfg().CgroupParent, e.Name())); err == nil {
			for _, d := range cg.Dirs {
				if err := cgroups.RemovePath(d); err != nil {
					klog.Errorf("pod %s: %v", e.Name(), err)
				}
			}
		}
	}
}

// cleanDir unmounts every mount at or under dir, deepest first, then
// removes it.
func cleanDir(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return fmt.Errorf("mounts under %s: %w", dir, err)
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
	var errs []error
	for _, mnt := range mounts {
		if err := unix.Unmount(mnt.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mnt.Mountpoint, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return os.RemoveAll(dir)
}

// gc runs the CNI GC with every attachment a pod record still holds as
// valid. The list must be complete: it is built only when every record was
// read.
func (m *Manager) gc(ctx context.Context) {
	var valid []*network.Attachment
	m.mu.RLock()
	for _, p := range m.pods {
		p.mu.RLock()
		if a := p.sb.Resources.Network; a != nil {
			valid = append(valid, a)
		}
		p.mu.RUnlock()
	}
	m.mu.RUnlock()
	if err := m.net.GC(ctx, valid); err != nil {
		if errors.Is(err, network.ErrGCSkipped) {
			klog.Infof("%v", err)
			return
		}
		klog.Errorf("%v", err)
		return
	}
	klog.V(2).Infof("cni gc done, %d live attachments", len(valid))
}
