package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// installCopies copies the named executables from src into a fresh
// directory dst, as an installation would write them, and returns dst.
//
// Both runtimes run from such copies, evicted from the page cache, so that
// their binaries start from the same state, that of a node after a reboot:
// read from disk as their processes fault them in. How a binary got into the
// page cache decides the size of its folios there, and the kernel maps a
// whole folio on a fault: a binary the Go linker has just written (large
// folios) shows most of its size in the resident memory of every process
// that runs it. Measured from different states the memory figures compare
// the states, not the runtimes.
func installCopies(src, dst string, names ...string) (string, error) {
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	for _, n := range names {
		if err := copyExecutable(filepath.Join(src, n), filepath.Join(dst, n)); err != nil {
			return "", fmt.Errorf("install %s: %w", n, err)
		}
	}
	return dst, nil
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	// A plain read/write loop (not copy_file_range): the copy is written
	// as an installer writes it.
	if _, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, make([]byte, 1<<20)); err != nil {
		out.Close()
		return err
	}
	// On disk, then out of the page cache: the runtime starts as after a
	// reboot, its binary read from disk as its processes touch it.
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := unix.Fadvise(int(out.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		out.Close()
		return fmt.Errorf("evict %s from the page cache: %w", dst, err)
	}
	return out.Close()
}
