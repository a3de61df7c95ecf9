package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// testRegistry is go-containerregistry's in-process registry behind a
// middleware that counts requests and lets a test break them.
type testRegistry struct {
	srv  *httptest.Server
	Host string

	mu   sync.Mutex
	hits map[string]int // "GET /v2/<repo>/blobs/<digest>" -> count
	// hook, when set, may answer a request itself (returning true).
	hook func(w http.ResponseWriter, r *http.Request) bool
}

func newTestRegistry(t testing.TB) *testRegistry {
	t.Helper()
	tr := &testRegistry{hits: map[string]int{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.hits[r.Method+" "+r.URL.Path]++
		hook := tr.hook
		tr.mu.Unlock()
		if hook != nil && hook(w, r) {
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.Host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

func (tr *testRegistry) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	tr.mu.Lock()
	tr.hook = h
	tr.mu.Unlock()
}

// count returns how many times method path was requested.
func (tr *testRegistry) count(method, path string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.hits[method+" "+path]
}

// blobGets counts GETs of blob d in any repository.
func (tr *testRegistry) blobGets(d digest.Digest) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for k, v := range tr.hits {
		if strings.HasPrefix(k, "GET /v2/") && strings.HasSuffix(k, "/blobs/"+d.String()) {
			n += v
		}
	}
	return n
}

func (tr *testRegistry) resetHits() {
	tr.mu.Lock()
	tr.hits = map[string]int{}
	tr.mu.Unlock()
}

// tarEntry is one entry of a test layer.
type tarEntry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, body: body}
}

func dir(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func makeTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 0)
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testLayer is a layer blob with the diffID of its tar.
type testLayer struct {
	blob   []byte
	diffID digest.Digest
	mt     string
}

func (l testLayer) desc() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: l.mt, Digest: digest.FromBytes(l.blob), Size: int64(len(l.blob))}
}

func gzLayer(t testing.TB, entries ...tarEntry) testLayer {
	raw := makeTar(t, entries...)
	return testLayer{blob: gzipBytes(t, raw), diffID: digest.FromBytes(raw), mt: ocispec.MediaTypeImageLayerGzip}
}

// testImage is an image as raw blobs.
type testImage struct {
	layers   []testLayer
	config   []byte
	manifest []byte
}

func (ti testImage) id() string { return ti.configDesc().Digest.String() }

func (ti testImage) configDesc() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(ti.config), Size: int64(len(ti.config))}
}

func (ti testImage) manifestDigest() digest.Digest { return digest.FromBytes(ti.manifest) }

func (ti testImage) manifestDesc(p *ocispec.Platform) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: ti.manifestDigest(), Size: int64(len(ti.manifest)), Platform: p}
}

// makeImage builds an image of layers; user is the config's USER; mod may
// change the config before it is encoded.
func makeImage(t testing.TB, user string, mod func(*ocispec.Image), layers ...testLayer) testImage {
	t.Helper()
	cfg := ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   ocispec.ImageConfig{User: user, Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
	}
	if mod != nil {
		mod(&cfg)
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ti := testImage{layers: layers, config: cb}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ti.configDesc()}
	m.SchemaVersion = 2
	for _, l := range layers {
		m.Layers = append(m.Layers, l.desc())
	}
	if ti.manifest, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return ti
}

// simpleImage is a one-layer image whose file content is unique to seed.
func simpleImage(t testing.TB, seed string) testImage {
	return makeImage(t, "", nil, gzLayer(t, dir("etc/"), file("etc/seed", seed), file("bin/hello", "hello "+seed)))
}

type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// push uploads img's blobs and manifest as repo:tag (tag may be "" to push
// by digest only).
func (tr *testRegistry) push(t testing.TB, repo, tag string, img testImage) {
	t.Helper()
	r, err := name.NewRepository(tr.Host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range img.layers {
		tr.putBlob(t, r, l.blob, types.MediaType(l.mt))
	}
	tr.putBlob(t, r, img.config, types.OCIConfigJSON)
	tr.putManifest(t, r, tag, img.manifest, types.OCIManifestSchema1)
}

func (tr *testRegistry) putBlob(t testing.TB, r name.Repository, b []byte, mt types.MediaType) {
	t.Helper()
	if err := remote.WriteLayer(r, static.NewLayer(b, mt)); err != nil {
		t.Fatalf("push blob: %v", err)
	}
}

func (tr *testRegistry) putManifest(t testing.TB, r name.Repository, tag string, b []byte, mt types.MediaType) {
	t.Helper()
	var ref name.Reference = r.Digest(digest.FromBytes(b).String())
	if tag != "" {
		ref = r.Tag(tag)
	}
	if err := remote.Put(ref, rawManifest{b: b, mt: mt}); err != nil {
		t.Fatalf("push manifest: %v", err)
	}
}

// pushIndex uploads images and an index over them (with platforms) as repo:tag.
func (tr *testRegistry) pushIndex(t testing.TB, repo, tag string, imgs []testImage, plats []*ocispec.Platform) digest.Digest {
	t.Helper()
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	for i, img := range imgs {
		tr.push(t, repo, "", img)
		idx.Manifests = append(idx.Manifests, img.manifestDesc(plats[i]))
	}
	b, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := name.NewRepository(tr.Host+"/"+repo, name.Insecure)
	tr.putManifest(t, r, tag, b, types.OCIImageIndex)
	return digest.FromBytes(b)
}

// testEnv is a store over a private root and metadata database.
type testEnv struct {
	t    testing.TB
	dir  string
	db   metadata.Store
	cfg  atomic.Pointer[config.Config]
	svc  *Service
	opts Options
}

// newEnv opens a store whose config has registries (host -> settings);
// timeouts are short.
func newEnv(t testing.TB, registries map[string]config.RegistryConfig) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dir: t.TempDir()}
	cfg := config.Default()
	cfg.RootDir = e.dir
	cfg.Image.PullTimeout = config.Duration{Duration: 30 * time.Second}
	cfg.Image.PullProgressTimeout = config.Duration{Duration: 5 * time.Second}
	cfg.Registries = registries
	e.cfg.Store(cfg)
	e.opts = Options{Root: e.dir + "/images", Config: e.cfg.Load, Platform: Platform{OS: "linux", Architecture: "amd64", Variant: "v3"},
		ProgressLogInterval: 100 * time.Millisecond}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *testEnv) open() {
	e.t.Helper()
	db, err := metadata.Open(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	e.opts.Store = db
	if e.svc, err = Open(context.Background(), e.opts); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) close() {
	if e.svc != nil {
		_ = e.svc.Close()
		e.svc = nil
	}
	if e.db != nil {
		_ = e.db.Close()
		e.db = nil
	}
}

// reopen closes and opens the store again, as a daemon restart does.
func (e *testEnv) reopen() {
	e.close()
	e.open()
}

// setConfig changes the config in force.
func (e *testEnv) setConfig(mod func(*config.Config)) {
	c := e.cfg.Load().Clone()
	mod(c)
	e.cfg.Store(c)
}

// insecure is the registries setting that reaches hosts over plain http.
func insecure(hosts ...string) map[string]config.RegistryConfig {
	m := map[string]config.RegistryConfig{}
	for _, h := range hosts {
		m[h] = config.RegistryConfig{Insecure: true}
	}
	return m
}
