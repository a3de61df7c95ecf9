package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cri-shim/cri-shim/pkg/fsusage"
)

// diskUsage is what one blob or layer takes on disk.
type diskUsage struct {
	Bytes  uint64 `json:"bytes"`
	Inodes uint64 `json:"inodes"`
}

// Usage reports the disk bytes and inodes the store uses. Blobs, temporary
// files and anything else under the root are measured; the extracted layers
// are counted from what was measured when each was extracted, so that a
// call does not walk every file of every image.
func (s *Service) Usage(ctx context.Context) (fsusage.Usage, error) {
	u := fsusage.Usage{Path: s.root, Timestamp: time.Now()}
	layersRoot := filepath.Join(s.root, layersDir)
	s.mu.Lock()
	known := make(map[string]diskUsage, len(s.usage))
	for k, v := range s.usage {
		known[k] = v
	}
	s.mu.Unlock()
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if d.IsDir() && filepath.Dir(p) == layersRoot {
			c := digest.NewDigestFromEncoded(digest.SHA256, d.Name())
			du, ok := known[layerKey(c)]
			if !ok {
				m, err := fsusage.Measure(p)
				if err != nil {
					return err
				}
				du = diskUsage{Bytes: m.Bytes, Inodes: m.Inodes}
			}
			u.Bytes += du.Bytes
			u.Inodes += du.Inodes
			return fs.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			u.Bytes += uint64(st.Blocks) * 512
			u.Inodes++
		}
		return nil
	})
	if err != nil {
		return u, fmt.Errorf("image store usage %s: %w", s.root, err)
	}
	return u, nil
}

// loadUsage reads what each extracted layer measured when it was made.
func (s *Service) loadUsage() error {
	entries, err := os.ReadDir(filepath.Join(s.root, layersDir))
	if err != nil {
		return fmt.Errorf("image store: read layers: %w", err)
	}
	for _, e := range entries {
		c := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if checkDigest(c) != nil {
			continue // the collector removes it
		}
		info, err := readLayerInfo(filepath.Join(s.root, layersDir, e.Name()))
		if err != nil {
			continue // measured on demand; the collector removes it if unused
		}
		s.setUsage(layerKey(c), info.Usage)
	}
	return nil
}

func (s *Service) setUsage(key string, du diskUsage) {
	s.mu.Lock()
	s.usage[key] = du
	s.mu.Unlock()
}

func (s *Service) dropUsage(key string) {
	s.mu.Lock()
	delete(s.usage, key)
	s.mu.Unlock()
}

// layerInfo is layer.json: what one extracted layer is and holds.
type layerInfo struct {
	ChainID digest.Digest `json:"chainID"`
	DiffID  digest.Digest `json:"diffID"`
	Blob    digest.Digest `json:"blob,omitempty"`
	Entries int64         `json:"entries"`
	Usage   diskUsage     `json:"usage"`
}

func readLayerInfo(dir string) (layerInfo, error) {
	var li layerInfo
	raw, err := os.ReadFile(filepath.Join(dir, layerInfoFile))
	if err != nil {
		return li, err
	}
	if err := json.Unmarshal(raw, &li); err != nil {
		return li, fmt.Errorf("%s: %w", filepath.Join(dir, layerInfoFile), err)
	}
	return li, nil
}
