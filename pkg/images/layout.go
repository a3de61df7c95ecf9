package images

import (
	"fmt"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/go-digest"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Directories and files inside the store's root.
const (
	blobsDir      = "blobs"
	layersDir     = "layers"
	tmpDir        = "tmp"
	layerFSDir    = "fs"
	layerInfoFile = "layer.json"
)

// blobPath is where the blob with digest d is kept. d comes from a manifest,
// so it is validated and joined without following symlinks out of the root.
func (s *Service) blobPath(d digest.Digest) (string, error) {
	if err := checkDigest(d); err != nil {
		return "", err
	}
	return securejoin.SecureJoin(s.root, filepath.Join(blobsDir, d.Algorithm().String(), d.Encoded()))
}

// layerPath is the directory of the layer with chain ID c (its fs subdir is
// the extracted tree).
func (s *Service) layerPath(c digest.Digest) (string, error) {
	if err := checkDigest(c); err != nil {
		return "", err
	}
	return securejoin.SecureJoin(s.root, filepath.Join(layersDir, c.Encoded()))
}

// checkDigest accepts a well-formed sha256 digest only.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %q: only sha256 is supported: %w", d, errdefs.ErrInvalidArgument)
	}
	return nil
}
