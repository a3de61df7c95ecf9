package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// blobSource gives the content of blobs by descriptor.
type blobSource interface {
	// fetchBlob calls consume with the content of desc from each place that
	// has it in turn, until consume returns nil. consume verifies.
	fetchBlob(ctx context.Context, desc ocispec.Descriptor, consume func(io.Reader) error) error
}

// remoteSource reaches one repository through its registry's endpoints:
// mirrors in the configured order, then the registry itself. Whatever
// endpoint served the manifest is asked first for the rest.
type remoteSource struct {
	ref       Reference
	endpoints []config.Endpoint
	pullers   []*remote.Puller
	repos     []name.Repository

	mu        sync.Mutex
	preferred int
}

// retryBackoff is go-containerregistry's retry of one request; falling back
// to the next endpoint is the main recovery, so it is short.
var retryBackoff = remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 2}

// newRemote prepares the endpoints of r's registry as cfg lists them.
func (s *Service) newRemote(cfg *config.Config, r Reference, creds *Credentials) (*remoteSource, error) {
	rs := &remoteSource{ref: r, endpoints: cfg.Endpoints(r.Domain)}
	if len(rs.endpoints) == 0 {
		return nil, fmt.Errorf("image %s: no endpoint for registry %q: %w", r, r.Domain, errdefs.ErrInvalidArgument)
	}
	jobs := max(cfg.Image.MaxConcurrentDownloads, 1)
	for _, ep := range rs.endpoints {
		opts := []name.Option{name.WeakValidation}
		if ep.PlainHTTP {
			opts = append(opts, name.Insecure)
		}
		reg, err := name.NewRegistry(ep.Host, opts...)
		if err != nil {
			return nil, fmt.Errorf("image %s: endpoint %s: %v: %w", r, ep.Host, err, errdefs.ErrInvalidArgument)
		}
		auth, err := creds.authenticator(r.Domain, ep)
		if err != nil {
			return nil, err
		}
		p, err := remote.NewPuller(
			remote.WithTransport(s.transport.forEndpoint(ep)),
			remote.WithAuth(auth),
			remote.WithUserAgent(s.userAgent),
			remote.WithRetryBackoff(retryBackoff),
			remote.WithJobs(jobs),
		)
		if err != nil {
			return nil, fmt.Errorf("image %s: endpoint %s: %w", r, ep.Host, err)
		}
		rs.pullers = append(rs.pullers, p)
		rs.repos = append(rs.repos, reg.Repo(r.Path))
	}
	return rs, nil
}

// order lists endpoint indexes, the preferred one first.
func (rs *remoteSource) order() []int {
	rs.mu.Lock()
	first := rs.preferred
	rs.mu.Unlock()
	out := []int{first}
	for i := range rs.endpoints {
		if i != first {
			out = append(out, i)
		}
	}
	return out
}

// label names endpoint i in messages: "http://127.0.0.1:5000/prefix (mirror)".
func (rs *remoteSource) label(i int) string {
	ep := rs.endpoints[i]
	scheme := "https"
	if ep.PlainHTTP {
		scheme = "http"
	}
	s := scheme + "://" + ep.Host + ep.PathPrefix
	if ep.Mirror {
		s += " (mirror)"
	}
	return s
}

// resolve fetches the manifest or index the reference names, trying the
// endpoints in order.
func (rs *remoteSource) resolve(ctx context.Context) (ocispec.Descriptor, []byte, error) {
	var errs attemptErrors
	for i := range rs.endpoints {
		var ref name.Reference = rs.repos[i].Tag(rs.ref.Tag)
		if rs.ref.Digest != "" {
			ref = rs.repos[i].Digest(rs.ref.Digest.String())
		}
		desc, b, err := rs.getManifest(ctx, i, ref, rs.ref.Digest)
		if err == nil {
			rs.mu.Lock()
			rs.preferred = i
			rs.mu.Unlock()
			return desc, b, nil
		}
		if errs.add(ctx, rs.label(i), err) {
			break
		}
	}
	return ocispec.Descriptor{}, nil, errs.err(fmt.Sprintf("image %s: manifest", rs.ref))
}

