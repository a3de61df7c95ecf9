package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/checkpoint"
	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/monitor"
	"github.com/cri-shim/cri-shim/pkg/oci"
	"github.com/cri-shim/cri-shim/pkg/rootfs"
)

// CreateRequest is one container to create in a pod.
type CreateRequest struct {
	// PodID is the container's pod.
	PodID string
	// Attempt is the metadata attempt; Name is in Input.
	Attempt uint32
	// Image is the image as the request names it (ID, tag or digest).
	Image string
	// LogPath is the log file relative to the pod's log directory ("" = none).
	LogPath string
	// Input is the translated request; Create fills in the ID, the image
	// config, the rootfs, the cgroup and the sandbox and host facts.
	Input spec.Input
}

// Create makes a container, parked before its process runs, and returns its ID.
// A failure undoes every step.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (id string, err error) {
	name := req.Input.Name
	// A plugin connecting meanwhile gets this container in its
	// synchronization or as an event, never neither.
	unblockSync := m.nri().BlockSync()
	defer unblockSync()
	// The pod cannot stop until the container is made (or undone).
	pod, releasePod, err := m.holdPod(ctx, req.PodID)
	if err != nil {
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	defer releasePod()
	if !pod.Ready {
		return "", fmt.Errorf("container %q: pod %s is not ready: %w", name, req.PodID, errdefs.ErrFailedPrecondition)
	}
	newid := newID()
	key := nameKey(req.PodID, name, req.Attempt)
	if err := m.reserve(key, newid); err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			m.release(key, newid)
		}
	}()
	id = newid
	image := req.Image
	var rs *restoreSource
	if checkpoint.IsArchive(req.Image) {
		defer func() {
			if err != nil {
				_ = os.RemoveAll(m.paths(newid).dir)
			}
		}()
		if rs, err = m.openRestore(ctx, m.paths(newid), req.Image); err != nil {
			return "", fmt.Errorf("container %q: %w", name, err)
		}
		image = rs.old.ImageID
	}
	img, err := m.o.Images.Resolve(ctx, image)
	if err != nil {
		return "", fmt.Errorf("container %q: image %q: %w", name, req.Image, err)
	}
	logPath, err := resolveLogPath(pod.LogDirectory, req.LogPath)
	if err != nil {
		return "", fmt.Errorf("container %q: %w", name, err)
	}

	p := m.paths(id)
	in := req.Input
	in.ID = id
	in.ImageConfig = img.Config
	in.Rootfs = p.rootfs
	in.CgroupsPath = pod.CgroupParent + "/" + id
	in.Sandbox = pod.Sandbox
	in.Host = m.o.Host
	if in.Security.Namespaces.PID == spec.NamespaceTarget {
		target, ok := m.get(in.Security.Namespaces.TargetID)
		if !ok {
			return "", fmt.Errorf("container %q: target container %s: %w", name, in.Security.Namespaces.TargetID, errdefs.ErrNotFound)
		}
		target.mu.Lock()
		pid, st := target.rec.InitPID, target.rec.State
		target.mu.Unlock()
		if st != StateRunning && st != StateCreated {
			return "", fmt.Errorf("container %q: target container %s is not running: %w", name, in.Security.Namespaces.TargetID, errdefs.ErrFailedPrecondition)
		}
		in.Sandbox.TargetPIDNS = "/proc/" + strconv.Itoa(pid) + "/ns/pid"
	}
	stopSig := req.Input.StopSignal
	if stopSig == "" {
		stopSig = img.Config.StopSignal
	}
	rec := &Record{
		ID: id, PodID: req.PodID, Name: name, Attempt: req.Attempt,
		Labels: in.Labels, Annots: in.Annotations,
		ImageRef: req.Image, ImageID: img.ID, ImageTag: img.Ref,
		LogPath: logPath, CriLog: req.LogPath, Mounts: slices.Clone(in.Mounts),
		TTY: in.TTY, Stdin: in.Stdin, Once: in.StdinOnce, StopSig: stopSig,
		Cgroup: in.CgroupsPath, State: StateCreating, CreatedAt: time.Now().UnixNano(),
	}
	if rs != nil {
		rec.ImageRef, rec.Restore = rs.old.ImageRef, rs.src.ImagesDir()
	}
	// The record comes first, so recovery can undo a create cut short by a crash.
	if err := m.save(ctx, rec); err != nil {
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if cerr := m.teardown(cctx, rec); cerr != nil {
				klog.Errorf("container %s: undo failed create: %v", rec.ID, cerr)
				return
			}
			if ferr := m.forget(cctx, rec.ID); ferr != nil {
				klog.Errorf("container %s: forget: %v", rec.ID, ferr)
			}
		}
	}()
	if err := m.faults.At("create-record"); err != nil {
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	if _, err := m.o.Images.Lease(ctx, id, img.ID); err != nil {
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	idm, err := podIDMap(&pod.Sandbox)
	if err != nil {
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	if rs != nil {
		if idm != nil {
			return "", fmt.Errorf("container %q: restoring a checkpoint into a pod with a user namespace is not supported: %w", name, errdefs.ErrFailedPrecondition)
		}
		if err := os.MkdirAll(p.upper, 0o700); err != nil {
			return "", fmt.Errorf("container %q: %w", name, err)
		}
		if err := rs.src.ApplyRootfsDiff(ctx, p.upper); err != nil {
			return "", fmt.Errorf("container %q: checkpoint %s: %w", name, req.Image, err)
		}
	}
	if err := m.mountRootfs(p, img.Layers, idm); err != nil {
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	if err := m.faults.At("create-rootfs"); err != nil {
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	if err := m.mountImageVolumes(ctx, rec, &in, p, idm); err != nil {
		return "", err
	}
	s, err := spec.Build(ctx, &in)
	if err != nil {
		return "", err // Build's errors name the container
	}
	if err := m.nri().CreateContainer(ctx, rec, s); err != nil {
		return "", err // it names the container
	}
	defer func() {
		if err != nil {
			// Plugins saw the create: tell them it was undone.
			m.nri().RemoveContainer(context.WithoutCancel(ctx), *rec)
		}
	}()
	if s.Process != nil {
		u := s.Process.User
		rec.User = &UserInfo{UID: int64(u.UID), GID: int64(u.GID)}
		for _, g := range u.AdditionalGids {
			rec.User.Groups = append(rec.User.Groups, int64(g))
		}
	}
	in.Rootfs, in.Host.Capabilities = "", nil // not needed again
	rec.Input = &in
	raw, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("container %q: spec: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(p.bundle, "config.json"), raw, 0o600); err != nil {
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	if logPath != "" {
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return "", fmt.Errorf("container %q: log dir: %w", name, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(p.socket), 0o700); err != nil {
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	if rs != nil {
		// CRIU makes the processes at start.
		return id, m.createdForRestore(ctx, rec)
	}
	mon, err := m.rt.Create(ctx, oci.CreateOptions{ID: id, Bundle: p.bundle, Monitor: m.monitorOptions(rec, p)})
	if err != nil {
		// libcontainer refused the container as the host is now (a mount
		// source gone or swapped, a device missing, a limit it cannot set).
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
		}
		return "", err
	}
	if idm != nil && !in.TTY {
		if err := chownStdio(mon.InitPID, rec.User, &pod.Sandbox); err != nil {
			_ = m.rt.Destroy(context.WithoutCancel(ctx), id)
			_ = mon.Wait()
			return "", fmt.Errorf("container %q: %w", name, err)
		}
	}
	if err := m.faults.At("create-monitor"); err != nil {
		_ = m.rt.Destroy(context.WithoutCancel(ctx), id)
		_ = mon.Wait()
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	rec.State = StateCreated
	rec.MonitorPID, rec.InitPID = mon.PID, mon.InitPID
	if err := m.save(ctx, rec); err != nil {
		_ = m.rt.Destroy(context.WithoutCancel(ctx), id)
		_ = mon.Wait()
		return "", fmt.Errorf("container %q: %w", name, err)
	}
	c := &ctr{rec: *rec, exited: make(chan struct{})}
	m.mu.Lock()
	m.ctrs[id] = c
	m.mu.Unlock()
	m.watch(c, mon)
	m.emit(rec)
	m.nri().PostCreateContainer(ctx, *rec)
	return id, nil
}

// monitorOptions are the monitor options of container rec.
func (m *Manager) monitorOptions(rec *Record, p paths) monitor.Options {
	return monitor.Options{
		LogPath:   rec.LogPath,
		LogDir:    logDirOf(rec.LogPath, rec.CriLog),
		ExitFile:  p.exitFile,
		Socket:    p.socket,
		OOMFile:   oomFile(rec.Cgroup, m.o.Host.CgroupV2),
		TTY:       rec.TTY,
		Stdin:     rec.Stdin,
		StdinOnce: rec.Once,
		DebugLog:  p.debugLog,
	}
}

// createdForRestore records a container to restore from a checkpoint as
// created, with no process yet.
func (m *Manager) createdForRestore(ctx context.Context, rec *Record) error {
	rec.State = StateCreated
	if err := m.save(ctx, rec); err != nil {
		return fmt.Errorf("container %s: %w", rec.ID, err)
	}
	c := &ctr{rec: *rec, exited: make(chan struct{})}
	m.mu.Lock()
	m.ctrs[rec.ID] = c
	m.mu.Unlock()
	m.emit(rec)
	m.nri().PostCreateContainer(ctx, *rec)
	return nil
}

func (m *Manager) reserve(key, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if other, ok := m.names[key]; ok {
		return fmt.Errorf("container name %q is reserved for %s: %w", key, other, errdefs.ErrAlreadyExists)
	}
	m.names[key] = id
	return nil
}

func (m *Manager) release(key, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[key] == id {
		delete(m.names, key)
	}
}

// idmap says how a container's files are seen from its pod's user namespace.
type idmap struct {
	// userns is the pod's user namespace file.
	userns string
	// uid and gid are the host IDs of the namespace's root.
	uid, gid uint32
}

// podIDMap is the idmap of a pod with a user namespace of its own, or nil.
func podIDMap(sb *spec.Sandbox) (*idmap, error) {
	if !sb.HasUserNS() {
		return nil, nil
	}
	uid, okU := spec.ToHost(sb.UIDMappings, 0)
	gid, okG := spec.ToHost(sb.GIDMappings, 0)
	if !okU || !okG {
		return nil, fmt.Errorf("the pod's user namespace does not map root: %w", errdefs.ErrInvalidArgument)
	}
	return &idmap{userns: sb.UserNS.Path, uid: uid, gid: gid}, nil
}

// mountRootfs mounts the image's layers with the container's writable
// layer at p.rootfs. With a user namespace the layers are idmapped and the
// writable layer belongs to the namespace's root. The bundle is 0711: a
// container in a user namespace must reach its rootfs and volumes.
func (m *Manager) mountRootfs(p paths, layers []string, idm *idmap) error {
	for _, d := range []string{p.upper, p.work, p.rootfs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	for _, d := range []string{m.o.State, p.bundle} {
		if err := os.Chmod(d, 0o711); err != nil {
			return err
		}
	}
	if err := os.Chmod(p.upper, 0o755); err != nil {
		return err
	}
	if len(layers) == 0 {
		return fmt.Errorf("image has no layers: %w", errdefs.ErrInvalidArgument)
	}
	o := rootfs.Overlay{Lower: layers, Upper: p.upper, Work: p.work}
	if idm != nil {
		if err := os.Chown(p.upper, int(idm.uid), int(idm.gid)); err != nil {
			return err
		}
		o.IDMapUserNS = idm.userns
	}
	return rootfs.Mount(o, p.rootfs)
}

// teardown removes whatever exists of a container's runtime state, mounts
// (rootfs and image volumes) and files, and its image leases. It is
// idempotent.
func (m *Manager) teardown(ctx context.Context, rec *Record) error {
	p := m.paths(rec.ID)
	var errs []error
	if err := m.rt.Destroy(ctx, rec.ID); err != nil {
		errs = append(errs, err)
	}
	if err := rootfs.Unmount(p.rootfs); err != nil {
		errs = append(errs, err)
	}
	if err := unmountVolumes(p); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		for _, d := range []string{p.bundle, p.dir, p.socket} {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := m.o.Images.Release(ctx, rec.ID); err != nil {
		errs = append(errs, err)
	}
	if err := m.releaseVolumes(ctx, rec); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// resolveLogPath joins the pod's log dir and the request's relative log
// path, refusing anything that would leave the log dir.
func resolveLogPath(dir, rel string) (string, error) {
	if dir == "" || rel == "" {
		return "", nil
	}
	if filepath.IsAbs(rel) || strings.Contains(rel, "\x00") {
		return "", fmt.Errorf("log path %q must be relative to the pod's log directory: %w", rel, errdefs.ErrInvalidArgument)
	}
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if part == ".." {
			return "", fmt.Errorf("log path %q leaves the pod's log directory: %w", rel, errdefs.ErrInvalidArgument)
		}
	}
	p, err := securejoin.SecureJoin(dir, rel)
	if err != nil {
		return "", fmt.Errorf("log path %q: %w", rel, err)
	}
	if p == filepath.Clean(dir) { // ".", or a symlink that leads back up
		return "", fmt.Errorf("log path %q names the pod's log directory itself: %w", rel, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

func oomFile(cgroup string, v2 bool) string {
	if v2 {
		return filepath.Join("/sys/fs/cgroup", cgroup, "memory.events")
	}
	return filepath.Join("/sys/fs/cgroup/memory", cgroup, "memory.oom_control")
}

func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
