package images

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Docker media types (OCI's are in ocispec).
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mediaTypeDockerLayerTar     = "application/vnd.docker.image.rootfs.diff.tar"
	// Deprecated by OCI but still found in the wild (Windows base images).
	mediaTypeOCINondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar"
)

// Size bounds of what is read into memory.
const (
	maxManifestBytes = 4 << 20
	maxConfigBytes   = 16 << 20
	maxIndexDepth    = 3
)

// manifestKind says whether a manifest document is an index or an image manifest.
type manifestKind int

const (
	kindManifest manifestKind = iota
	kindIndex
)

// classifyManifest tells an index from an image manifest by its media type
// (the registry's header, else the document's own field, else its shape) and
// refuses what cri-shim cannot run (Docker schema 1, artifacts).
func classifyManifest(headerType string, b []byte) (manifestKind, string, error) {
	var probe struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     json.RawMessage   `json:"manifests"`
		Config        json.RawMessage   `json:"config"`
		Layers        []json.RawMessage `json:"layers"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return 0, "", fmt.Errorf("manifest is not JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	mt := probe.MediaType
	if mt == "" {
		mt, _, _ = strings.Cut(headerType, ";")
		mt = strings.TrimSpace(mt)
	}
	switch mt {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		return kindIndex, mt, nil
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		return kindManifest, mt, nil
	}
	if probe.SchemaVersion == 1 || strings.Contains(mt, "manifest.v1") {
		return 0, mt, fmt.Errorf("docker schema 1 manifests are not supported: %w", errdefs.ErrInvalidArgument)
	}
	switch {
	case probe.SchemaVersion != 2:
		return 0, mt, fmt.Errorf("manifest schemaVersion %d (media type %q) is not supported: %w", probe.SchemaVersion, mt, errdefs.ErrInvalidArgument)
	case probe.Manifests != nil:
		return kindIndex, ocispec.MediaTypeImageIndex, nil
	case probe.Config != nil:
		return kindManifest, ocispec.MediaTypeImageManifest, nil
	}
	return 0, mt, fmt.Errorf("unknown manifest media type %q: %w", mt, errdefs.ErrInvalidArgument)
}

// parseIndex decodes an index and keeps its well-formed entries.
func parseIndex(b []byte) (ocispec.Index, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("index: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for _, m := range idx.Manifests {
		if err := checkDigest(m.Digest); err != nil {
			return idx, fmt.Errorf("index entry: %w", err)
		}
	}
	return idx, nil
}

// layerPlan is one layer of an image: its blob and where it is extracted.
type layerPlan struct {
	Blob    ocispec.Descriptor
	DiffID  digest.Digest
	ChainID digest.Digest
}

// plan is a verified image manifest and config, ready to be stored.
type plan struct {
	manifestDesc  ocispec.Descriptor
	manifestBytes []byte
	manifest      ocispec.Manifest
	configBytes   []byte
	config        ocispec.Image
	layers        []layerPlan
}

// parseManifest decodes an image manifest and checks that it describes a
// container image (its config is an image config).
func parseManifest(desc ocispec.Descriptor, b []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("manifest %s: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	switch m.Config.MediaType {
	case ocispec.MediaTypeImageConfig, mediaTypeDockerConfig:
	default:
		return m, fmt.Errorf("manifest %s: config media type %q is not a container image (an artifact?): %w",
			desc.Digest, m.Config.MediaType, errdefs.ErrInvalidArgument)
	}
	if err := checkDigest(m.Config.Digest); err != nil {
		return m, fmt.Errorf("manifest %s: config: %w", desc.Digest, err)
	}
	if m.Config.Size < 0 || m.Config.Size > maxConfigBytes {
		return m, fmt.Errorf("manifest %s: config size %d out of bounds: %w", desc.Digest, m.Config.Size, errdefs.ErrInvalidArgument)
	}
	return m, nil
}

// newPlan checks that manifest m (parsed from manifestBytes) and its config
// describe a runnable image: as many diffIDs as layers, layer types
// cri-shim unpacks. configBytes must already match m.Config.
func newPlan(manifestDesc ocispec.Descriptor, manifestBytes []byte, m ocispec.Manifest, configBytes []byte) (*plan, error) {
	p := &plan{manifestDesc: manifestDesc, manifestBytes: manifestBytes, manifest: m, configBytes: configBytes}
	if err := json.Unmarshal(configBytes, &p.config); err != nil {
		return nil, fmt.Errorf("config %s: %v: %w", p.manifest.Config.Digest, err, errdefs.ErrInvalidArgument)
	}
	if p.config.RootFS.Type != "layers" {
		return nil, fmt.Errorf("config %s: rootfs type %q, want \"layers\": %w", p.manifest.Config.Digest, p.config.RootFS.Type, errdefs.ErrInvalidArgument)
	}
	diffIDs := p.config.RootFS.DiffIDs
	if len(diffIDs) != len(p.manifest.Layers) {
		return nil, fmt.Errorf("manifest %s has %d layers but its config %d diffIDs: %w",
			manifestDesc.Digest, len(p.manifest.Layers), len(diffIDs), errdefs.ErrInvalidArgument)
	}
	for i, d := range diffIDs {
		if err := checkDigest(d); err != nil {
			return nil, fmt.Errorf("config %s: diffID %d: %w", p.manifest.Config.Digest, i, err)
		}
	}
	chains := identity.ChainIDs(append([]digest.Digest(nil), diffIDs...))
	for i, l := range p.manifest.Layers {
		if err := checkDigest(l.Digest); err != nil {
			return nil, fmt.Errorf("manifest %s: layer %d: %w", manifestDesc.Digest, i, err)
		}
		if l.Size < 0 {
			return nil, fmt.Errorf("manifest %s: layer %s: negative size: %w", manifestDesc.Digest, l.Digest, errdefs.ErrInvalidArgument)
		}
		if !unpackable(l.MediaType) {
			return nil, fmt.Errorf("manifest %s: layer %s: media type %q is not an image layer: %w",
				manifestDesc.Digest, l.Digest, l.MediaType, errdefs.ErrInvalidArgument)
		}
		p.layers = append(p.layers, layerPlan{Blob: l, DiffID: diffIDs[i], ChainID: chains[i]})
	}
	return p, nil
}

// unpackable says whether a layer of media type mt is a tar, plain or compressed.
func unpackable(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
		mediaTypeOCINondistributable, mediaTypeOCINondistributable + "+gzip", mediaTypeOCINondistributable + "+zstd",
		mediaTypeDockerLayer, mediaTypeDockerForeignLayer, mediaTypeDockerLayerTar:
		return true
	}
	return false
}
