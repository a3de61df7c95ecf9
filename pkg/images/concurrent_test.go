package images

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// gate holds GETs of blobs until released, so that pulls overlap.
type gate struct {
	once    sync.Once
	release chan struct{}
	waiting chan struct{}
}

func newGate() *gate { return &gate{release: make(chan struct{}), waiting: make(chan struct{}, 100)} }

func (g *gate) hook(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
		g.waiting <- struct{}{}
		<-g.release
	}
	return false
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func TestConcurrentPullsShareOneDownload(t *testing.T) {
	reg := newTestRegistry(t)
	img := makeImage(t, "", nil, gzLayer(t, file("one", "1")), gzLayer(t, file("two", "2")), gzLayer(t, file("three", "3")))
	reg.push(t, "app", "v1", img)
	g := newGate()
	reg.setHook(g.hook)
	defer g.open()
	e := newEnv(t, insecure(reg.Host))

	const pulls = 5
	var wg sync.WaitGroup
	errs := make(chan error, pulls)
	for range pulls {
		wg.Go(func() {
			id, err := e.svc.Pull(context.Background(), reg.Host+"/app:v1", nil)
			if err == nil && id != img.id() {
				t.Errorf("id %s", id)
			}
			errs <- err
		})
	}
	<-g.waiting // the download has begun; let the others join
	time.Sleep(100 * time.Millisecond)
	g.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := reg.count("GET", "/v2/app/manifests/v1"); n != 1 {
		t.Errorf("manifest fetched %d times", n)
	}
	for _, l := range img.layers {
		if n := reg.blobGets(l.desc().Digest); n != 1 {
			t.Errorf("layer %s fetched %d times", l.desc().Digest, n)
		}
	}
	if n := reg.blobGets(img.configDesc().Digest); n != 1 {
		t.Errorf("config fetched %d times", n)
	}

	// Pulled again: the manifest is asked for, nothing else.
	reg.resetHits()
	if _, err := e.svc.Pull(context.Background(), reg.Host+"/app:v1", nil); err != nil {
		t.Fatal(err)
	}
	for _, l := range img.layers {
		if n := reg.blobGets(l.desc().Digest); n != 0 {
			t.Errorf("layer on disk fetched again %d times", n)
		}
	}
}

func TestConcurrentPullsOfImagesSharingALayer(t *testing.T) {
	reg := newTestRegistry(t)
	base := gzLayer(t, file("base", "shared"))
	a := makeImage(t, "", nil, base, gzLayer(t, file("a", "a")))
	b := makeImage(t, "", nil, base, gzLayer(t, file("b", "b")))
	reg.push(t, "a", "v1", a)
	reg.push(t, "b", "v1", b)
	g := newGate()
	reg.setHook(g.hook)
	defer g.open()
	e := newEnv(t, insecure(reg.Host))

	var wg sync.WaitGroup
	for _, r := range []string{"a", "b"} {
		wg.Go(func() {
			if _, err := e.svc.Pull(context.Background(), reg.Host+"/"+r+":v1", nil); err != nil {
				t.Error(err)
			}
		})
	}
	// Configs are fetched first and pass the gate one by one; wait until
	// both pulls are at their layers.
	deadline := time.Now().Add(5 * time.Second)
	for len(g.waiting) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	g.open()
	wg.Wait()
	if n := reg.blobGets(base.desc().Digest); n != 1 {
		t.Errorf("shared layer fetched %d times", n)
	}
}

func TestAbandonedPullDoesNotFailOthers(t *testing.T) {
	reg := newTestRegistry(t)
	img := simpleImage(t, "patience")
	reg.push(t, "app", "v1", img)
	g := newGate()
	reg.setHook(g.hook)
	defer g.open()
	e := newEnv(t, insecure(reg.Host))

	impatient, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { _, err := e.svc.Pull(impatient, reg.Host+"/app:v1", nil); done <- err }()
	<-g.waiting
	go func() { _, err := e.svc.Pull(context.Background(), reg.Host+"/app:v1", nil); done <- err }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled pull succeeded")
	}
	g.open()
	if err := <-done; err != nil {
		t.Fatalf("patient pull: %v", err)
	}
}
