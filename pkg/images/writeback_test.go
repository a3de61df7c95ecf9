package images

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// TestWriteBlobContent: a blob larger than a write-out chunk, read in small
// pieces, is stored byte for byte, whether writeBlob hashes it or its
// source does; one with the wrong content is refused and leaves no file.
func TestWriteBlobContent(t *testing.T) {
	e := newEnv(t, nil)
	data := randomBytes(writebackChunk + 3*blobWriteBuffer + 17)
	desc := ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"hashed here", iotest.HalfReader(bytes.NewReader(data))},
		{"hashed by its source", digestChecked{iotest.HalfReader(bytes.NewReader(data))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.svc.writeBlob(context.Background(), desc, tc.r); err != nil {
				t.Fatal(err)
			}
			p, err := e.svc.blobPath(desc.Digest)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("stored %d bytes differ from the %d written", len(got), len(data))
			}
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		})
	}
	bad := flip(data)
	err := e.svc.writeBlob(context.Background(), desc, bytes.NewReader(bad))
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("wrong content: %v, want invalid argument", err)
	}
	if e.svc.blobExists(desc.Digest) {
		t.Error("wrong content was stored")
	}
	if ents, _ := os.ReadDir(e.svc.tmp); len(ents) != 0 {
		t.Errorf("%d files left in tmp", len(ents))
	}
}

// TestFilesWriteoutStaysInTheLayer: starting the write-out of named files
// of an extracted layer returns whatever the names are (a fifo opened for
// reading would block) and the write-out of the layer's large files is
// started; the host file a symlink points at is not opened.
func TestFilesWriteoutStaysInTheLayer(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "host-file")
	if err := os.WriteFile(outside, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b", "f"), randomBytes(1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "a", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(dir, "a", "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "a", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		startFilesWriteout(dir, []string{"a/b/f", "a/link", "a/dirlink/host-file", "a/fifo", "../" + filepath.Base(dir) + "/a/b/f", "missing", ""})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("startFilesWriteout blocked")
	}
}

// TestEarlyFlusher: flushes asked for in a burst, of files present or not,
// end with close; nothing runs after it.
func TestEarlyFlusher(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "blob")
	if err := os.WriteFile(p, randomBytes(64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	fl := newEarlyFlusher()
	for range 100 {
		fl.flush(p)
		fl.flush(filepath.Join(dir, "missing"))
	}
	fl.close()
	select {
	case <-fl.done:
	default:
		t.Fatal("flusher still running after close")
	}
}
