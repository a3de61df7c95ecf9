package checkpoint

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	ctrarchive "github.com/containerd/containerd/v2/pkg/archive"
	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Names inside a checkpoint archive.
const (
	imagesName     = "checkpoint"
	recordName     = "config.dump"
	specName       = "spec.dump"
	rootfsDiffName = "rootfs-diff.tar"
)

// IsArchive says whether a CreateContainer image reference names a
// checkpoint archive rather than an image: an absolute path (no image
// reference starts with "/"), as CRI-O and crictl spell a restore.
func IsArchive(ref string) bool { return strings.HasPrefix(ref, "/") }

// Source is a checkpoint archive unpacked for a restore.
type Source struct {
	// Dir holds the unpacked archive.
	Dir string
	// Record is the checkpointed container's record (config.dump).
	Record []byte
}

// ImagesDir is the directory of CRIU images to restore from.
func (s *Source) ImagesDir() string { return filepath.Join(s.Dir, imagesName) }

// Unpack unpacks the checkpoint archive at path into dir (created; the
// caller removes it). Names resolve inside dir; an archive that is not one
// of ours (no CRIU images or no record) is an InvalidArgument error.
func Unpack(ctx context.Context, path, dir string) (*Source, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint archive %s: %w", path, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint archive %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("checkpoint archive %s: not a regular file: %w", path, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("checkpoint archive %s: %w", path, err)
	}
	filter := func(h *tar.Header) (bool, error) {
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir:
			return true, nil
		}
		return false, fmt.Errorf("entry %q: only files and directories belong in a checkpoint archive: %w", h.Name, errdefs.ErrInvalidArgument)
	}
	if _, err := ctrarchive.Apply(ctx, dir, f, ctrarchive.WithFilter(filter)); err != nil {
		return nil, fmt.Errorf("checkpoint archive %s: %w", path, wrapInvalid(err))
	}
	s := &Source{Dir: dir}
	if fi, err := os.Stat(s.ImagesDir()); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("checkpoint archive %s: no CRIU images (%s/): %w", path, imagesName, errdefs.ErrInvalidArgument)
	}
	if s.Record, err = os.ReadFile(filepath.Join(dir, recordName)); err != nil {
		return nil, fmt.Errorf("checkpoint archive %s: no container record (%s): %w", path, recordName, errdefs.ErrInvalidArgument)
	}
	return s, nil
}

// ApplyRootfsDiff writes the checkpointed container's writable layer into
// upper, the new container's writable layer before it is mounted: files,
// directories, links, overlay whiteouts (0:0 character devices) and opaque
// marks. Other device nodes are refused. An archive without a diff (the
// container had written nothing) is fine.
func (s *Source) ApplyRootfsDiff(ctx context.Context, upper string) error {
	path, err := securejoin.SecureJoin(s.Dir, rootfsDiffName)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	filter := func(h *tar.Header) (bool, error) {
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo:
		case tar.TypeChar:
			if h.Devmajor != 0 || h.Devminor != 0 {
				return false, fmt.Errorf("writable layer entry %q: device %d:%d: %w", h.Name, h.Devmajor, h.Devminor, errdefs.ErrInvalidArgument)
			}
		default:
			return false, fmt.Errorf("writable layer entry %q: type %q not allowed: %w", h.Name, h.Typeflag, errdefs.ErrInvalidArgument)
		}
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") && k != "SCHILY.xattr.trusted.overlay.opaque" {
				delete(h.PAXRecords, k)
			}
		}
		return true, nil
	}
	if _, err := ctrarchive.Apply(ctx, upper, f, ctrarchive.WithFilter(filter)); err != nil {
		return fmt.Errorf("writable layer: %w", wrapInvalid(err))
	}
	return nil
}

// wrapInvalid marks a malformed archive as InvalidArgument, keeping kinds
// already set.
func wrapInvalid(err error) error {
	if errors.Is(err, errdefs.ErrInvalidArgument) {
		return err
	}
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "archive/tar") {
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return err
}
