// Package rootfs mounts container root filesystems and image volumes: an
// overlay of an image's layer directories with the container's own upper dir
// on top, or a read-only view of the layers alone. Layers can be idmapped
// for a user namespace.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Overlay describes one overlay mount.
type Overlay struct {
	// Lower are the image's layer dirs, topmost first.
	Lower []string
	// Upper and Work are the container's writable dirs; both empty makes a
	// read-only overlay (it then needs two or more lower dirs).
	Upper, Work string
	// IDMapUserNS, when set, is a user namespace file (/proc/PID/ns/user or
	// a bind mount of one): the lower dirs are used through idmapped mounts
	// of that namespace, so that files owned by ID n on disk are seen as
	// owned by n inside it. Upper and Work are not idmapped: the caller
	// chowns them to the namespace's root.
	IDMapUserNS string
}

// Mount mounts o at target (which must exist). It uses the new mount API,
// which adds lower dirs one by one and so has no limit on their number, and
// falls back to mount(2) on kernels without it.
func Mount(o Overlay, target string) error {
	if len(o.Lower) == 0 {
		return errors.New("overlay: no lower dirs")
	}
	if (o.Upper == "") != (o.Work == "") {
		return errors.New("overlay: upper and work dirs go together")
	}
	if o.IDMapUserNS != "" {
		if err := mountIDMapped(o, target); err != nil {
			return fmt.Errorf("idmapped overlay on %s: %w", target, err)
		}
		return nil
	}
	if o.Upper == "" && len(o.Lower) == 1 {
		// A read-only view of a single layer is a read-only bind mount.
		if err := unix.Mount(o.Lower[0], target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", o.Lower[0], target, err)
		}
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("read-only remount of %s: %w", target, err)
		}
		return nil
	}
	err := mountNewAPI(o, nil, target)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		err = mountLegacy(o, target)
	}
	if err != nil {
		return fmt.Errorf("overlay on %s: %w", target, err)
	}
	return nil
}

// mountNewAPI mounts the overlay with fsopen(2) and friends. When layerFDs
// is not nil it holds an open mount of each lower dir, passed by descriptor
// (idmapped layers); otherwise the lower dirs go by path.
func mountNewAPI(o Overlay, layerFDs []int, target string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	set := func(key, val string) error {
		if err := unix.FsconfigSetString(fd, key, val); err != nil {
			return fmt.Errorf("%s=%s: %w", key, val, err)
		}
		return nil
	}
	for i, l := range o.Lower {
		if layerFDs != nil {
			if err := unix.FsconfigSetFd(fd, "lowerdir+", layerFDs[i]); err != nil {
				return fmt.Errorf("lowerdir+=%s (by descriptor): %w", l, err)
			}
			continue
		}
		if err := set("lowerdir+", l); err != nil {
			return err
		}
	}
	if o.Upper != "" {
		if err := set("upperdir", o.Upper); err != nil {
			return err
		}
		if err := set("workdir", o.Work); err != nil {
			return err
		}
	}
	// Without index and with xino off the overlay behaves the same on every kernel.
	for k, v := range map[string]string{"index": "off", "xino": "off", "redirect_dir": "off", "metacopy": "off"} {
		if err := set(k, v); err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("create overlay: %w", err)
	}
	attrs := 0
	if o.Upper == "" {
		attrs = unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return fmt.Errorf("fsmount: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move mount: %w", err)
	}
	return nil
}

func mountLegacy(o Overlay, target string) error {
	for _, l := range o.Lower {
		if strings.ContainsAny(l, ":,") {
			return fmt.Errorf("lower dir %q has a ':' or ','", l)
		}
	}
	opts := "index=off,xino=off,lowerdir=" + strings.Join(o.Lower, ":")
	flags := uintptr(0)
	if o.Upper != "" {
		opts += ",upperdir=" + o.Upper + ",workdir=" + o.Work
	} else {
		flags = unix.MS_RDONLY
	}
	if len(opts) >= os.Getpagesize() {
		return fmt.Errorf("%d lower dirs exceed mount(2)'s option size", len(o.Lower))
	}
	return unix.Mount("overlay", target, "overlay", flags, opts)
}

// Unmount detaches the mount at target; a target that is not mounted is not an error.
func Unmount(target string) error {
	err := unix.Unmount(target, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", target, err)
}
