package images

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/fsusage"
)

// layerExists reports whether the layer with chain ID c is extracted.
func (s *Service) layerExists(c digest.Digest) bool {
	p, err := s.layerPath(c)
	if err != nil {
		return false
	}
	st, err := os.Stat(filepath.Join(p, layerFSDir))
	return err == nil && st.IsDir()
}

// unpackLayer extracts the stored blob of lp into layers/<chainid>: into a
// directory under tmp first, checking the uncompressed stream against the
// diffID, then renamed into place. A layer dir that exists is complete.
func (s *Service) unpackLayer(ctx context.Context, image string, lp layerPlan, lim layerLimits, sink progressSink) (err error) {
	what := "layer " + lp.Blob.Digest.String()
	defer func() {
		if err != nil {
			err = fmt.Errorf("image %s: layer %s: %w", image, lp.Blob.Digest, err)
		}
	}()
	dst, err := s.layerPath(lp.ChainID)
	if err != nil {
		return err
	}
	blob, err := s.blobPath(lp.Blob.Digest)
	if err != nil {
		return err
	}
	f, err := os.Open(blob)
	if err != nil {
		return err
	}
	defer f.Close()
	tarStream, err := decompress(&progressReader{r: f, what: what, sink: sink, busy: true})
	if err != nil {
		return err
	}
	defer tarStream.Close()

	work, err := os.MkdirTemp(s.tmp, "layer-")
	if err != nil {
		return err
	}
	defer func() {
		if work != "" {
			_ = os.RemoveAll(work)
		}
	}()
	fsDir := filepath.Join(work, layerFSDir)
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return err
	}
	h := sha256.New()
	st, err := applyLayer(ctx, fsDir, io.TeeReader(tarStream, h), lim)
	if err != nil {
		return err
	}
	if got := digest.NewDigest(digest.SHA256, h); got != lp.DiffID {
		return fmt.Errorf("uncompressed content has digest %s, the config's diffID is %s: %w", got, lp.DiffID, errdefs.ErrInvalidArgument)
	}
	startFilesWriteout(fsDir, st.Large)
	m, err := fsusage.Measure(work)
	if err != nil {
		return err
	}
	info := layerInfo{ChainID: lp.ChainID, DiffID: lp.DiffID, Blob: lp.Blob.Digest, Entries: st.Entries,
		Usage: diskUsage{Bytes: m.Bytes + 4096, Inodes: m.Inodes + 1}} // + layer.json
	raw, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, layerInfoFile), raw, 0o600); err != nil {
		return err
	}
	if err := os.Rename(work, dst); err != nil {
		if !errors.Is(err, os.ErrExist) && !errors.Is(err, unix.ENOTEMPTY) {
			return err
		}
		if s.layerExists(lp.ChainID) {
			return nil // extracted meanwhile by another pull; ours is removed
		}
		// A damaged dir (no fs/) is in the way: set it aside for removal.
		bin, err := os.MkdirTemp(s.tmp, "damaged-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(bin)
		if err := os.Rename(dst, filepath.Join(bin, "layer")); err != nil {
			return err
		}
		if err := os.Rename(work, dst); err != nil {
			return err
		}
	}
	work = ""
	s.setUsage(layerKey(lp.ChainID), info.Usage)
	return nil
}

// syncFS flushes the filesystem holding dir. Ingest calls it once before
// writing an image's record: the record then never names content a power
// cut could have lost, and content no record names is removed at start-up
// before anything can use it, so blobs and layers need no flush each.
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}
