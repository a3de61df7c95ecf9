package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Pull fetches the image ref from its registry (through the configured
// mirrors first), verifies and stores it, and returns its ID. Concurrent
// pulls of the same reference with the same credentials share one download;
// layers already extracted are not fetched again. creds may be nil.
func (s *Service) Pull(ctx context.Context, ref string, creds *Credentials) (string, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return "", err
	}
	key := r.String() + "\x00" + creds.fingerprint()
	s.trim.begin()
	defer s.trim.end()
	v, shared, err := s.pulls.do(ctx, key, nil, func(ctx context.Context, _ *sinkSet) (any, error) {
		return s.pull(ctx, r, creds)
	})
	if err != nil {
		return "", err
	}
	if shared {
		klog.V(2).Infof("image %s: joined a pull in flight", r)
	}
	return v.(string), nil
}

// pull does one pull of r under the configured timeouts.
func (s *Service) pull(ctx context.Context, r Reference, creds *Credentials) (_ string, err error) {
	cfg := s.cfg()
	start := time.Now()
	timeout := cfg.Image.PullTimeout.Duration
	ctx, cancel := context.WithTimeoutCause(ctx, timeout,
		fmt.Errorf("image %s: pull not done within the pull timeout %s: %w", r, timeout, errdefs.ErrDeadlineExceeded))
	defer cancel()
	prog := newPullProgress(r.String())
	ctx, stop := prog.watch(ctx, cfg.Image.PullProgressTimeout.Duration, s.logEvery)
	defer stop()
	if s.onPull != nil {
		defer func() {
			s.onPull(PullReport{Image: r.String(), Bytes: prog.fetched.Load(), Took: time.Since(start), Err: err})
		}()
	}

	id, err := s.pullSteps(ctx, r, creds, prog)
	if err != nil {
		if ctx.Err() != nil {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				err = cause
			}
		}
		return "", err
	}
	klog.Infof("pulled image %s (%s, %s) in %s", r, id, prog, time.Since(start).Round(time.Millisecond))
	return id, nil
}

func (s *Service) pullSteps(ctx context.Context, r Reference, creds *Credentials, prog *pullProgress) (string, error) {
	cfg := s.cfg()
	src, err := s.newRemote(cfg, r, creds)
	if err != nil {
		return "", err
	}
	klog.V(2).Infof("pulling image %s", r)
	prog.started("manifest", 0)
	topDesc, top, err := src.resolve(ctx)
	if err != nil {
		return "", err
	}
	prog.finished("manifest")
	in := &ingestion{image: r.String()}
	if r.Tag != "" {
		in.tags = []string{r.String()}
	}
	in.digests = []string{r.WithDigest(topDesc.Digest).String()}
	desc, b := topDesc, top
	for depth := 0; ; depth++ {
		kind, mt, err := classifyManifest(desc.MediaType, b)
		if err != nil {
			return "", fmt.Errorf("image %s: manifest %s: %w", r, desc.Digest, err)
		}
		desc.MediaType = mt
		if kind == kindManifest {
			break
		}
		if depth >= maxIndexDepth {
			return "", fmt.Errorf("image %s: indexes nested deeper than %d: %w", r, maxIndexDepth, errdefs.ErrInvalidArgument)
		}
		idx, err := parseIndex(b)
		if err != nil {
			return "", fmt.Errorf("image %s: %w", r, err)
		}
		in.extra = append(in.extra, memBlob{desc: desc, data: b})
		child, err := s.platform.pick(idx.Manifests)
		if err != nil {
			return "", fmt.Errorf("image %s: index %s: %w", r, desc.Digest, err)
		}
		prog.started("manifest", 0)
		got, cb, err := src.fetchManifest(ctx, child)
		if err != nil {
			return "", err
		}
		prog.finished("manifest")
		if got.MediaType == "" {
			got.MediaType = child.MediaType
		}
		desc, b = got, cb
	}
	p, err := s.fetchPlan(ctx, r.String(), desc, b, src, prog)
	if err != nil {
		return "", err
	}
	in.plan = p
	return s.ingest(ctx, in, src, prog)
}

// fetchPlan fetches the config of manifest b and checks the two together.
func (s *Service) fetchPlan(ctx context.Context, image string, desc ocispec.Descriptor, b []byte, src blobSource, prog progressSink) (*plan, error) {
	m, err := parseManifest(desc, b)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", image, err)
	}
	cd := m.Config
	// On disk already (not pinned yet: if a collection takes it meanwhile,
	// it is fetched; ingest stores it again from memory).
	cfgBytes, err := s.readBlob(cd.Digest, maxConfigBytes)
	if err != nil || verifyBytes(cd, cfgBytes) != nil {
		prog.started("config", cd.Size)
		err := src.fetchBlob(ctx, cd, func(r io.Reader) error {
			data, err := io.ReadAll(io.LimitReader(&progressReader{r: r, what: "config", sink: prog}, cd.Size+1))
			if verr := verifyBytes(cd, data); verr != nil && (err == nil || int64(len(data)) >= cd.Size) {
				return verr // wrong content, whatever the reader's own check said
			}
			if err != nil {
				return err
			}
			cfgBytes = data
			return nil
		})
		if err != nil {
			return nil, err
		}
		prog.finished("config")
	}
	if err := verifyBytes(cd, cfgBytes); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", image, err)
	}
	p, err := newPlan(desc, b, m, cfgBytes)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", image, err)
	}
	return p, nil
}
