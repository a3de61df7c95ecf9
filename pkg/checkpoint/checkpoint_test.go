package checkpoint

import (
	"archive/tar"
	"bytes"
	"context"
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

func TestCRIUErrorLines(t *testing.T) {
	log := filepath.Join(t.TempDir(), "dump.log")
	content := "(00.0001) Version: 3.17.1\n" +
		"(00.0002) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n" +
		"(00.0003) Error (criu/crtools.c:260): Could not initialize kernel features detection.\n"
	if err := os.WriteFile(log, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds; Error (criu/crtools.c:260): Could not initialize kernel features detection."
	if got := criuErrors(log); got != want {
		t.Fatalf("got %q", got)
	}
	if criuErrors(filepath.Join(t.TempDir(), "none")) != "" {
		t.Fatal("missing log gave lines")
	}
}
