package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// cgroupTree tracks the parent cgroups the runtime made (the configured
// cgroup_parent, say) and how many pods use each, so that a parent is
// removed with the last pod under it and a parent someone else made is
// never touched. It is rebuilt from the pod records at start-up.
//
// mu is read-locked while pod cgroups are made, so that a parent is never
// removed between its check and the mkdir under it, and write-locked to
// change the counts or remove parents.
type cgroupTree struct {
	mu    sync.RWMutex
	users map[string]map[string]bool // runtime-made parent dir -> IDs of the pods under it
}

func newCgroupTree() *cgroupTree {
	return &cgroupTree{users: map[string]map[string]bool{}}
}

// use counts pod id under the parents (t.mu held).
func (t *cgroupTree) use(id string, parents []string) {
	for _, a := range parents {
		if t.users[a] == nil {
			t.users[a] = map[string]bool{}
		}
		t.users[a][id] = true
	}
}

// validCgroupPath checks a cgroupfs path from a request: absolute, clean,
// plain names.
func validCgroupPath(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return fmt.Errorf("cgroup parent %q is not a clean absolute cgroupfs path: %w", p, errdefs.ErrInvalidArgument)
	}
	if strings.HasSuffix(p, ".slice") {
		return fmt.Errorf("cgroup parent %q is a systemd slice; this runtime runs the cgroupfs driver: %w", p, errdefs.ErrInvalidArgument)
	}
	for _, part := range strings.Split(p[1:], "/") {
		if part == "." || part == ".." || strings.ContainsAny(part, "\x00\n") {
			return fmt.Errorf("cgroup parent %q: bad element %q: %w", p, part, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// planCgroup works out the pod cgroup at cgPath: its directories, those
// that do not exist yet (the pod's own), and the missing or runtime-made
// parents it will share. The parents are counted as used from now on;
// release undoes that.
func (t *cgroupTree) plan(id, cgPath string) (Cgroup, error) {
	m, err := manager.New(&cgroups.Cgroup{Path: cgPath, Resources: &cgroups.Resources{}})
	if err != nil {
		return Cgroup{}, fmt.Errorf("cgroup %s: %w", cgPath, err)
	}
	cg := Cgroup{Path: cgPath, Dirs: m.GetPaths()}
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[string]bool{}
	for _, dir := range sortedValues(cg.Dirs) {
		if seen[dir] {
			continue // cpu and cpuacct may share a mount
		}
		seen[dir] = true
		if !exists(dir) {
			cg.Created = append(cg.Created, dir)
		}
		root := strings.TrimSuffix(dir, cgPath)
		for p := filepath.Dir(dir); len(p) > len(root); p = filepath.Dir(p) {
			if len(t.users[p]) > 0 || !exists(p) {
				cg.Ancestors = append(cg.Ancestors, p)
			}
		}
	}
	t.use(id, cg.Ancestors)
	return cg, nil
}

// adopt counts a recorded pod's parents (start-up).
func (t *cgroupTree) adopt(id string, cg Cgroup) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.use(id, cg.Ancestors)
}

// create makes the pod cgroup's directories in every hierarchy.
func (t *cgroupTree) create(cg Cgroup) error {
	m, err := manager.NewWithPaths(&cgroups.Cgroup{Path: cg.Path, Resources: &cgroups.Resources{}}, cg.Dirs)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", cg.Path, err)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if err := m.Apply(-1); err != nil {
		return fmt.Errorf("create cgroup %s: %w", cg.Path, err)
	}
	return nil
}

// join moves pid into the pod cgroup in every hierarchy.
func (t *cgroupTree) join(cg Cgroup, pid int) error {
	for _, dir := range sortedValues(cg.Dirs) {
		if err := cgroups.WriteCgroupProc(dir, pid); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("cgroup %s: %w", dir, err)
		}
	}
	return nil
}

// remove deletes the directories the pod made (and any cgroups left under
// them), then each runtime-made parent no other pod uses.
func (t *cgroupTree) remove(id string, cg Cgroup) error {
	var errs []error
	for _, dir := range cg.Created {
		if err := cgroups.RemovePath(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	t.release(id, cg)
	return nil
}

// release stops counting pod id under its parents and removes those left
// unused. Releasing twice is harmless.
func (t *cgroupTree) release(id string, cg Cgroup) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Deepest first: a parent's children go before it.
	anc := slices.Clone(cg.Ancestors)
	slices.SortFunc(anc, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, a := range anc {
		users, ok := t.users[a]
		if !ok {
			continue
		}
		delete(users, id)
		if len(users) > 0 {
			continue
		}
		delete(t.users, a)
		// Busy means something else lives there now: leave it.
		_ = os.Remove(a)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// defaultCgroupPath is the pod cgroup when the request names none.
func defaultCgroupPath(parent, id string) string {
	return path.Join(parent, id)
}
