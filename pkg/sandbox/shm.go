package sandbox

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// HostShm is the host's /dev/shm, which pods with host IPC use.
const HostShm = "/dev/shm"

// shmSize is the size of a pod's /dev/shm, as Docker and containerd make it.
const shmSize = 64 << 20

// mountShm mounts the pod's /dev/shm tmpfs at dir.
func mountShm(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("shm dir: %w", err)
	}
	opts := fmt.Sprintf("mode=1777,size=%d", shmSize)
	if err := unix.Mount("shm", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("mount shm tmpfs at %s: %w", dir, err)
	}
	return nil
}

// unmountShm unmounts the pod's /dev/shm (every mount stacked there) and
// removes the directory; what is already gone is not an error.
func unmountShm(dir string) error {
	for range 8 {
		err := unix.Unmount(dir, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			return fmt.Errorf("unmount shm %s: %w", dir, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove shm dir %s: %w", dir, err)
	}
	return nil
}
