package images

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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
