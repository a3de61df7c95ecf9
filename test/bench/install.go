package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// installCopies copies the named executables from src into a fresh
// directory dst, as an installation would write them, and returns dst.
//
// Both runtimes run from such copies so that their binaries start from the
// same page-cache state: a binary the Go linker has just written sits in the
// page cache as large folios, which the kernel maps whole on a fault (the
// resident memory of a just-built daemon is then most of its binary), while
// one written by write(2), as package managers and "make install" do, sits in
// small ones. Measured from different states the memory figures compare the
// states, not the runtimes.
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
	return out.Close()
}
