package images

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// memBlob is a small blob held in memory (a manifest, an index).
type memBlob struct {
	desc ocispec.Descriptor
	data []byte
}

// ingestion is an image on its way into the store, from a pull or an import.
type ingestion struct {
	image   string    // for messages
	plan    *plan     // manifest, config, layers
	extra   []memBlob // indexes leading to the manifest, kept with it
	tags    []string  // normalized tag references to point at the image
	digests []string  // repo@digest references to point at the image
}

// ingest stores an image: its small blobs, then every layer (downloaded
// unless on disk, verified, extracted), then, last, its record. The content
// is pinned until the record exists, so no collection takes it meanwhile.
//
// A failed ingest leaves nothing behind: once its pins are gone, a
// collection removes the blobs and layers it stored that no image uses.
func (s *Service) ingest(ctx context.Context, in *ingestion, src blobSource, prog *pullProgress) (id string, err error) {
	p := in.plan
	cfg := s.cfg()
	lim := layerLimits{MaxBytes: cfg.Image.MaxLayerBytes, MaxEntries: cfg.Image.MaxLayerEntries}

	keys := []string{blobKey(p.manifestDesc.Digest), blobKey(p.manifest.Config.Digest)}
	for _, b := range in.extra {
		keys = append(keys, blobKey(b.desc.Digest))
	}
	for _, l := range p.layers {
		keys = append(keys, blobKey(l.Blob.Digest), layerKey(l.ChainID))
	}
	s.pin(keys)
	defer func() {
		s.unpin(keys)
		if err != nil {
			s.dropUnused(in.image)
		}
	}()

	small := append([]memBlob{{desc: p.manifestDesc, data: p.manifestBytes},
		{desc: p.manifest.Config, data: p.configBytes}}, in.extra...)
	for _, b := range small {
		if err := s.writeBlobBytes(ctx, b.desc, b.data); err != nil {
			return "", fmt.Errorf("image %s: %w", in.image, err)
		}
	}

	var total, done int64
	have := 0
	for _, l := range p.layers {
		total += l.Blob.Size
		if s.layerExists(l.ChainID) {
			done += l.Blob.Size
			have++
		}
	}
	prog.plan(total, done, len(p.layers), have)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(cfg.Image.MaxConcurrentDownloads, 1))
	fl := newEarlyFlusher()
	for _, l := range p.layers {
		if s.layerExists(l.ChainID) {
			continue
		}
		g.Go(func() error {
			if err := s.ensureLayer(gctx, in.image, l, src, prog, lim); err != nil {
				return err
			}
			if bp, err := s.blobPath(l.Blob.Digest); err == nil {
				fl.flush(bp)
			}
			return nil
		})
	}
	err = g.Wait()
	fl.close()
	if err != nil {
		return "", err
	}

	if err := syncFS(s.root); err != nil {
		return "", fmt.Errorf("image %s: %w", in.image, err)
	}
	rec := newRecord(in)
	if err := s.db.Update(ctx, func(tx metadata.Tx) error {
		return putRecord(tx, rec, in.tags, in.digests)
	}); err != nil {
		return "", fmt.Errorf("image %s: record: %w", in.image, err)
	}
	return rec.ID, nil
}

// ensureLayer makes sure layer l is extracted: it downloads its blob unless
// stored and extracts it, once however many pulls want it at the same time.
func (s *Service) ensureLayer(ctx context.Context, image string, l layerPlan, src blobSource, sink progressSink, lim layerLimits) error {
	_, _, err := s.layers.do(ctx, l.ChainID.String(), sink, func(ctx context.Context, sinks *sinkSet) (any, error) {
		if s.layerExists(l.ChainID) {
			return nil, nil
		}
		what := "layer " + l.Blob.Digest.String()
		sinks.started(what, l.Blob.Size)
		defer sinks.finished(what)
		if !s.blobExists(l.Blob.Digest) {
			err := src.fetchBlob(ctx, l.Blob, func(r io.Reader) error {
				return s.writeBlob(ctx, l.Blob, &progressReader{r: r, what: what, sink: sinks})
			})
			if err != nil {
				return nil, fmt.Errorf("image %s: layer %s: %w", image, l.Blob.Digest, err)
			}
		}
		return nil, s.unpackLayer(ctx, image, l, lim, sinks)
	})
	return err
}

// dropUnused removes, after a failed pull or import of image, the content
// it stored that no image, lease or other pull uses (bounded in time; the
// next collection takes what this one leaves).
func (s *Service) dropUnused(image string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n, err := s.GC(ctx); err != nil {
		klog.Warningf("image %s: removing what the failed pull stored: %v", image, err)
	} else if n > 0 {
		klog.V(2).Infof("image %s: removed %d blobs and layers the failed pull stored", image, n)
	}
}

// newRecord describes the ingested image for the metadata store.
func newRecord(in *ingestion) imageRecord {
	p := in.plan
	rec := imageRecord{
		ID:                p.manifest.Config.Digest.String(),
		ManifestDigest:    p.manifestDesc.Digest,
		ManifestMediaType: p.manifestDesc.MediaType,
		User:              p.config.Config.User,
		Stored:            time.Now().UTC(),
		Size:              uint64(p.manifestDesc.Size + p.manifest.Config.Size),
		Blobs:             []digest.Digest{p.manifestDesc.Digest, p.manifest.Config.Digest},
		RepoTags:          []string{},
		RepoDigests:       []string{},
	}
	for _, b := range in.extra {
		rec.Blobs = append(rec.Blobs, b.desc.Digest)
	}
	for _, l := range p.layers {
		rec.Layers = append(rec.Layers, layerRecord{Digest: l.Blob.Digest, MediaType: l.Blob.MediaType,
			Size: l.Blob.Size, DiffID: l.DiffID, ChainID: l.ChainID})
		rec.Blobs = append(rec.Blobs, l.Blob.Digest)
		rec.Size += uint64(l.Blob.Size)
	}
	return rec
}
