package integration

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/test/framework"
	"github.com/cri-shim/cri-shim/test/testimages"
)

// imageRegistry serves the critest look-alike images on 127.0.0.1; hook,
// when set, may answer a request itself.
type imageRegistry struct {
	Host   string
	Images map[string]v1.Image

	mu   sync.Mutex
	hook func(w http.ResponseWriter, r *http.Request) bool
}

func startImageRegistry(t *testing.T) *imageRegistry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	imgs, err := testimages.BuildAll(ctx, testimages.DefaultWorkDir())
	if err != nil {
		t.Fatalf("build test images: %v", err)
	}
	ir := &imageRegistry{Images: imgs}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ir.mu.Lock()
		hook := ir.hook
		ir.mu.Unlock()
		if hook != nil && hook(w, r) {
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ir.Host = strings.TrimPrefix(srv.URL, "http://")
	if err := testimages.Push(ctx, ir.Host, imgs); err != nil {
		t.Fatal(err)
	}
	return ir
}

func (ir *imageRegistry) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	ir.mu.Lock()
	ir.hook = h
	ir.mu.Unlock()
}

// mirrorTOML mirrors the registries critest pulls from to host, keeping the
// repository path, as a node running critest offline is configured.
func mirrorTOML(host string) string {
	var b strings.Builder
	for _, r := range []string{"registry.k8s.io", "k8s.gcr.io", "gcr.io", "public.ecr.aws"} {
		b.WriteString("[registries.\"" + r + "\"]\nmirrors = [\"http://" + host + "\"]\n")
	}
	return b.String()
}

func crictlImages(t *testing.T, d *framework.Daemon, args ...string) string {
	t.Helper()
	crictl, err := exec.LookPath("crictl")
	if err != nil {
		t.Fatal("crictl not installed (make deps)")
	}
	full := append([]string{"--runtime-endpoint", "unix://" + d.Socket, "--image-endpoint", "unix://" + d.Socket, "--timeout", "60s"}, args...)
	cmd := exec.Command(crictl, full...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crictl %v: %v\n%s%s", args, err, out, stderr.String())
	}
	return string(out)
}

// listedImages is `crictl images -o json`.
type listedImages struct {
	Images []struct {
		ID       string   `json:"id"`
		RepoTags []string `json:"repoTags"`
	} `json:"images"`
}

func TestImagesThroughCrictl(t *testing.T) {
	reg := startImageRegistry(t)
	d := framework.StartDaemon(t, framework.Options{ConfigTOML: mirrorTOML(reg.Host)})

	out := crictlImages(t, d, "pull", "registry.k8s.io/pause:3.9")
	pauseID := strings.TrimSpace(out[strings.LastIndex(out, " ")+1:])
	out = crictlImages(t, d, "pull", "k8s.gcr.io/pause:3.9")
	if !strings.Contains(out, pauseID) {
		t.Fatalf("the same image under two registries has two IDs: %s vs %s", pauseID, out)
	}
	crictlImages(t, d, "pull", "gcr.io/k8s-staging-cri-tools/test-image-latest")
	crictlImages(t, d, "pull", "gcr.io/k8s-staging-cri-tools/test-image-user-uid")

	var list listedImages
	if err := json.Unmarshal([]byte(crictlImages(t, d, "images", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, img := range list.Images {
		for _, tag := range img.RepoTags {
			tags[tag] = img.ID
		}
	}
	for _, want := range []string{"registry.k8s.io/pause:3.9", "k8s.gcr.io/pause:3.9",
		"gcr.io/k8s-staging-cri-tools/test-image-latest:latest", "gcr.io/k8s-staging-cri-tools/test-image-user-uid:latest"} {
		if tags[want] == "" {
			t.Errorf("crictl images lacks %s: %v", want, tags)
		}
	}

	var inspect struct {
		Status struct {
			UID      struct{ Value string } `json:"uid"`
			Username string                 `json:"username"`
		} `json:"status"`
		Info struct {
			ImageSpec struct {
				Config struct{ User string } `json:"config"`
			} `json:"imageSpec"`
		} `json:"info"`
	}
	raw := crictlImages(t, d, "inspecti", "-o", "json", "gcr.io/k8s-staging-cri-tools/test-image-user-uid")
	if err := json.Unmarshal([]byte(raw), &inspect); err != nil {
		t.Fatalf("inspecti: %v\n%s", err, raw)
	}
	if inspect.Status.UID.Value != "1002" || inspect.Info.ImageSpec.Config.User != "1002" {
		t.Errorf("inspecti uid %+v:\n%s", inspect, raw)
	}

	// Removing by one name removes the image under both.
	crictlImages(t, d, "rmi", "registry.k8s.io/pause:3.9")
	st, err := d.Image.ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "k8s.gcr.io/pause:3.9"}})
	if err != nil || st.GetImage() != nil {
		t.Fatalf("status after rmi: %v %v", st, err)
	}

	fs := crictlImages(t, d, "imagefsinfo", "-o", "json")
	if !strings.Contains(fs, `"usedBytes"`) || strings.Contains(fs, `"usedBytes": {"value": "0"}`) {
		t.Errorf("imagefsinfo %s", fs)
	}

	// A restart keeps the images.
	d.Stop()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if out := crictlImages(t, d, "images"); !strings.Contains(out, "test-image-user-uid") || strings.Contains(out, "pause") {
		t.Fatalf("images after restart:\n%s", out)
	}
}

