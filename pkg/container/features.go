package container

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/rootfs"
)

// UserNamespaces reports whether containers of pods with a user namespace
// can run here: the kernel makes user namespaces and mounts idmapped
// overlay layers on the filesystem of the containers' root dir (where the
// image layers live too), and an unprivileged user can reach the rootfs
// mounts under the state dir (the container's root, an unprivileged host
// user, mounts its rootfs by path). It is probed once, at the first call.
func (m *Manager) UserNamespaces() bool {
	m.usernsOnce.Do(func() {
		if err := os.MkdirAll(m.o.Root, 0o700); err != nil {
			klog.Warningf("user namespaces are not available: %v", err)
			return
		}
		if err := searchable(m.o.State); err != nil {
			klog.Warningf("user namespaces are not available: %v", err)
			return
		}
		if err := rootfs.CheckIDMap(m.o.Root); err != nil {
			klog.Warningf("user namespaces are not available: idmapped overlay layers in %s: %v", m.o.Root, err)
			return
		}
		m.userns = true
	})
	return m.userns
}

// searchable makes dir (0711) and checks that every directory above it
// lets anyone pass through.
func searchable(dir string) error {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s (mode %#o) does not let other users through to the containers' root filesystems under %s", d, fi.Mode().Perm(), dir)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
