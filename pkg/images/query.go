package images

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// Image is what the store tells about one image.
type Image struct {
	// ID is the config digest, "sha256:<hex>".
	ID string
	// RepoTags are normalized tag references: "docker.io/library/busybox:latest".
	RepoTags []string
	// RepoDigests are repo@digest references: "docker.io/library/busybox@sha256:...".
	RepoDigests []string
	// Size is the bytes of the image's manifest, config and compressed layers.
	Size uint64
	// UID is the config's USER when it is numeric (the part before ':'), else nil.
	UID *int64
	// Username is the config's USER when it is a name (the part before ':').
	Username string
	// Pinned images are not to be garbage collected by the kubelet.
	Pinned bool
	// ManifestDigest is the digest of the platform's image manifest.
	ManifestDigest digest.Digest
	// ChainIDs identify the image's layers, base first.
	ChainIDs []digest.Digest
	// Stored is when the image was stored.
	Stored time.Time
}

// Detail is an Image with its configuration, for verbose status.
type Detail struct {
	Image
	// Config is the image's OCI configuration.
	Config ocispec.Image
	// Layers are the image's layer blobs, base first.
	Layers []ocispec.Descriptor
}

func (rec imageRecord) image() Image {
	img := Image{
		ID: rec.ID, RepoTags: slices.Clone(rec.RepoTags), RepoDigests: slices.Clone(rec.RepoDigests),
		Size: rec.Size, Pinned: rec.Pinned, ManifestDigest: rec.ManifestDigest, Stored: rec.Stored,
	}
	img.UID, img.Username = parseUser(rec.User)
	for _, l := range rec.Layers {
		img.ChainIDs = append(img.ChainIDs, l.ChainID)
	}
	return img
}

// parseUser reads an image's USER ("1002", "www-data", "1003:1004",
// "www-data:1004") as CRI reports it: a numeric user is a UID, anything
// else a username.
func parseUser(user string) (*int64, string) {
	u, _, _ := strings.Cut(user, ":")
	if u == "" {
		return nil, ""
	}
	if n, err := strconv.ParseInt(u, 10, 64); err == nil && n >= 0 {
		return &n, ""
	}
	return nil, u
}

// List returns every stored image, ordered by ID.
func (s *Service) List(ctx context.Context) ([]Image, error) {
	var out []Image
	err := s.db.View(ctx, func(tx metadata.Tx) error {
		recs, err := allRecords(tx)
		for _, r := range recs {
			out = append(out, r.image())
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	return out, nil
}

// Status returns the image ref names (ID, tag, digest reference or unique ID
// prefix), or an error of kind errdefs.ErrNotFound.
func (s *Service) Status(ctx context.Context, ref string) (*Image, error) {
	var img Image
	err := s.db.View(ctx, func(tx metadata.Tx) error {
		rec, err := lookup(tx, ref)
		img = rec.image()
		return err
	})
	if err != nil {
		return nil, err
	}
	return &img, nil
}

// Inspect returns the image ref names with its configuration.
func (s *Service) Inspect(ctx context.Context, ref string) (*Detail, error) {
	var rec imageRecord
	if err := s.db.View(ctx, func(tx metadata.Tx) error {
		var err error
		rec, err = lookup(tx, ref)
		return err
	}); err != nil {
		return nil, err
	}
	cfg, err := s.imageConfig(rec)
	if err != nil {
		return nil, err
	}
	d := &Detail{Image: rec.image(), Config: cfg}
	for _, l := range rec.Layers {
		d.Layers = append(d.Layers, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size})
	}
	return d, nil
}

// imageConfig reads the stored config of rec.
func (s *Service) imageConfig(rec imageRecord) (ocispec.Image, error) {
	var cfg ocispec.Image
	raw, err := s.readBlob(digest.Digest(rec.ID), maxConfigBytes)
	if err != nil {
		return cfg, fmt.Errorf("image %s: config: %w", rec.ID, err)
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("image %s: config: %v: %w", rec.ID, err, errdefs.ErrInvalidArgument)
	}
	return cfg, nil
}

// Resolved is what a container needs from its image.
type Resolved struct {
	Image
	// Config is the image's OCI configuration (Config.Config holds Env,
	// Entrypoint, Cmd, WorkingDir, User, ...).
	Config ocispec.Image
	// LayerDirs are the extracted layer trees, base layer first. Overlayfs
	// wants them the other way round: see LowerDir.
	LayerDirs []string
}

// LowerDir is the overlayfs lowerdir option for layerDirs (base first):
// the topmost layer first, separated by ':'.
func LowerDir(layerDirs []string) string {
	dirs := slices.Clone(layerDirs)
	slices.Reverse(dirs)
	return strings.Join(dirs, ":")
}

// Resolve finds the image ref names and returns its config and layer dirs.
// The dirs are only guaranteed to stay while a Lease holds them: use Lease
// for anything that mounts them.
func (s *Service) Resolve(ctx context.Context, ref string) (*Resolved, error) {
	var rec imageRecord
	if err := s.db.View(ctx, func(tx metadata.Tx) error {
		var err error
		rec, err = lookup(tx, ref)
		return err
	}); err != nil {
		return nil, err
	}
	return s.resolved(rec)
}

func (s *Service) resolved(rec imageRecord) (*Resolved, error) {
	cfg, err := s.imageConfig(rec)
	if err != nil {
		return nil, err
	}
	res := &Resolved{Image: rec.image(), Config: cfg}
	for _, l := range rec.Layers {
		p, err := s.layerPath(l.ChainID)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", rec.ID, err)
		}
		res.LayerDirs = append(res.LayerDirs, filepath.Join(p, layerFSDir))
	}
	return res, nil
}
