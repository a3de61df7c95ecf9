package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hostState is what a run may leave on the host, found and removed after
// the runtimes stopped. Each step reports what it had to remove: anything
// found here is a leak of the runtime (or of the harness).
type hostState struct {
	leaks []string
	errs  []error
}

func (h *hostState) leak(format string, args ...any) {
	h.leaks = append(h.leaks, fmt.Sprintf(format, args...))
}

func (h *hostState) fail(err error) {
	if err != nil {
		h.errs = append(h.errs, err)
	}
}

// deleteBridge removes a bridge the benchmark's network made. The runtimes
// leave it up by design, so it is not a leak.
func (h *hostState) deleteBridge(name string) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return
	}
	if err := netlink.LinkDel(l); err != nil {
		h.fail(fmt.Errorf("delete bridge %s: %w", name, err))
	}
}

// unmountUnder detaches every mount below the given directories, deepest
// first.
func (h *hostState) unmountUnder(dirs ...string) {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		for _, d := range dirs {
			if d != "" && (m.Mountpoint == d || strings.HasPrefix(m.Mountpoint, d+"/")) {
				return false, false
			}
		}
		return true, false
	})
	if err != nil {
		h.fail(fmt.Errorf("read mounts: %w", err))
		return
	}
	slices.SortFunc(mounts, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	for _, m := range mounts {
		h.leak("mount %s (%s)", m.Mountpoint, m.FSType)
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			h.fail(fmt.Errorf("unmount %s: %w", m.Mountpoint, err))
		}
	}
}

// removeDirs removes directories the harness made for a runtime.
func (h *hostState) removeDirs(dirs ...string) {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			h.fail(fmt.Errorf("remove %s: %w", d, err))
		}
	}
}

// releaseHostLocal removes the host-local IPAM directory of a network the
// benchmark made; an address still reserved in it is a leak.
func (h *hostState) releaseHostLocal(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if n := e.Name(); n != "lock" && !strings.HasPrefix(n, "last_reserved_ip") {
			h.leak("address %s still reserved in %s", n, dir)
		}
	}
	h.removeDirs(dir)
}

// removeCNICache removes a libcni result cache entry of network left in the
// shared cache directory.
func (h *hostState) removeCNICache(network string) {
	files, _ := filepath.Glob("/var/lib/cni/results/" + network + "-*")
	for _, f := range files {
		h.leak("cni result cache %s", f)
		h.fail(os.Remove(f))
	}
}

// cgroupMounts returns the mount points of the cgroup hierarchies.
func cgroupMounts() ([]string, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	var out []string
	for _, m := range mounts {
		out = append(out, m.Mountpoint)
	}
	return out, nil
}

// removeCgroup removes the cgroup rel (e.g. "/crishim-bench") and every
// empty cgroup below it, in every hierarchy. A cgroup below rel is a leak
// of the runtime; rel itself is the harness's.
func (h *hostState) removeCgroup(rel string) {
	mounts, err := cgroupMounts()
	if err != nil {
		h.fail(err)
		return
	}
	for _, mnt := range mounts {
		dir := filepath.Join(mnt, rel)
		var dirs []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
		for _, d := range dirs {
			if d != dir {
				h.leak("cgroup %s", d)
			}
			if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
				h.fail(fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
	}
}

var containerID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// idCgroups lists the cgroups named by a 64-hex container ID at the top of
// each hierarchy and below this process's own cgroups: where runc puts a
// container whose pod names no cgroup parent (a relative cgroups path).
func idCgroups() map[string]bool {
	out := map[string]bool{}
	mounts, err := cgroupMounts()
	if err != nil {
		return out
	}
	own := ownCgroups()
	for _, mnt := range mounts {
		parents := []string{mnt}
		for _, p := range own {
			parents = append(parents, filepath.Join(mnt, p))
		}
		for _, parent := range parents {
			entries, _ := os.ReadDir(parent)
			for _, e := range entries {
				if e.IsDir() && containerID.MatchString(e.Name()) {
					out[filepath.Join(parent, e.Name())] = true
				}
			}
		}
	}
	return out
}

// ownCgroups are the paths in /proc/self/cgroup.
func ownCgroups() []string {
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var out []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(raw)), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && f[2] != "/" && !slices.Contains(out, f[2]) {
			out = append(out, f[2])
		}
	}
	return out
}

// removeNewIDCgroups removes container cgroups that appeared since before
// was taken (see idCgroups) and are empty; each is a leak.
func (h *hostState) removeNewIDCgroups(before map[string]bool) {
	for d := range idCgroups() {
		if before[d] {
			continue
		}
		h.leak("cgroup %s", d)
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			h.fail(fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
}

// killStray kills, by PID, the processes match selects: helpers a stopped
// runtime left running. Each is a leak.
func (h *hostState) killStray(what string, match func(p proc) bool) {
	ps, err := listProcs()
	if err != nil {
		h.fail(err)
		return
	}
	for _, p := range ps {
		if match(p) {
			h.leak("%s process %d: %s", what, p.pid, strings.Join(p.argv, " "))
			h.fail(unix.Kill(p.pid, unix.SIGKILL))
		}
	}
}

// err joins the failures.
func (h *hostState) err() error { return errors.Join(h.errs...) }
