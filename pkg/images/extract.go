package images

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/pkg/archive"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// layerLimits bound what one layer may hold.
type layerLimits struct {
	// MaxBytes bounds the uncompressed tar stream and the sum of its file sizes.
	MaxBytes int64
	// MaxEntries bounds the number of tar entries.
	MaxEntries int64
}

// applyStats is what an extracted layer held.
type applyStats struct {
	Entries   int64 // tar entries seen
	FileBytes int64 // sum of regular files' sizes
	TarBytes  int64 // uncompressed stream bytes read
	// Large names the regular files of at least writeoutMinSize bytes, as
	// the archive does (cleaned, relative to the layer's root).
	Large []string
}

// errTooLarge is returned by a limitReader past its limit.
var errTooLarge = errors.New("uncompressed layer larger than the limit")

// limitReader fails with errTooLarge once more than n bytes come through.
type limitReader struct {
	r        io.Reader
	n, read  int64
	exceeded bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.read >= l.n {
		var probe [1]byte
		if m, err := l.r.Read(probe[:]); m > 0 {
			l.exceeded = true
			return 0, fmt.Errorf("%w (%d bytes): %w", errTooLarge, l.n, errdefs.ErrResourceExhausted)
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > l.n-l.read {
		p = p[:l.n-l.read]
	}
	m, err := l.r.Read(p)
	l.read += int64(m)
	return m, err
}

// applyLayer extracts the uncompressed layer tar r into dir, an empty
// directory, with containerd's archive.Apply: names resolve inside dir
// (symlinks and ".." included), whiteouts become overlayfs whiteouts (char
// 0:0 devices and opaque xattrs). On top of that it refuses entries naming a
// path or hard-link target above the layer, device nodes and fifos, more
// than lim.MaxEntries entries and more than lim.MaxBytes bytes, and drops
// trusted.* extended attributes (overlayfs keeps its own state there).
// It reads r to its end, so that a caller hashing r sees the whole stream.
func applyLayer(ctx context.Context, dir string, r io.Reader, lim layerLimits) (applyStats, error) {
	var st applyStats
	lr := &limitReader{r: r, n: lim.MaxBytes}
	// Names of the non-directory entries so far: a hard link must name one
	// (anything else is a link to a file of the host or through a symlink).
	seen := map[string]bool{}
	filter := func(hdr *tar.Header) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		st.Entries++
		if st.Entries > lim.MaxEntries {
			return false, fmt.Errorf("more than %d entries: %w", lim.MaxEntries, errdefs.ErrResourceExhausted)
		}
		if escapes(hdr.Name) {
			return false, fmt.Errorf("entry %q points above the layer: %w", hdr.Name, errdefs.ErrInvalidArgument)
		}
		switch hdr.Typeflag {
		case tar.TypeReg: // archive/tar reads the old TypeRegA as TypeReg
			if hdr.Size < 0 {
				return false, fmt.Errorf("entry %q: negative size: %w", hdr.Name, errdefs.ErrInvalidArgument)
			}
			st.FileBytes += hdr.Size
			if st.FileBytes > lim.MaxBytes {
				return false, fmt.Errorf("files larger than %d bytes in all: %w", lim.MaxBytes, errdefs.ErrResourceExhausted)
			}
			if hdr.Size >= writeoutMinSize {
				st.Large = append(st.Large, filepath.Clean("/" + hdr.Name)[1:])
			}
		case tar.TypeDir, tar.TypeSymlink, tar.TypeXGlobalHeader:
		case tar.TypeLink:
			if escapes(filepath.Clean(hdr.Linkname)) {
				return false, fmt.Errorf("hard link %q to %q points above the layer: %w", hdr.Name, hdr.Linkname, errdefs.ErrInvalidArgument)
			}
			if !seen[filepath.Clean("/"+hdr.Linkname)] {
				return false, fmt.Errorf("hard link %q to %q: no such file earlier in the layer: %w", hdr.Name, hdr.Linkname, errdefs.ErrInvalidArgument)
			}
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return false, fmt.Errorf("entry %q: device nodes and fifos are not allowed in a layer: %w", hdr.Name, errdefs.ErrInvalidArgument)
		default:
			return false, fmt.Errorf("entry %q: unsupported tar entry type %q: %w", hdr.Name, hdr.Typeflag, errdefs.ErrInvalidArgument)
		}
		if hdr.Typeflag != tar.TypeDir {
			seen[filepath.Clean("/"+hdr.Name)] = true
		}
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.trusted.") {
				delete(hdr.PAXRecords, k)
			}
		}
		return true, nil
	}
	_, err := archive.Apply(ctx, dir, lr,
		archive.WithConvertWhiteout(archive.OverlayConvertWhiteout),
		archive.WithFilter(filter))
	if err == nil {
		// The tar trailer and padding: part of the stream the diffID covers.
		_, err = io.Copy(io.Discard, lr)
	}
	st.TarBytes = lr.read
	if lr.exceeded {
		return st, fmt.Errorf("%w (%d bytes): %w", errTooLarge, lim.MaxBytes, errdefs.ErrResourceExhausted)
	}
	if err != nil {
		if isCorrupt(err) {
			return st, fmt.Errorf("not a valid layer: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return st, err
	}
	return st, nil
}

// escapes reports whether a cleaned tar name climbs above the archive root.
func escapes(name string) bool {
	name = filepath.Clean(name)
	return name == ".." || strings.HasPrefix(name, "../")
}

// isCorrupt says whether err comes from a malformed archive or compressed
// stream rather than from the disk.
func isCorrupt(err error) bool {
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, tar.ErrFieldTooLong) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"gzip:", "flate:", "zstd:", "invalid whiteout", "invalid archive", "archive/tar:", "unhandled tar header", "magic number mismatch"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
