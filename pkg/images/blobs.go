package images

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// blobExists reports whether the blob d is stored.
func (s *Service) blobExists(d digest.Digest) bool {
	p, err := s.blobPath(d)
	if err != nil {
		return false
	}
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// readBlob returns the stored blob d, refusing one larger than limit bytes.
func (s *Service) readBlob(d digest.Digest, limit int64) ([]byte, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("blob %s: larger than %d bytes: %w", d, limit, errdefs.ErrResourceExhausted)
	}
	return b, nil
}

// blobWriteBuffer is the size of the writes of a blob to its file.
const blobWriteBuffer = 256 << 10

// writeBlob stores r's content as the blob desc describes, through a
// temporary file renamed into place only once size and digest match.
func (s *Service) writeBlob(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	dst, err := s.blobPath(desc.Digest)
	if err != nil {
		return err
	}
	if desc.Size < 0 {
		return fmt.Errorf("blob %s: negative size %d: %w", desc.Digest, desc.Size, errdefs.ErrInvalidArgument)
	}
	f, err := os.CreateTemp(s.tmp, "blob-")
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	// The content is hashed once: here, unless its source hashes it and
	// fails the read that reaches its end on a mismatch. Reading up to one
	// byte past the size makes every source reach its end.
	// Written in large chunks, not in the network's small reads, and its
	// write-out to disk started as it goes (writebackWriter).
	wb := &writebackWriter{f: f}
	bw := bufio.NewWriterSize(wb, blobWriteBuffer)
	var h hash.Hash
	w := io.Writer(bw)
	if !checksDigest(r) {
		h = sha256.New()
		w = io.MultiWriter(bw, h)
	}
	n, copyErr := io.Copy(w, io.LimitReader(&ctxReader{ctx: ctx, r: r}, desc.Size+1))
	switch {
	case n > desc.Size:
		return fmt.Errorf("blob %s: more than its %d bytes: %w", desc.Digest, desc.Size, errdefs.ErrInvalidArgument)
	case n == desc.Size && h != nil && digest.NewDigest(digest.SHA256, h) != desc.Digest:
		return fmt.Errorf("blob %s: content has digest %s: %w", desc.Digest, digest.NewDigest(digest.SHA256, h), errdefs.ErrInvalidArgument)
	case copyErr != nil:
		return fmt.Errorf("blob %s: after %d of %d bytes: %w", desc.Digest, n, desc.Size, copyErr)
	case n < desc.Size:
		// The transfer ended cleanly (a cut connection is an error of the
		// reader): the registry's blob is shorter than the manifest says.
		return fmt.Errorf("blob %s: ended after %d of %d bytes: %w", desc.Digest, n, desc.Size, errdefs.ErrInvalidArgument)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	wb.flushStarted()
	if err := f.Close(); err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	committed = true
	return nil
}

// writeBlobBytes stores b as blob desc unless it is there already.
func (s *Service) writeBlobBytes(ctx context.Context, desc ocispec.Descriptor, b []byte) error {
	if s.blobExists(desc.Digest) {
		return nil
	}
	return s.writeBlob(ctx, desc, bytes.NewReader(b))
}

// verifyBytes checks b against desc's size and digest.
func verifyBytes(desc ocispec.Descriptor, b []byte) error {
	if int64(len(b)) != desc.Size {
		return fmt.Errorf("blob %s: %d bytes, want %d: %w", desc.Digest, len(b), desc.Size, errdefs.ErrInvalidArgument)
	}
	if got := digest.FromBytes(b); got != desc.Digest {
		return fmt.Errorf("blob %s: content has digest %s: %w", desc.Digest, got, errdefs.ErrInvalidArgument)
	}
	return nil
}

// digestChecked is blob content whose source checks the blob's digest (and
// size) itself and fails the read that reaches the end on a mismatch:
// go-containerregistry's verify.ReadCloser, which every remote blob comes
// through. writeBlob does not hash it a second time.
type digestChecked struct{ io.Reader }

func (digestChecked) checksDigest() bool { return true }

// checksDigest reports whether r (or the reader it wraps) is digestChecked.
func checksDigest(r io.Reader) bool {
	c, ok := r.(interface{ checksDigest() bool })
	return ok && c.checksDigest()
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}
