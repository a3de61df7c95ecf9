package images

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// stallBlob makes the registry send half of blob and then nothing.
func stallBlob(blob []byte, path string) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, path) {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(blob[:len(blob)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	}
}

// bigLayer is a layer of incompressible content, about n bytes.
func bigLayer(t testing.TB, n int) testLayer {
	return gzLayer(t, file("data", string(randomBytes(n))))
}

func TestProgressTimeoutStalledLayer(t *testing.T) {
	reg := newTestRegistry(t)
	img := makeImage(t, "", nil, bigLayer(t, 256<<10))
	reg.push(t, "slow/app", "v1", img)
	layer := img.layers[0].desc().Digest.String()
	reg.setHook(stallBlob(img.layers[0].blob, "/blobs/"+layer))
	e := newEnv(t, insecure(reg.Host))
	e.setConfig(func(c *config.Config) {
		c.Image.PullProgressTimeout = config.Duration{Duration: 300 * time.Millisecond}
	})

	start := time.Now()
	ref := reg.Host + "/slow/app:v1"
	_, err := e.svc.Pull(context.Background(), ref, nil)
	if !errors.Is(err, errdefs.ErrDeadlineExceeded) {
		t.Fatalf("pull of a stalled layer: %v, want deadline exceeded", err)
	}
	for _, want := range []string{ref, layer, "no progress"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	t.Logf("error: %v", err)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s to notice the stall", took)
	}
	assertNoLeftovers(t, e)
}

func TestProgressTimeoutStalledManifest(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "slow/app", "v1", simpleImage(t, "m"))
	reg.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") {
			<-r.Context().Done()
			return true
		}
		return false
	})
	e := newEnv(t, insecure(reg.Host))
	e.setConfig(func(c *config.Config) {
		c.Image.PullProgressTimeout = config.Duration{Duration: 300 * time.Millisecond}
	})
	_, err := e.svc.Pull(context.Background(), reg.Host+"/slow/app:v1", nil)
	if !errors.Is(err, errdefs.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "manifest") {
		t.Fatalf("pull with a stalled manifest: %v", err)
	}
}

func TestPullTimeout(t *testing.T) {
	reg := newTestRegistry(t)
	img := makeImage(t, "", nil, bigLayer(t, 64<<10))
	reg.push(t, "slow/app", "v1", img)
	blob := img.layers[0].blob
	reg.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/"+img.layers[0].desc().Digest.String()) {
			return false
		}
		// A trickle: always moving, never done in time.
		w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
		w.WriteHeader(http.StatusOK)
		for i := range blob {
			if _, err := w.Write(blob[i : i+1]); err != nil {
				return true
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return true
			case <-time.After(20 * time.Millisecond):
			}
		}
		return true
	})
	e := newEnv(t, insecure(reg.Host))
	e.setConfig(func(c *config.Config) {
		c.Image.PullTimeout = config.Duration{Duration: 500 * time.Millisecond}
		c.Image.PullProgressTimeout = config.Duration{Duration: 5 * time.Second}
	})
	_, err := e.svc.Pull(context.Background(), reg.Host+"/slow/app:v1", nil)
	if !errors.Is(err, errdefs.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "pull timeout") {
		t.Fatalf("pull past the pull timeout: %v", err)
	}
	assertNoLeftovers(t, e)
}

func TestCallerDeadline(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "app", "v1", simpleImage(t, "x"))
	e := newEnv(t, insecure(reg.Host))
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	time.Sleep(2 * time.Millisecond)
	if _, err := e.svc.Pull(ctx, reg.Host+"/app:v1", nil); !errdefs.IsDeadlineExceeded(err) {
		t.Fatalf("pull with an expired context: %v", err)
	}
}

// assertNoLeftovers checks that a failed pull left no record, nothing in
// tmp and no layer dir.
func assertNoLeftovers(t *testing.T, e *testEnv) {
	t.Helper()
	imgs, err := e.svc.List(context.Background())
	if err != nil || len(imgs) != 0 {
		t.Errorf("images after a failed pull: %v %v", imgs, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		tmp, _ := os.ReadDir(filepath.Join(e.svc.root, tmpDir))
		layers, _ := os.ReadDir(filepath.Join(e.svc.root, layersDir))
		if len(tmp) == 0 && len(layers) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left behind: tmp %v, layers %v", names(tmp), names(layers))
			return
		}
		time.Sleep(20 * time.Millisecond) // a cancelled download winds down
	}
}

func names(es []os.DirEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
