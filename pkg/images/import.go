package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Annotations naming an image in an OCI layout's index.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = ocispec.AnnotationRefName
)

// ImportedImage is one image an import stored.
type ImportedImage struct {
	ID       string   `json:"id"`
	RepoTags []string `json:"repoTags"`
}

// Import stores the images of an archive read from r: an OCI image layout
// in a tar (index.json, blobs/) or `docker save` output (manifest.json).
// Everything is verified as in a pull (blob digests, diffIDs, layer limits);
// the images are then usable by their tags like pulled ones.
func (s *Service) Import(ctx context.Context, r io.Reader) ([]ImportedImage, error) {
	f, err := os.CreateTemp(s.tmp, "import-")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	if _, err := io.Copy(f, &ctxReader{ctx: ctx, r: r}); err != nil {
		return nil, fmt.Errorf("import: receive archive: %w", err)
	}
	ix, err := indexTar(f)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	var ins []*ingestion
	var src blobSource
	switch {
	case ix.has("manifest.json"):
		ins, src, err = s.planDockerArchive(ix)
	case ix.has("index.json"):
		ins, src, err = s.planOCILayout(ix)
	default:
		err = fmt.Errorf("neither manifest.json (docker save) nor index.json (OCI layout) in the archive: %w", errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	var out []ImportedImage
	for _, in := range ins {
		id, err := s.ingest(ctx, in, src, newPullProgress(in.image))
		if err != nil {
			return out, fmt.Errorf("import: %w", err)
		}
		klog.Infof("imported image %s %v", id, in.tags)
		out = append(out, ImportedImage{ID: id, RepoTags: in.tags})
	}
	return out, nil
}

// archiveSource serves blobs from the indexed archive by digest.
type archiveSource struct {
	ix    *tarIndex
	paths map[digest.Digest]string
}

func (a *archiveSource) fetchBlob(ctx context.Context, desc ocispec.Descriptor, consume func(io.Reader) error) error {
	p, ok := a.paths[desc.Digest]
	if !ok {
		p = "blobs/" + desc.Digest.Algorithm().String() + "/" + desc.Digest.Encoded()
	}
	r, err := a.ix.open(p)
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	return consume(r)
}

// dockerManifestEntry is one image of docker save's manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// planDockerArchive reads docker save's manifest.json and makes an OCI
// manifest for each image (docker save keeps none): layer digests are
// computed from the archive's files.
func (s *Service) planDockerArchive(ix *tarIndex) ([]*ingestion, blobSource, error) {
	raw, err := ix.readFile("manifest.json", maxManifestBytes)
	if err != nil {
		return nil, nil, err
	}
	var entries []dockerManifestEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, nil, fmt.Errorf("manifest.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	src := &archiveSource{ix: ix, paths: map[digest.Digest]string{}}
	var ins []*ingestion
	for _, e := range entries {
		cfg, err := ix.readFile(e.Config, maxConfigBytes)
		if err != nil {
			return nil, nil, err
		}
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}}
		m.SchemaVersion = 2
		for _, l := range e.Layers {
			desc, err := describeArchiveFile(ix, l)
			if err != nil {
				return nil, nil, err
			}
			src.paths[desc.Digest] = l
			m.Layers = append(m.Layers, desc)
		}
		mb, err := json.Marshal(m)
		if err != nil {
			return nil, nil, err
		}
		md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
		p, err := newPlan(md, mb, m, cfg)
		if err != nil {
			return nil, nil, err
		}
		in := &ingestion{image: "archive image " + m.Config.Digest.String(), plan: p}
		for _, t := range e.RepoTags {
			ref, err := ParseReference(t)
			if err != nil || ref.Tag == "" {
				return nil, nil, fmt.Errorf("manifest.json: repo tag %q: %w", t, errdefs.ErrInvalidArgument)
			}
			in.tags = append(in.tags, ref.String())
		}
		if len(in.tags) > 0 {
			in.image = in.tags[0]
		}
		ins = append(ins, in)
	}
	return ins, src, nil
}

// describeArchiveFile digests a layer file of the archive and names its
// media type from its first bytes.
func describeArchiveFile(ix *tarIndex, name string) (ocispec.Descriptor, error) {
	r, err := ix.open(name)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var head [4]byte
	n, _ := r.ReadAt(head[:], 0)
	mt := ocispec.MediaTypeImageLayer
	switch {
	case bytes.HasPrefix(head[:n], gzipMagic):
		mt = ocispec.MediaTypeImageLayerGzip
	case bytes.HasPrefix(head[:n], zstdMagic):
		mt = ocispec.MediaTypeImageLayerZstd
	}
	h := sha256.New()
	size, err := io.Copy(h, r)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("archive file %q: %w", name, err)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: digest.NewDigest(digest.SHA256, h), Size: size}, nil
}

