package rootfs

import (
	"os"
	"syscall"

	"fmt"

	"golang.org/x/sys/unix"
)

// mountIDMapped mounts o with every lower dir idmapped by o.IDMapUserNS:
// one read-only layer is an idmapped bind mount, anything else an overlay
// whose layers are handed over as idmapped detached mounts.
func mountIDMapped(o Overlay, target string) error {
	ns, err := unix.Open(o.IDMapUserNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open user namespace: %w", err)
	}
	defer unix.Close(ns)
	if o.Upper == "" && len(o.Lower) == 1 {
		fd, err := idmappedTree(o.Lower[0], ns, unix.MOUNT_ATTR_RDONLY)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("move mount: %w", err)
		}
		return nil
	}
	fds := make([]int, 0, len(o.Lower))
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, l := range o.Lower {
		fd, err := idmappedTree(l, ns, 0)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
	}
	return mountNewAPI(o, fds, target)
}

// idmappedTree returns a detached clone of the mount at dir, idmapped by the
// user namespace ns, with the extra mount attributes attrs.
func idmappedTree(dir string, ns int, attrs uint64) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("clone mount of %s: %w", dir, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | attrs, Userns_fd: uint64(ns)}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("idmap %s: %w", dir, err)
	}
	return fd, nil
}

// statUID is the owner of fi.
func statUID(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return ^uint32(0)
}
