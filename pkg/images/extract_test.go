package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// sandbox is a parent dir holding the layer dir and, beside it, "outside"
// with a file hostile layers try to reach.
type sandbox struct {
	parent, layer, outside string
}

func newSandbox(t testing.TB) sandbox {
	t.Helper()
	p := t.TempDir()
	s := sandbox{parent: p, layer: filepath.Join(p, "layer"), outside: filepath.Join(p, "outside")}
	for _, d := range []string{s.layer, s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// outsideState describes everything in the sandbox but the layer dir.
func (s sandbox) outsideState(t testing.TB) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(s.parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.layer {
			return fs.SkipDir
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v %d %d %d %d", p, info.Mode(), info.Size(), st.Ino, st.Nlink, info.ModTime().UnixNano())
		if info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		var buf [256]byte
		if n, err := unix.Llistxattr(p, buf[:]); err == nil && n > 0 {
			line += " xattrs:" + string(buf[:n])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// checkLayerTree fails on device nodes other than overlay whiteouts (char
// 0:0), fifos and trusted.* xattrs other than the opaque marker.
func checkLayerTree(t testing.TB, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		st := info.Sys().(*syscall.Stat_t)
		switch m := info.Mode(); {
		case m&os.ModeCharDevice != 0:
			if st.Rdev != 0 {
				t.Errorf("%s: device node %d", p, st.Rdev)
			}
		case m&os.ModeDevice != 0, m&os.ModeNamedPipe != 0, m&os.ModeSocket != 0:
			t.Errorf("%s: special file %v", p, m)
		}
		var buf [1024]byte
		if n, err := unix.Llistxattr(p, buf[:]); err == nil {
			for _, x := range strings.Split(string(buf[:n]), "\x00") {
				if strings.HasPrefix(x, "trusted.") && x != "trusted.overlay.opaque" {
					t.Errorf("%s: xattr %s from the archive", p, x)
				}
			}
		}
		return nil
	})
}

// applyHostile extracts data (tar, possibly compressed) into a sandbox
// and checks that nothing outside the layer changed.
func applyHostile(t testing.TB, data []byte) error {
	t.Helper()
	s := newSandbox(t)
	before := s.outsideState(t)
	r, err := decompress(bytes.NewReader(data))
	if err == nil {
		_, err = applyLayer(context.Background(), s.layer, r, fuzzLimits)
	}
	if after := s.outsideState(t); after != before {
		t.Fatalf("extraction changed things outside the layer:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, serr := os.Lstat(fuzzCanary); serr == nil {
		_ = os.RemoveAll(fuzzCanary)
		t.Fatalf("extraction wrote %s", fuzzCanary)
	}
	checkLayerTree(t, s.layer)
	return err
}

func TestApplyHostileArchives(t *testing.T) {
	for _, h := range hostileArchives(t) {
		t.Run(h.name, func(t *testing.T) {
			err := applyHostile(t, h.data)
			switch h.want {
			case "":
				if err != nil {
					t.Fatalf("contained archive refused: %v", err)
				}
			case "invalid":
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("got %v, want invalid argument", err)
				}
			case "exhausted":
				if !errors.Is(err, errdefs.ErrResourceExhausted) {
					t.Fatalf("got %v, want resource exhausted", err)
				}
			}
		})
	}
}

func TestApplyWhiteoutsInOverlayForm(t *testing.T) {
	s := newSandbox(t)
	data := makeTar(t, dir("etc/"), file("etc/.wh.passwd", ""), dir("var/"), file("var/.wh..wh..opq", ""), file("var/new", "n"))
	st, err := applyLayer(context.Background(), s.layer, bytes.NewReader(data), fuzzLimits)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Lstat(filepath.Join(s.layer, "etc/passwd"))
	if err != nil || info.Mode()&os.ModeCharDevice == 0 || info.Sys().(*syscall.Stat_t).Rdev != 0 {
		t.Fatalf("whiteout: %v %v", info, err)
	}
	var v [8]byte
	if n, err := unix.Getxattr(filepath.Join(s.layer, "var"), "trusted.overlay.opaque", v[:]); err != nil || string(v[:n]) != "y" {
		t.Fatalf("opaque dir: %q %v", v[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(s.layer, "var/.wh..wh..opq")); !os.IsNotExist(err) {
		t.Fatalf("opaque marker written as a file: %v", err)
	}
	if st.Entries != 5 || st.TarBytes != int64(len(data)) {
		t.Errorf("stats %+v (tar %d bytes)", st, len(data))
	}
}

func TestApplyReadsWholeStream(t *testing.T) {
	// The diffID covers the trailer: applyLayer must read to the end.
	data := makeTar(t, file("a", "a"))
	data = append(data, make([]byte, 4096)...)
	h := sha256.New()
	s := newSandbox(t)
	if _, err := applyLayer(context.Background(), s.layer, io.TeeReader(bytes.NewReader(data), h), fuzzLimits); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%x", h.Sum(nil)), fmt.Sprintf("%x", sha256.Sum256(data)); got != want {
		t.Fatal("the stream was not read to its end")
	}
}
