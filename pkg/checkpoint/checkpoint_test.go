package checkpoint

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func TestArchiveOfWritableLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (whiteout devices)")
	}
	upper := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(upper, "etc", "app"), 0o755))
	must(os.WriteFile(filepath.Join(upper, "etc", "app", "conf"), []byte("hello"), 0o640))
	must(os.Symlink("app/conf", filepath.Join(upper, "etc", "link")))
	must(unix.Mknod(filepath.Join(upper, "etc", "gone"), unix.S_IFCHR, 0)) // an overlay whiteout
	must(unix.Setxattr(filepath.Join(upper, "etc", "app"), "trusted.overlay.opaque", []byte("y"), 0))

	var buf bytes.Buffer
	a := newArchive(&buf)
	must(a.file("config.dump", []byte(`{"id":"c"}`)))
	must(a.nested("rootfs-diff.tar", upper, t.TempDir()))
	must(a.close())

	outer := readTar(t, buf.Bytes())
	if string(outer["config.dump"].data) != `{"id":"c"}` {
		t.Fatalf("config.dump %q", outer["config.dump"].data)
	}
	inner := readTar(t, outer["rootfs-diff.tar"].data)
	if e := inner["etc/app/conf"]; string(e.data) != "hello" || e.h.Mode&0o777 != 0o640 {
		t.Errorf("file %+v", e.h)
	}
	if e := inner["etc/link"]; e.h.Typeflag != tar.TypeSymlink || e.h.Linkname != "app/conf" {
		t.Errorf("symlink %+v", e.h)
	}
	if e := inner["etc/gone"]; e.h.Typeflag != tar.TypeChar || e.h.Devmajor != 0 || e.h.Devminor != 0 {
		t.Errorf("whiteout %+v", e.h)
	}
	if e := inner["etc/app/"]; e.h.PAXRecords["SCHILY.xattr.trusted.overlay.opaque"] != "y" {
		t.Errorf("opaque dir %+v", e.h)
	}
}

type entry struct {
	h    *tar.Header
	data []byte
}

func readTar(t *testing.T, b []byte) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	r := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		out[h.Name] = entry{h, data}
	}
}

func TestBadRequests(t *testing.T) {
	ctx := context.Background()
	if err := Container(ctx, Options{ID: "c", Archive: "relative.tar"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("relative location: %v", err)
	}
	if err := Container(ctx, Options{StateRoot: t.TempDir(), ID: "c", Archive: filepath.Join(t.TempDir(), "c.tar")}); !errdefs.IsNotFound(err) {
		t.Errorf("unknown container: %v", err)
	}
}

func TestUnpackRefusesWhatIsNotACheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, entries map[string]string) string {
		t.Helper()
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for n, body := range entries {
			if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, c := range map[string]struct {
		path string
		want error
	}{
		"missing":   {filepath.Join(dir, "none.tar"), errdefs.ErrNotFound},
		"directory": {dir, errdefs.ErrInvalidArgument},
		"no images": {write("noimages.tar", map[string]string{"config.dump": "{}"}), errdefs.ErrInvalidArgument},
		"no record": {write("norecord.tar", map[string]string{"checkpoint/inventory.img": "x"}), errdefs.ErrInvalidArgument},
		"garbage":   {write("garbage.tar", nil) + ".x", errdefs.ErrNotFound},
	} {
		if _, err := Unpack(ctx, c.path, filepath.Join(t.TempDir(), "out")); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// Names that climb out land inside the target.
	out := filepath.Join(t.TempDir(), "out")
	src, err := Unpack(ctx, write("climb.tar", map[string]string{
		"../../escaped": "x", "checkpoint/inventory.img": "x", "config.dump": "{}",
	}), out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(out)), "escaped")); err == nil {
		t.Error("an entry escaped the target dir")
	}
	if string(src.Record) != "{}" || src.ImagesDir() != filepath.Join(out, "checkpoint") {
		t.Errorf("source %+v", src)
	}
}
