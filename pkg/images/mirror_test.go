package images

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// deadRegistry is a registry host where nothing listens.
const deadRegistry = "127.0.0.1:1"

func mirrors(registry string, urls ...string) map[string]config.RegistryConfig {
	return map[string]config.RegistryConfig{registry: {Mirrors: urls}}
}

func failAll(status int) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "broken mirror", status)
		return true
	}
}

func TestMirrorsInOrder(t *testing.T) {
	a, b := newTestRegistry(t), newTestRegistry(t)
	img := simpleImage(t, "mirrored")
	b.push(t, "team/app", "v1", img)
	a.push(t, "other/app", "v1", simpleImage(t, "unrelated"))
	e := newEnv(t, mirrors(deadRegistry, "http://"+a.Host, "http://"+b.Host))
	ctx := context.Background()

	id, err := e.svc.Pull(ctx, deadRegistry+"/team/app:v1", nil)
	if err != nil || id != img.id() {
		t.Fatalf("pull: %s %v", id, err)
	}
	if n := a.count("GET", "/v2/team/app/manifests/v1"); n != 1 {
		t.Errorf("first mirror asked %d times, want 1", n)
	}
	if n := b.blobGets(img.layers[0].desc().Digest); n != 1 {
		t.Errorf("second mirror served the layer %d times", n)
	}
	st, _ := e.svc.Status(ctx, id)
	if st.RepoTags[0] != deadRegistry+"/team/app:v1" {
		t.Errorf("tags %v: the registry's name, not the mirror's, is wanted", st.RepoTags)
	}
}

func TestMirrorFailureFallsBack(t *testing.T) {
	a, b := newTestRegistry(t), newTestRegistry(t)
	img := simpleImage(t, "fallback")
	a.push(t, "team/app", "v1", img)
	b.push(t, "team/app", "v1", img)
	a.setHook(failAll(http.StatusInternalServerError))
	e := newEnv(t, mirrors(deadRegistry, "http://"+a.Host, "http://"+b.Host))
	if id, err := e.svc.Pull(context.Background(), deadRegistry+"/team/app:v1", nil); err != nil || id != img.id() {
		t.Fatalf("pull: %s %v", id, err)
	}
}

func TestMirrorMissingBlobFallsBack(t *testing.T) {
	a, b := newTestRegistry(t), newTestRegistry(t)
	img := simpleImage(t, "partial")
	a.push(t, "team/app", "v1", img)
	b.push(t, "team/app", "v1", img)
	layer := img.layers[0].desc().Digest.String()
	a.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+layer) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"code":"BLOB_UNKNOWN","message":"gone"}]}`))
			return true
		}
		return false
	})
	e := newEnv(t, mirrors(deadRegistry, "http://"+a.Host, "http://"+b.Host))
	if id, err := e.svc.Pull(context.Background(), deadRegistry+"/team/app:v1", nil); err != nil || id != img.id() {
		t.Fatalf("pull: %s %v", id, err)
	}
	if a.blobGets(img.layers[0].desc().Digest) == 0 || b.blobGets(img.layers[0].desc().Digest) != 1 {
		t.Errorf("layer asked of the first mirror %d times, of the second %d",
			a.blobGets(img.layers[0].desc().Digest), b.blobGets(img.layers[0].desc().Digest))
	}
}

func TestMirrorsFailRegistryItself(t *testing.T) {
	a, reg := newTestRegistry(t), newTestRegistry(t)
	img := simpleImage(t, "upstream")
	reg.push(t, "team/app", "v1", img)
	a.setHook(failAll(http.StatusBadGateway))
	regs := map[string]config.RegistryConfig{reg.Host: {Mirrors: []string{"http://" + a.Host, "http://" + deadRegistry}, Insecure: true}}
	e := newEnv(t, regs)
	if id, err := e.svc.Pull(context.Background(), reg.Host+"/team/app:v1", nil); err != nil || id != img.id() {
		t.Fatalf("pull: %s %v", id, err)
	}
}

func TestMirrorPathPrefix(t *testing.T) {
	a := newTestRegistry(t)
	img := simpleImage(t, "prefixed")
	a.push(t, "team/app", "v1", img)
	a.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/" || r.URL.Path == "/v2" {
			return false // the ping is sent to the host root
		}
		if !strings.HasPrefix(r.URL.Path, "/cache/v2/") {
			http.Error(w, "no prefix", http.StatusNotFound)
			return true
		}
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/cache")
		return false
	})
	e := newEnv(t, mirrors(deadRegistry, "http://"+a.Host+"/cache"))
	if id, err := e.svc.Pull(context.Background(), deadRegistry+"/team/app:v1", nil); err != nil || id != img.id() {
		t.Fatalf("pull: %s %v", id, err)
	}
}

func TestDockerHubMirror(t *testing.T) {
	a := newTestRegistry(t)
	img := simpleImage(t, "hub")
	a.push(t, "library/busybox", "1.36", img)
	e := newEnv(t, mirrors("docker.io", "http://"+a.Host))
	id, err := e.svc.Pull(context.Background(), "busybox:1.36", nil)
	if err != nil || id != img.id() {
		t.Fatalf("pull: %s %v", id, err)
	}
	st, err := e.svc.Status(context.Background(), "docker.io/library/busybox:1.36")
	if err != nil || st.RepoTags[0] != "docker.io/library/busybox:1.36" ||
		st.RepoDigests[0] != "docker.io/library/busybox@"+img.manifestDigest().String() {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestPlainHTTPOnlyWhenConfigured(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "team/app", "v1", simpleImage(t, "tls"))
	e := newEnv(t, nil) // the registry is not marked insecure: https only
	_, err := e.svc.Pull(context.Background(), reg.Host+"/team/app:v1", nil)
	if err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Fatalf("pull over http from a registry not configured for it: %v", err)
	}
	t.Logf("error: %v", err)
	if n := reg.count("GET", "/v2/team/app/manifests/v1"); n != 0 {
		t.Errorf("manifest requested %d times over plain http", n)
	}
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), reg.Host) {
		t.Errorf("error %v: want failed precondition naming the registry", err)
	}
}
