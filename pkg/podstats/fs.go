package podstats

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Filesystem is the size of the filesystem holding a path.
type Filesystem struct {
	// Device names the filesystem's block device ("/dev/vda1"), or
	// "MAJ:MIN" for one without (overlay, tmpfs).
	Device string
	// Capacity and Available are bytes; Inodes and InodesFree counts.
	Capacity, Available, Inodes, InodesFree uint64
}

// FilesystemOf measures the filesystem that holds path.
func FilesystemOf(path string) (Filesystem, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return Filesystem{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Filesystem{}, fmt.Errorf("stat %s: %w", path, err)
	}
	bsize := uint64(sfs.Bsize)
	return Filesystem{
		Device:     deviceName(uint64(unix.Major(st.Dev)), uint64(unix.Minor(st.Dev))),
		Capacity:   sfs.Blocks * bsize,
		Available:  sfs.Bavail * bsize,
		Inodes:     sfs.Files,
		InodesFree: sfs.Ffree,
	}, nil
}