func TestImagePullKilledMidway(t *testing.T) {
	reg := startImageRegistry(t)
	d := framework.StartDaemon(t, framework.Options{ConfigTOML: mirrorTOML(reg.Host)})
	const ref = "registry.k8s.io/e2e-test-images/nginx:1.14-2"
	img := reg.Images[testimages.NginxImage]
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	last, _ := layers[len(layers)-1].Digest()
	blocked := make(chan struct{}, 1)
	release := make(chan struct{})
	reg.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+last.String()) {
			select {
			case blocked <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
				return true
			}
		}
		return false
	})
	go func() {
		_, _ = d.Image.PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	}()
	select {
	case <-blocked:
	case <-time.After(time.Minute):
		t.Fatal("the pull never reached its last layer")
	}
	time.Sleep(200 * time.Millisecond) // the other layers land meanwhile
	d.Kill9()
	close(release)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	list, err := d.Image.ListImages(context.Background(), &runtimeapi.ListImagesRequest{})
	if err != nil || len(list.GetImages()) != 0 {
		t.Fatalf("images after a pull killed midway: %v %v", list, err)
	}
	for _, sub := range []string{"tmp", "layers", "blobs/sha256"} {
		es, err := os.ReadDir(filepath.Join(d.Root, "images", sub))
		if err != nil || len(es) != 0 {
			t.Errorf("images/%s after restart: %d entries, %v", sub, len(es), err)
		}
	}
	reg.setHook(nil)
	if _, err := d.Image.PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		t.Fatalf("pull after restart: %v", err)
	}
}

func TestImageImport(t *testing.T) {
	imgs, err := testimages.BuildAll(context.Background(), testimages.DefaultWorkDir())
	if err != nil {
		t.Fatal(err)
	}
	d := framework.StartDaemon(t, framework.Options{})
	// `docker save` format, as air-gapped nodes receive images.
	archive := filepath.Join(t.TempDir(), "busybox.tar")
	tag, _ := name.NewTag("registry.k8s.io/e2e-test-images/busybox:1.29-2")
	if err := tarball.WriteToFile(archive, tag, imgs[testimages.BusyboxImage]); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(framework.Binary(t), "images", "import", "--config", d.Config, archive).CombinedOutput()
	if err != nil {
		t.Fatalf("cri-shim images import: %v\n%s", err, out)
	}
	wantID, _ := imgs[testimages.BusyboxImage].ConfigName()
	if !strings.Contains(string(out), wantID.String()) {
		t.Errorf("import output %q lacks %s", out, wantID)
	}
	st, err := d.Image.ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: tag.String()}})
	if err != nil || st.GetImage().GetId() != wantID.String() || !slices.Contains(st.GetImage().GetRepoTags(), tag.String()) {
		t.Fatalf("imported image status %v %v", st, err)
	}
	if st, err := os.Stat(filepath.Join(d.State, "admin.sock")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("admin socket: %v %v", st, err)
	}
}
