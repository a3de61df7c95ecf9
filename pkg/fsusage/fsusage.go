// Package fsusage measures the disk bytes and inodes a directory tree uses.
package fsusage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Usage is what one directory tree holds on disk.
type Usage struct {
	// Path is the measured directory.
	Path string
	// Bytes is the disk space used (allocated blocks), hard links counted once.
	Bytes uint64
	// Inodes is the number of distinct inodes.
	Inodes uint64
	// Timestamp is when the measurement was taken.
	Timestamp time.Time
}

type inodeKey struct{ dev, ino uint64 }

// Measure walks dir and adds up its blocks and inodes. A missing dir is empty.
// Entries that vanish during the walk are skipped.
func Measure(dir string) (Usage, error) {
	u := Usage{Path: dir, Timestamp: time.Now()}
	seen := map[inodeKey]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		k := inodeKey{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev's type differs per arch
		if seen[k] {
			return nil
		}
		seen[k] = true
		u.Inodes++
		u.Bytes += uint64(st.Blocks) * 512
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return u, fmt.Errorf("measure %s: %w", dir, err)
	}
	return u, nil
}
