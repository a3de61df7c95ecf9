package images

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// serveInstead makes the registry answer GETs of paths ending in suffix
// with body.
func serveInstead(suffix string, body []byte) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, suffix) {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if strings.Contains(r.URL.Path, "/manifests/") {
			w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
		}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
		return true
	}
}

// flip returns b with one byte changed.
func flip(b []byte) []byte {
	out := append([]byte(nil), b...)
	out[len(out)/2] ^= 0xff
	return out
}

func TestVerification(t *testing.T) {
	good := gzLayer(t, file("a", "alpha"), file("b", "beta"))
	img := makeImage(t, "", nil, good)
	other := simpleImage(t, "other")
	wrongDiff := makeImage(t, "", func(c *ocispec.Image) { c.RootFS.DiffIDs[0] = digest.FromString("not the tar") }, good)
	tooFewDiffs := makeImage(t, "", func(c *ocispec.Image) { c.RootFS.DiffIDs = nil }, good)

	for _, tc := range []struct {
		name   string
		img    testImage
		byDig  bool
		hook   func(img testImage) func(w http.ResponseWriter, r *http.Request) bool
		kind   error
		naming string
	}{
		{name: "manifest by digest", img: img, byDig: true, kind: errdefs.ErrInvalidArgument,
			hook: func(ti testImage) func(w http.ResponseWriter, r *http.Request) bool {
				return serveInstead("/manifests/"+ti.manifestDigest().String(), other.manifest)
			}},
		{name: "config", img: img, kind: errdefs.ErrInvalidArgument,
			hook: func(ti testImage) func(w http.ResponseWriter, r *http.Request) bool {
				return serveInstead("/blobs/"+ti.configDesc().Digest.String(), flip(ti.config))
			}},
		{name: "layer", img: img, kind: errdefs.ErrInvalidArgument, naming: good.desc().Digest.String(),
			hook: func(ti testImage) func(w http.ResponseWriter, r *http.Request) bool {
				return serveInstead("/blobs/"+good.desc().Digest.String(), flip(good.blob))
			}},
		{name: "layer too long", img: img, kind: errdefs.ErrInvalidArgument, naming: good.desc().Digest.String(),
			hook: func(ti testImage) func(w http.ResponseWriter, r *http.Request) bool {
				return serveInstead("/blobs/"+good.desc().Digest.String(), append(append([]byte(nil), good.blob...), 0))
			}},
		{name: "layer cut short", img: img, kind: errdefs.ErrInvalidArgument, naming: good.desc().Digest.String(),
			hook: func(ti testImage) func(w http.ResponseWriter, r *http.Request) bool {
				return serveInstead("/blobs/"+good.desc().Digest.String(), good.blob[:len(good.blob)-1])
			}},
		{name: "diffID", img: wrongDiff, kind: errdefs.ErrInvalidArgument, naming: "diffID"},
		{name: "diffID count", img: tooFewDiffs, kind: errdefs.ErrInvalidArgument, naming: "diffIDs"},
		{name: "missing layer", img: img, kind: errdefs.ErrNotFound, naming: good.desc().Digest.String(),
			hook: func(ti testImage) func(w http.ResponseWriter, r *http.Request) bool {
				return func(w http.ResponseWriter, r *http.Request) bool {
					if strings.HasSuffix(r.URL.Path, "/blobs/"+good.desc().Digest.String()) {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusNotFound)
						_, _ = w.Write([]byte(`{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}`))
						return true
					}
					return false
				}
			}},
		{name: "missing tag", img: img, kind: errdefs.ErrNotFound,
			hook: func(ti testImage) func(w http.ResponseWriter, r *http.Request) bool {
				return func(w http.ResponseWriter, r *http.Request) bool {
					if strings.HasSuffix(r.URL.Path, "/manifests/v1") {
						r.URL.Path = strings.TrimSuffix(r.URL.Path, "v1") + "nope"
					}
					return false
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newTestRegistry(t)
			reg.push(t, "app", "v1", tc.img)
			if tc.hook != nil {
				reg.setHook(tc.hook(tc.img))
			}
			e := newEnv(t, insecure(reg.Host))
			ref := reg.Host + "/app:v1"
			if tc.byDig {
				ref = reg.Host + "/app@" + tc.img.manifestDigest().String()
			}
			_, err := e.svc.Pull(context.Background(), ref, nil)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("pull: %v, want kind %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), ref) || !strings.Contains(err.Error(), tc.naming) {
				t.Errorf("error %q does not name the image and %q", err, tc.naming)
			}
			assertNoLeftovers(t, e)
		})
	}
}
