package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// gcAttempts bounds how often a collection starts over because a pull
// committed while it ran.
const gcAttempts = 3

// GC removes the blobs and layer dirs that no image record, no lease and no
// pull or import in flight uses, and returns how many it removed. It runs at
// start-up and after removals; it never removes content in use.
func (s *Service) GC(ctx context.Context) (int, error) {
	total := 0
	for range gcAttempts {
		n, again, err := s.collect(ctx)
		total += n
		if err != nil || !again {
			return total, err
		}
	}
	return total, nil
}

// gcItem is one blob or layer dir on disk.
type gcItem struct {
	key, path string
	layer     bool
}

// collect is one pass; again says a commit happened meanwhile and the
// pass stopped early.
func (s *Service) collect(ctx context.Context) (removed int, again bool, err error) {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()

	keep, err := s.marked(ctx)
	if err != nil {
		return 0, false, err
	}
	items, err := s.onDisk()
	if err != nil {
		return 0, false, err
	}
	var trash []string
	defer func() {
		for _, t := range trash {
			if rerr := os.RemoveAll(t); rerr != nil {
				klog.Errorf("image garbage collection: remove %s: %v", t, rerr)
			}
		}
	}()
	for _, it := range items {
		if keep[it.key] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return removed, false, err
		}
		s.mu.Lock()
		if s.gen != gen {
			s.mu.Unlock()
			return removed, true, nil
		}
		if s.pins[it.key] > 0 {
			s.mu.Unlock()
			continue
		}
		// Out of sight under the lock (one rename or unlink); a pull pinning
		// this content afterwards finds it absent and fetches it again.
		var rmErr error
		if it.layer {
			var bin string
			if bin, rmErr = os.MkdirTemp(s.tmp, "gc-"); rmErr == nil {
				trash = append(trash, bin)
				rmErr = os.Rename(it.path, filepath.Join(bin, "layer"))
			}
		} else {
			rmErr = os.Remove(it.path)
		}
		s.mu.Unlock()
		switch {
		case rmErr == nil:
			removed++
			s.dropUsage(it.key)
			klog.V(4).Infof("image garbage collection: removed %s", it.key)
		case errors.Is(rmErr, os.ErrNotExist):
		default:
			return removed, false, fmt.Errorf("remove %s: %w", it.path, rmErr)
		}
	}
	return removed, false, nil
}

// marked lists the content records and leases reference.
func (s *Service) marked(ctx context.Context) (map[string]bool, error) {
	keep := map[string]bool{}
	err := s.db.View(ctx, func(tx metadata.Tx) error {
		recs, err := allRecords(tx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			for _, b := range r.Blobs {
				keep[blobKey(b)] = true
			}
			keep[blobKey(digest.Digest(r.ID))] = true
			for _, l := range r.Layers {
				keep[layerKey(l.ChainID)] = true
			}
		}
		leases, err := leasesIn(tx)
		for _, l := range leases {
			for _, c := range l.ChainIDs {
				keep[layerKey(c)] = true
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("image garbage collection: read records: %w", err)
	}
	return keep, nil
}

func leasesIn(tx metadata.Tx) ([]LeaseInfo, error) {
	var out []LeaseInfo
	err := tx.ForEach(bucketLeases, func(k string, _ []byte) error {
		var l LeaseInfo
		if err := metadata.GetJSON(tx, bucketLeases, k, &l); err != nil {
			return err
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// onDisk lists the stored blobs and layer dirs. Entries whose names are not
// digests cannot be referenced and are listed under a key nothing keeps.
func (s *Service) onDisk() ([]gcItem, error) {
	var items []gcItem
	for _, spec := range []struct {
		dir   string
		layer bool
	}{{filepath.Join(s.root, blobsDir, "sha256"), false}, {filepath.Join(s.root, layersDir), true}} {
		entries, err := os.ReadDir(spec.dir)
		if err != nil {
			return nil, fmt.Errorf("image garbage collection: %w", err)
		}
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
			key := "junk:" + e.Name()
			if checkDigest(d) == nil {
				key = blobKey(d)
				if spec.layer {
					key = layerKey(d)
				}
			}
			items = append(items, gcItem{key: key, path: filepath.Join(spec.dir, e.Name()), layer: spec.layer || e.IsDir()})
		}
	}
	return items, nil
}