// fetchManifest fetches the manifest desc names (an index entry).
func (rs *remoteSource) fetchManifest(ctx context.Context, desc ocispec.Descriptor) (ocispec.Descriptor, []byte, error) {
	var errs attemptErrors
	for _, i := range rs.order() {
		got, b, err := rs.getManifest(ctx, i, rs.repos[i].Digest(desc.Digest.String()), desc.Digest)
		if err == nil && desc.Size > 0 && got.Size != desc.Size {
			err = fmt.Errorf("manifest %s: %d bytes, the index says %d: %w", desc.Digest, got.Size, desc.Size, errdefs.ErrInvalidArgument)
		}
		if err == nil {
			return got, b, nil
		}
		if errs.add(ctx, rs.label(i), err) {
			break
		}
	}
	return ocispec.Descriptor{}, nil, errs.err(fmt.Sprintf("image %s: manifest %s", rs.ref, desc.Digest))
}

// getManifest GETs one manifest from endpoint i and checks it against want
// (when by digest).
func (rs *remoteSource) getManifest(ctx context.Context, i int, ref name.Reference, want digest.Digest) (ocispec.Descriptor, []byte, error) {
	rd, err := rs.pullers[i].Get(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	b := rd.Manifest
	if len(b) > maxManifestBytes {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest larger than %d bytes: %w", maxManifestBytes, errdefs.ErrResourceExhausted)
	}
	d := digest.FromBytes(b)
	if want != "" && d != want {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: content has digest %s: %w", want, d, errdefs.ErrInvalidArgument)
	}
	return ocispec.Descriptor{MediaType: string(rd.MediaType), Digest: d, Size: int64(len(b))}, b, nil
}

// fetchBlob implements blobSource over the endpoints, the preferred first.
func (rs *remoteSource) fetchBlob(ctx context.Context, desc ocispec.Descriptor, consume func(io.Reader) error) error {
	var errs attemptErrors
	for _, i := range rs.order() {
		err := rs.fetchBlobFrom(ctx, i, desc, consume)
		if err == nil {
			return nil
		}
		if errs.add(ctx, rs.label(i), err) {
			break
		}
	}
	return errs.err(fmt.Sprintf("image %s: blob %s", rs.ref, desc.Digest))
}

func (rs *remoteSource) fetchBlobFrom(ctx context.Context, i int, desc ocispec.Descriptor, consume func(io.Reader) error) error {
	l, err := rs.pullers[i].Layer(ctx, rs.repos[i].Digest(desc.Digest.String()))
	if err != nil {
		return err
	}
	// Compressed checks the digest as the content streams, at its end.
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return consume(digestChecked{rc})
}

// attemptErrors collects the failure of each endpoint tried.
type attemptErrors struct {
	msgs []string
	last error
}

// add records endpoint's failure; it reports true when ctx has ended or
// the local disk is full, and no other endpoint should be tried.
func (a *attemptErrors) add(ctx context.Context, endpoint string, err error) bool {
	if ctx.Err() != nil {
		a.last = context.Cause(ctx)
		a.msgs = append(a.msgs, endpoint+": "+a.last.Error())
		return true
	}
	err = classify(err)
	klog.V(2).Infof("%s: %v", endpoint, err)
	a.msgs = append(a.msgs, endpoint+": "+err.Error())
	a.last = err
	return diskFull(err) // our disk is full: another endpoint fills it the same
}

// err sums the attempts up; its kind is that of the last attempt (the
// registry itself, after its mirrors).
func (a *attemptErrors) err(what string) error {
	if a.last == nil {
		return fmt.Errorf("%s: no endpoint tried: %w", what, errdefs.ErrUnavailable)
	}
	if len(a.msgs) == 1 {
		return fmt.Errorf("%s: from %w", what, &endpointError{msg: a.msgs[0], err: a.last})
	}
	return fmt.Errorf("%s: %w", what, &endpointError{msg: strings.Join(a.msgs, "; "), err: a.last})
}

// endpointError carries the messages of every attempt and the last one's error.
type endpointError struct {
	msg string
	err error
}

func (e *endpointError) Error() string { return e.msg }
func (e *endpointError) Unwrap() error { return e.err }

// errKinds lists the errdefs kinds; an error of one of them is not reclassified.
var errKinds = []error{
	errdefs.ErrNotFound, errdefs.ErrAlreadyExists, errdefs.ErrInvalidArgument, errdefs.ErrFailedPrecondition,
	errdefs.ErrUnavailable, errdefs.ErrNotImplemented, errdefs.ErrResourceExhausted, errdefs.ErrPermissionDenied,
	errdefs.ErrDeadlineExceeded,
}

func hasKind(err error) bool {
	for _, k := range errKinds {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
