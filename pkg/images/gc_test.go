package images

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cri-shim/cri-shim/pkg/config"
)

func countDir(t *testing.T, p string) int {
	t.Helper()
	es, err := os.ReadDir(p)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestGCKeepsLeasedLayers(t *testing.T) {
	reg := newTestRegistry(t)
	img := makeImage(t, "", nil, gzLayer(t, file("base", "b")), gzLayer(t, file("top", "t")))
	reg.push(t, "app", "v1", img)
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()
	id, err := e.svc.Pull(ctx, reg.Host+"/app:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Lease(ctx, "container-1", reg.Host+"/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.LayerDirs) != 2 || LowerDir(res.LayerDirs) != res.LayerDirs[1]+":"+res.LayerDirs[0] {
		t.Fatalf("lease: %+v", res)
	}
	if err := e.svc.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GC(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range res.LayerDirs {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("leased layer removed: %v", err)
		}
	}
	if n := countDir(t, filepath.Join(e.svc.root, blobsDir, "sha256")); n != 0 {
		t.Errorf("%d blobs of the removed image kept", n)
	}
	// A restart keeps the lease.
	e.reopen()
	for _, d := range res.LayerDirs {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("leased layer removed at start-up: %v", err)
		}
	}
	leases, err := e.svc.Leases(ctx)
	if err != nil || leases["container-1"].ImageID != id {
		t.Fatalf("leases %v %v", leases, err)
	}
	if err := e.svc.Release(ctx, "container-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countDir(t, filepath.Join(e.svc.root, layersDir)); n != 0 {
		t.Errorf("%d layers left after release", n)
	}
}

func TestGCSharedLayerStaysWhileAnImageUsesIt(t *testing.T) {
	reg := newTestRegistry(t)
	base := gzLayer(t, file("base", "shared"))
	a := makeImage(t, "", nil, base, gzLayer(t, file("a", "a")))
	b := makeImage(t, "", nil, base, gzLayer(t, file("b", "b")))
	reg.push(t, "a", "v1", a)
	reg.push(t, "b", "v1", b)
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()
	for _, r := range []string{"a", "b"} {
		if _, err := e.svc.Pull(ctx, reg.Host+"/"+r+":v1", nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := countDir(t, filepath.Join(e.svc.root, layersDir)); n != 3 {
		t.Fatalf("%d layers, want 3", n)
	}
	if err := e.svc.Remove(ctx, a.id()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GC(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Resolve(ctx, b.id())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.LayerDirs {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("layer of the remaining image removed: %v", err)
		}
	}
	if n := countDir(t, filepath.Join(e.svc.root, layersDir)); n != 2 {
		t.Errorf("%d layers, want 2", n)
	}
}

func TestGCSparesPullInFlight(t *testing.T) {
	reg := newTestRegistry(t)
	first := gzLayer(t, file("first", "1"))
	second := gzLayer(t, file("second", "2"))
	img := makeImage(t, "", nil, first, second)
	reg.push(t, "app", "v1", img)
	hold := make(chan struct{})
	reg.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+second.desc().Digest.String()) {
			<-hold
		}
		return false
	})
	e := newEnv(t, insecure(reg.Host))
	e.setConfig(func(c *config.Config) { c.Image.MaxConcurrentDownloads = 1 })
	done := make(chan error, 1)
	go func() { _, err := e.svc.Pull(context.Background(), reg.Host+"/app:v1", nil); done <- err }()
	// Wait for the first layer to be extracted, then collect.
	deadline := time.Now().Add(5 * time.Second)
	for countDir(t, filepath.Join(e.svc.root, layersDir)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("first layer not extracted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := e.svc.GC(context.Background()); err != nil || n != 0 {
		t.Fatalf("collection during a pull removed %d: %v", n, err)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Resolve(context.Background(), img.id())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.LayerDirs {
		if _, err := os.Stat(d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRestartKeepsImagesAndCleansCrashLeftovers(t *testing.T) {
	reg := newTestRegistry(t)
	img := simpleImage(t, "persist")
	reg.push(t, "app", "v1", img)
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()
	id, err := e.svc.Pull(ctx, reg.Host+"/app:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := e.svc.Status(ctx, id)
	root := e.svc.root
	e.close()

	// What a kill -9 mid-pull leaves: temp files, a blob and a layer no record names.
	orphan := "0000000000000000000000000000000000000000000000000000000000000000"
	for _, p := range []string{filepath.Join(root, tmpDir, "blob-123"), filepath.Join(root, blobsDir, "sha256", orphan)} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(root, tmpDir, "layer-9", "fs", "etc"), filepath.Join(root, layersDir, orphan, "fs", "usr")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.open()
	after, err := e.svc.Status(ctx, reg.Host+"/app:v1")
	if err != nil || after.ID != before.ID || after.Size != before.Size || after.RepoDigests[0] != before.RepoDigests[0] {
		t.Fatalf("after restart %+v %v, before %+v", after, err, before)
	}
	if n := countDir(t, filepath.Join(root, tmpDir)); n != 0 {
		t.Errorf("tmp not emptied: %d entries", n)
	}
	for _, p := range []string{filepath.Join(root, blobsDir, "sha256", orphan), filepath.Join(root, layersDir, orphan)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("orphan %s kept: %v", p, err)
		}
	}
	res, err := e.svc.Resolve(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(res.LayerDirs[0], "etc/seed")); err != nil || string(b) != "persist" {
		t.Fatalf("layer content after restart: %q %v", b, err)
	}
}

func TestUsage(t *testing.T) {
	reg := newTestRegistry(t)
	img := makeImage(t, "", nil, bigLayer(t, 300<<10))
	reg.push(t, "app", "v1", img)
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()
	empty, err := e.svc.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Pull(ctx, reg.Host+"/app:v1", nil); err != nil {
		t.Fatal(err)
	}
	full, err := e.svc.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The compressed blob and the extracted file: at least twice the data.
	if full.Bytes < empty.Bytes+600<<10 || full.Inodes < empty.Inodes+5 || full.Path != e.svc.root {
		t.Fatalf("usage empty %+v, full %+v", empty, full)
	}
	e.reopen()
	again, _ := e.svc.Usage(ctx)
	if again.Bytes != full.Bytes || again.Inodes != full.Inodes {
		t.Errorf("usage after restart %+v, before %+v", again, full)
	}
}

func TestDamagedLayerDirIsReplaced(t *testing.T) {
	reg := newTestRegistry(t)
	img := simpleImage(t, "damaged")
	reg.push(t, "app", "v1", img)
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()
	if _, err := e.svc.Pull(ctx, reg.Host+"/app:v1", nil); err != nil {
		t.Fatal(err)
	}
	res, _ := e.svc.Resolve(ctx, img.id())
	if err := os.RemoveAll(res.LayerDirs[0]); err != nil { // the fs dir is lost
		t.Fatal(err)
	}
	if _, err := e.svc.Pull(ctx, reg.Host+"/app:v1", nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(res.LayerDirs[0], "etc/seed")); err != nil || string(b) != "damaged" {
		t.Fatalf("layer not extracted again: %q %v", b, err)
	}
}
