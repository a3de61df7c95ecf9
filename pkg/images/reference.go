package images

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Docker Hub's names: the one references are normalized to, and the legacy one.
const (
	dockerHubDomain       = "docker.io"
	dockerHubLegacyDomain = "index.docker.io"
	defaultTag            = "latest"
)

// idPattern is a bare image ID: 64 lowercase hex digits.
var idPattern = regexp.MustCompile(`^[a-f0-9]{64}$`)

// pathComponent is one component of a repository path in the distribution
// reference grammar (go-containerregistry accepts more: ".", "..", "a..b",
// which reach other registry URLs once in a request path).
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)

// Reference is an image reference normalized the way containerd and CRI-O
// do: Docker Hub is "docker.io" with the "library/" namespace for single
// names, and a reference with neither tag nor digest gets ":latest".
// Exactly one of Tag and Digest is set.
type Reference struct {
	// Domain is the registry host[:port]: "docker.io", "registry.k8s.io", "localhost:5000".
	Domain string
	// Path is the repository inside the registry: "library/busybox".
	Path string
	// Tag is the tag, "" when the reference is by digest.
	Tag string
	// Digest is the manifest digest, "" when the reference is by tag.
	Digest digest.Digest
}

// ParseReference normalizes s ("busybox", "busybox:1.36",
// "registry.k8s.io/pause:3.9", "repo@sha256:..."). A reference with both a
// tag and a digest keeps the digest only. Errors are of kind
// errdefs.ErrInvalidArgument.
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("image reference: empty: %w", errdefs.ErrInvalidArgument)
	}
	if idPattern.MatchString(s) || strings.HasPrefix(s, "sha256:") {
		return Reference{}, fmt.Errorf("image reference %q: an image ID, not a name: %w", s, errdefs.ErrInvalidArgument)
	}
	base, dgst, byDigest := strings.Cut(s, "@")
	var ref Reference
	if byDigest {
		d, err := parseDigest(dgst)
		if err != nil {
			return Reference{}, fmt.Errorf("image reference %q: %w", s, err)
		}
		ref.Digest = d
	}
	tag, err := name.NewTag(base, name.WithDefaultTag(defaultTag))
	if err != nil {
		return Reference{}, fmt.Errorf("image reference %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	ref.Domain = tag.RegistryStr()
	if ref.Domain == dockerHubLegacyDomain || ref.Domain == name.DefaultRegistry {
		ref.Domain = dockerHubDomain
	}
	ref.Path = tag.RepositoryStr()
	for _, c := range strings.Split(ref.Path, "/") {
		if !pathComponent.MatchString(c) {
			return Reference{}, fmt.Errorf("image reference %q: repository path component %q is not [a-z0-9] words joined by '.', '_', '__' or '-': %w", s, c, errdefs.ErrInvalidArgument)
		}
	}
	if ref.Domain == dockerHubDomain && !strings.Contains(ref.Path, "/") {
		ref.Path = "library/" + ref.Path
	}
	if !byDigest {
		ref.Tag = tag.TagStr()
	}
	return ref, nil
}

// parseDigest accepts a sha256 digest in canonical form.
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("digest %q: only sha256 is supported: %w", s, errdefs.ErrInvalidArgument)
	}
	return d, nil
}

// Name is the repository's full name: "docker.io/library/busybox".
func (r Reference) Name() string { return r.Domain + "/" + r.Path }

// String is the normalized reference: "docker.io/library/busybox:latest" or
// "docker.io/library/busybox@sha256:...".
func (r Reference) String() string {
	if r.Digest != "" {
		return r.Name() + "@" + r.Digest.String()
	}
	return r.Name() + ":" + r.Tag
}

// WithDigest returns the reference to the same repository by digest d.
func (r Reference) WithDigest(d digest.Digest) Reference {
	return Reference{Domain: r.Domain, Path: r.Path, Digest: d}
}
