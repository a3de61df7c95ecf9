package fsusage

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMeasure(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := Measure(dir)
	if err != nil {
		t.Fatal(err)
	}
	// dir, a (== b), sub
	if u.Inodes != 3 {
		t.Errorf("inodes = %d, want 3", u.Inodes)
	}
	if u.Bytes < 64<<10 || u.Bytes > 2*(64<<10)+64<<10 {
		t.Errorf("bytes = %d, want the 64 KiB file counted once", u.Bytes)
	}
	if u, err := Measure(filepath.Join(dir, "missing")); err != nil || u.Inodes != 0 {
		t.Errorf("missing dir: %+v, %v", u, err)
	}
}