// planOCILayout reads an OCI layout's index.json: each entry is an image
// (or an index to pick the platform from), named by its annotations.
func (s *Service) planOCILayout(ix *tarIndex) ([]*ingestion, blobSource, error) {
	src := &archiveSource{ix: ix}
	raw, err := ix.readFile("index.json", maxManifestBytes)
	if err != nil {
		return nil, nil, err
	}
	top, err := parseIndex(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("index.json: %w", err)
	}
	var ins []*ingestion
	for _, d := range top.Manifests {
		in := &ingestion{image: "archive image " + d.Digest.String()}
		if ref, ok := layoutName(d.Annotations); ok {
			in.image = ref.String()
			in.tags = []string{ref.String()}
			in.digests = []string{ref.WithDigest(d.Digest).String()}
		}
		desc := d
		for depth := 0; ; depth++ {
			b, err := readArchiveBlob(src, desc)
			if err != nil {
				return nil, nil, err
			}
			kind, mt, err := classifyManifest(desc.MediaType, b)
			if err != nil {
				return nil, nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
			}
			desc.MediaType = mt
			if kind == kindManifest {
				m, err := parseManifest(desc, b)
				if err != nil {
					return nil, nil, err
				}
				cfg, err := readArchiveBlob(src, m.Config)
				if err != nil {
					return nil, nil, err
				}
				if in.plan, err = newPlan(desc, b, m, cfg); err != nil {
					return nil, nil, err
				}
				break
			}
			if depth >= maxIndexDepth {
				return nil, nil, fmt.Errorf("indexes nested deeper than %d: %w", maxIndexDepth, errdefs.ErrInvalidArgument)
			}
			idx, err := parseIndex(b)
			if err != nil {
				return nil, nil, err
			}
			in.extra = append(in.extra, memBlob{desc: desc, data: b})
			child, err := s.platform.pick(idx.Manifests)
			if err != nil {
				return nil, nil, fmt.Errorf("index %s: %w", desc.Digest, err)
			}
			desc = child
		}
		ins = append(ins, in)
	}
	return ins, src, nil
}

// readArchiveBlob reads a small blob (manifest, index, config) and checks it.
func readArchiveBlob(src *archiveSource, desc ocispec.Descriptor) ([]byte, error) {
	if err := checkDigest(desc.Digest); err != nil {
		return nil, err
	}
	b, err := src.ix.readFile("blobs/sha256/"+desc.Digest.Encoded(), maxConfigBytes)
	if err != nil {
		return nil, err
	}
	return b, verifyBytes(desc, b)
}

// layoutName reads an image's name from OCI layout annotations: containerd's
// full name, else a ref.name that is a full reference (a bare tag names no
// repository and is ignored).
func layoutName(a map[string]string) (Reference, bool) {
	for _, k := range []string{annotationContainerdName, annotationRefName} {
		v := a[k]
		if v == "" {
			continue
		}
		if k == annotationRefName && !strings.Contains(v, "/") {
			continue
		}
		if ref, err := ParseReference(v); err == nil && ref.Tag != "" {
			return ref, true
		}
	}
	return Reference{}, false
}
