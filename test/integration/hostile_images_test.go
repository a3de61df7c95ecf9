package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/internal/hostiletar"
	"github.com/cri-shim/cri-shim/test/testimages"
)

// The hostile tests' pod network.
const (
	hostileBridge = "crishimhz0"
	hostileSubnet = "10.231.0.0/24"
	// Layer limits of the hostile images' daemon: above the busybox base
	// layer, far below the bomb and the flood.
	hostileMaxLayerBytes   = 32 << 20
	hostileMaxLayerEntries = 4096
)

// staticRegistry serves fixed documents at fixed registry paths, right or
// wrong: it checks nothing, as a hostile registry would.
type staticRegistry struct {
	mu    sync.Mutex
	docs  map[string]staticDoc // path under /v2/
	srv   *httptest.Server
	Host  string
	count map[string]int
}

type staticDoc struct {
	mediaType string
	body      []byte
}

func startStaticRegistry(t *testing.T) *staticRegistry {
	t.Helper()
	r := &staticRegistry{docs: map[string]staticDoc{}, count: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" || req.URL.Path == "/v2" {
			w.WriteHeader(http.StatusOK)
			return
		}
		r.mu.Lock()
		doc, ok := r.docs[strings.TrimPrefix(req.URL.Path, "/v2/")]
		r.count[req.URL.Path]++
		r.mu.Unlock()
		if !ok || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}`))
			return
		}
		if doc.mediaType != "" {
			w.Header().Set("Content-Type", doc.mediaType)
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(doc.body)))
		if req.Method == http.MethodGet {
			_, _ = w.Write(doc.body)
		}
	}))
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func (r *staticRegistry) put(path, mediaType string, body []byte) {
	r.mu.Lock()
	r.docs[path] = staticDoc{mediaType, body}
	r.mu.Unlock()
}

// blob stores body as a blob of repo and returns its descriptor.
func (r *staticRegistry) blob(repo, mediaType string, body []byte) ocispec.Descriptor {
	d := digest.FromBytes(body)
	r.put(repo+"/blobs/"+d.String(), "application/octet-stream", body)
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(body))}
}

// manifest stores a manifest document under ref (a tag or digest) of repo.
func (r *staticRegistry) manifest(repo, ref, mediaType string, body []byte) {
	r.put(repo+"/manifests/"+ref, mediaType, body)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// baseLayers is the busybox image's layers and config, copied into each
// hostile image so that the ones that pull can run.
type baseLayers struct {
	blobs   [][]byte
	descs   []ocispec.Descriptor
	diffIDs []digest.Digest
	config  ocispec.Image
}

func busyboxBase(t *testing.T) baseLayers {
	t.Helper()
	imgs, err := testimages.BuildAll(context.Background(), testimages.DefaultWorkDir())
	if err != nil {
		t.Fatal(err)
	}
	img := imgs[strings.TrimPrefix(ctrImage, "registry.k8s.io/")]
	if img == nil {
		t.Fatalf("no image %s among the test images", ctrImage)
	}
	var b baseLayers
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		diffID, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		b.blobs = append(b.blobs, data)
		b.descs = append(b.descs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(data), Size: int64(len(data))})
		b.diffIDs = append(b.diffIDs, digest.Digest(diffID.String()))
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &b.config); err != nil {
		t.Fatal(err)
	}
	return b
}

// diffIDOf is the digest of a layer's uncompressed tar (of the bytes as
// they are, when they do not decompress).
func diffIDOf(data []byte) digest.Digest {
	if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
		if plain, err := io.ReadAll(zr); err == nil {
			return digest.FromBytes(plain)
		}
	}
	return digest.FromBytes(data)
}

func layerMediaType(data []byte) string {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		return ocispec.MediaTypeImageLayerGzip
	}
	return ocispec.MediaTypeImageLayer
}

// hostileImage is an image the test serves and what pulling (and running)
// it must give.
type hostileImage struct {
	name string
	// ref is the reference pulled (default <registry>/hostile/<name>:latest).
	ref string
	// pullCode is the gRPC code the pull must fail with; codes.OK: it must
	// pull and run; anyCode: either.
	pullCode codes.Code
	// createCode, when pullCode is OK, is the code CreateContainer (with
	// no command of its own) must fail with; OK: the container must run
	// and exit 0.
	createCode codes.Code
}

// anyCode: refusing with a clear error and pulling safely are both right.
const anyCode = codes.Code(1000)

// imageParts is what the builders assemble into an image.
type imageParts struct {
	layers     [][]byte // extra layers above busybox
	config     ocispec.Image
	configBody []byte // when set, served instead of the config's JSON
}

// put serves an image of repo at tag latest: busybox plus p's layers,
// with mutate free to change the manifest before it is stored; it returns
// the manifest bytes.
func (r *staticRegistry) image(t *testing.T, base baseLayers, repo string, p imageParts, mutate func(m *ocispec.Manifest)) []byte {
	t.Helper()
	m := ocispec.Manifest{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest}
	cfg := p.config
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: append([]digest.Digest(nil), base.diffIDs...)}
	for i, b := range base.blobs {
		m.Layers = append(m.Layers, r.blob(repo, base.descs[i].MediaType, b))
	}
	for _, l := range p.layers {
		m.Layers = append(m.Layers, r.blob(repo, layerMediaType(l), l))
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffIDOf(l))
	}
	cfgBody := p.configBody
	if cfgBody == nil {
		cfgBody = mustJSON(t, cfg)
	}
	m.Config = r.blob(repo, ocispec.MediaTypeImageConfig, cfgBody)
	if mutate != nil {
		mutate(&m)
	}
	body := mustJSON(t, m)
	r.manifest(repo, "latest", ocispec.MediaTypeImageManifest, body)
	return body
}

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }

// treeState maps every path under root (but the subtrees skip names,
// relative to root) to a hash of its mode, size, link target and body.
func treeState(t *testing.T, root string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if e.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := e.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		h := sha256.New()
		fmt.Fprintf(h, "%v %d\n", info.Mode(), info.Size())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			fmt.Fprintf(h, "-> %s\n", target)
		case info.Mode().IsRegular():
			if b, err := os.ReadFile(p); err == nil {
				h.Write(b)
			}
		}
		out[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatalf("hash %s: %v", root, err)
	}
	return out
}

// treeChanges lists the paths added, removed or changed between two states.
func treeChanges(before, after map[string]string) []string {
	var out []string
	for p, h := range after {
		if b, ok := before[p]; !ok {
			out = append(out, "+"+p)
		} else if b != h {
			out = append(out, "~"+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, "-"+p)
		}
	}
	sort.Strings(out)
	return out
}

// listTree lists the paths under root, at most depth levels down.
func listTree(root string, depth int) []string {
	var out []string
	_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
			if e.IsDir() && strings.Count(rel, "/") >= depth-1 {
				return filepath.SkipDir
			}
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// added lists what after holds and before does not.
func added(before, after []string) []string {
	had := map[string]bool{}
	for _, b := range before {
		had[b] = true
	}
	var out []string
	for _, a := range after {
		if !had[a] {
			out = append(out, a)
		}
	}
	return out
}

// imageStore is the daemon's image store directory.
func imageStore(root string) string { return filepath.Join(root, "images") }

// TestHostileImages pulls images built to break the host through the
// daemon's CRI: layers that escape (path traversal, symlinks, hard links,
// whiteouts), bombs and floods past the configured limits, device nodes,
// manifests and configs that lie about digests, sizes and media types,
// indexes that loop or nest without end, and configs that cannot run.
// Each must be refused with the expected gRPC code and a message naming
// the image (leaving nothing new in the image store), or pull and run
// safely; a canary directory on the host and the daemon's own directories
// outside the image store must not change.
func TestHostileImages(t *testing.T) {
	ctx := context.Background()
	canary := filepath.Join(os.TempDir(), fmt.Sprintf("cri-shim-hostile-canary-%d", os.Getpid()))
	if err := os.MkdirAll(canary, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(canary) })
	if err := os.WriteFile(filepath.Join(canary, "secret"), []byte("untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hr := startStaticRegistry(t)
	toml := fmt.Sprintf("[image]\nmax_layer_bytes = %d\nmax_layer_entries = %d\n[registries.%q]\ninsecure = true\n",
		hostileMaxLayerBytes, hostileMaxLayerEntries, hr.Host)
	d := startCtrDaemonOn(t, hostileBridge, hostileSubnet, toml)
	base := busyboxBase(t)
	baseCfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config: ocispec.ImageConfig{Env: base.config.Config.Env, Cmd: []string{"/bin/sh", "-c", "ls -la / >/dev/null && echo ran"}}}

	var cases []hostileImage
	add := func(name string, pullCode, createCode codes.Code) {
		cases = append(cases, hostileImage{name: name, pullCode: pullCode, createCode: createCode})
	}
	repo := func(name string) string { return "hostile/" + name }

	// Layers: the shared hostile archives, each above busybox.
	archives, err := hostiletar.Archives(filepath.Join(canary, "written"), hostileMaxLayerBytes, hostileMaxLayerEntries)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range archives {
		hr.image(t, base, repo(a.Name), imageParts{layers: [][]byte{a.Data}, config: baseCfg}, nil)
		switch a.Want {
		case hostiletar.Contained:
			add(a.Name, codes.OK, codes.OK)
		case hostiletar.Invalid:
			add(a.Name, codes.InvalidArgument, codes.OK)
		case hostiletar.Exhausted:
			add(a.Name, codes.ResourceExhausted, codes.OK)
		default:
			add(a.Name, anyCode, codes.OK)
		}
	}
	tarOf := func(entries ...hostiletar.Entry) []byte {
		b, err := hostiletar.Tar(entries...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// A symlink in one layer and a write through it in the next.
	hr.image(t, base, repo("cross-layer-symlink"), imageParts{config: baseCfg, layers: [][]byte{
		tarOf(hostiletar.Hdr("hostroot", tar.TypeSymlink, hostiletar.LinkTo("/"))),
		tarOf(hostiletar.File("hostroot"+canary+"/secret", "overwritten"), hostiletar.File("hostroot"+canary+"/written", "x")),
	}}, nil)
	add("cross-layer-symlink", codes.OK, codes.OK)
	hr.image(t, base, repo("cross-layer-dotdot-symlink"), imageParts{config: baseCfg, layers: [][]byte{
		tarOf(hostiletar.Hdr("up", tar.TypeSymlink, hostiletar.LinkTo("../../../../../../../..")), hostiletar.Hdr("etcdir", tar.TypeSymlink, hostiletar.LinkTo("/etc"))),
		tarOf(hostiletar.File("up"+canary+"/written", "x"), hostiletar.File("etcdir/cri-shim-hostile", "x"), hostiletar.File("up/etc/cri-shim-hostile", "x")),
	}}, nil)
	add("cross-layer-dotdot-symlink", codes.OK, codes.OK)
	// A whiteout in an upper layer of a directory reached through a lower symlink.
	hr.image(t, base, repo("cross-layer-whiteout"), imageParts{config: baseCfg, layers: [][]byte{
		tarOf(hostiletar.Hdr("c", tar.TypeSymlink, hostiletar.LinkTo(canary))),
		tarOf(hostiletar.File("c/.wh.secret", ""), hostiletar.File("c/.wh..wh..opq", "")),
	}}, nil)
	add("cross-layer-whiteout", codes.OK, codes.OK)

	// Manifests and configs that lie.
	good := imageParts{config: baseCfg, layers: [][]byte{tarOf(hostiletar.File("hello", "hi"))}}
	hr.image(t, base, repo("config-digest-mismatch"), good, func(m *ocispec.Manifest) {
		hr.put(repo("config-digest-mismatch")+"/blobs/"+m.Config.Digest.String(), "", mustJSON(t, ocispec.Image{}))
	})
	add("config-digest-mismatch", codes.InvalidArgument, codes.OK)
	hr.image(t, base, repo("config-size-long"), good, func(m *ocispec.Manifest) { m.Config.Size += 10 })
	add("config-size-long", codes.InvalidArgument, codes.OK)
	hr.image(t, base, repo("config-size-short"), good, func(m *ocispec.Manifest) { m.Config.Size -= 10 })
	add("config-size-short", codes.InvalidArgument, codes.OK)
	hr.image(t, base, repo("config-size-huge"), good, func(m *ocispec.Manifest) { m.Config.Size = 1 << 40 })
	add("config-size-huge", codes.InvalidArgument, codes.OK)
	hr.image(t, base, repo("layer-digest-mismatch"), good, func(m *ocispec.Manifest) {
		l := m.Layers[len(m.Layers)-1]
		hr.put(repo("layer-digest-mismatch")+"/blobs/"+l.Digest.String(), "", tarOf(hostiletar.File("hello", "HI")))
	})
	add("layer-digest-mismatch", codes.InvalidArgument, codes.OK)
	hr.image(t, base, repo("layer-size-short"), good, func(m *ocispec.Manifest) { m.Layers[len(m.Layers)-1].Size-- })
	add("layer-size-short", codes.InvalidArgument, codes.OK)
	hr.image(t, base, repo("layer-size-long"), good, func(m *ocispec.Manifest) { m.Layers[len(m.Layers)-1].Size += 1000 })
	add("layer-size-long", codes.InvalidArgument, codes.OK)
	badDiff := good
	badDiff.config.RootFS.DiffIDs = nil
	{
		cfg := baseCfg
		cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: append(append([]digest.Digest(nil), base.diffIDs...), digest.FromString("not the layer"))}
		badDiff.configBody = mustJSON(t, cfg)
	}
	hr.image(t, base, repo("diffid-mismatch"), badDiff, nil)
	add("diffid-mismatch", codes.InvalidArgument, codes.OK)
	{
		cfg := baseCfg
		cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: base.diffIDs}
		fewer := good
		fewer.configBody = mustJSON(t, cfg)
		hr.image(t, base, repo("diffid-count"), fewer, nil)
		add("diffid-count", codes.InvalidArgument, codes.OK)
	}
	hr.image(t, base, repo("layer-unknown-media-type"), good, func(m *ocispec.Manifest) {
		m.Layers[len(m.Layers)-1].MediaType = "application/vnd.example.not-a-layer"
	})
	add("layer-unknown-media-type", codes.InvalidArgument, codes.OK)
	hr.image(t, base, repo("config-unknown-media-type"), good, func(m *ocispec.Manifest) {
		m.Config.MediaType = "application/vnd.example.artifact.config.v1+json"
	})
	add("config-unknown-media-type", codes.InvalidArgument, codes.OK)
	hr.image(t, base, repo("layer-bad-digest-syntax"), good, func(m *ocispec.Manifest) {
		m.Layers[len(m.Layers)-1].Digest = "sha256:../../../../etc/passwd"
	})
	add("layer-bad-digest-syntax", codes.InvalidArgument, codes.OK)
	hr.image(t, base, repo("config-not-json"), imageParts{config: baseCfg, configBody: []byte("{not json")}, nil)
	add("config-not-json", codes.InvalidArgument, codes.OK)
	hr.image(t, base, repo("blob-missing"), good, func(m *ocispec.Manifest) {
		m.Layers[len(m.Layers)-1].Digest = digest.FromString("nowhere")
	})
	add("blob-missing", codes.NotFound, codes.OK)
	hr.manifest(repo("manifest-unknown-media-type"), "latest", "application/vnd.example.thing+json",
		[]byte(`{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json","things":[]}`))
	add("manifest-unknown-media-type", codes.InvalidArgument, codes.OK)
	hr.manifest(repo("manifest-schema1"), "latest", "application/vnd.docker.distribution.manifest.v1+prettyjws",
		[]byte(`{"schemaVersion":1,"name":"hostile/manifest-schema1","tag":"latest","fsLayers":[]}`))
	add("manifest-schema1", codes.InvalidArgument, codes.OK)
	hr.manifest(repo("manifest-not-json"), "latest", ocispec.MediaTypeImageManifest, []byte("<html>hello</html>"))
	add("manifest-not-json", codes.InvalidArgument, codes.OK)
	hr.manifest(repo("manifest-huge"), "latest", ocispec.MediaTypeImageManifest,
		append(append([]byte(`{"schemaVersion":2,"annotations":{"x":"`), bytes.Repeat([]byte("a"), 8<<20)...), `"}}`...))
	add("manifest-huge", anyCode, codes.OK)
	// By digest, the registry answers with other bytes.
	{
		body := hr.image(t, base, repo("manifest-digest-mismatch"), good, nil)
		d := digest.FromBytes(body)
		other := hr.image(t, base, repo("manifest-digest-mismatch-other"), imageParts{config: baseCfg}, nil)
		hr.manifest(repo("manifest-digest-mismatch"), d.String(), ocispec.MediaTypeImageManifest, other)
		cases = append(cases, hostileImage{name: "manifest-digest-mismatch", ref: hr.Host + "/" + repo("manifest-digest-mismatch") + "@" + d.String(), pullCode: codes.InvalidArgument})
	}
	// An index whose entry is served as the index itself (it points at
	// itself: a document cannot hold its own digest, so the registry
	// answers every digest with the same index).
	{
		selfDigest := digest.FromString("the index itself")
		idx := ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{
			MediaType: ocispec.MediaTypeImageIndex, Digest: selfDigest, Size: 0,
			Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}}}
		idx.Manifests[0].Size = int64(len(mustJSON(t, idx)))
		body := mustJSON(t, idx)
		hr.manifest(repo("index-self"), "latest", ocispec.MediaTypeImageIndex, body)
		hr.manifest(repo("index-self"), selfDigest.String(), ocispec.MediaTypeImageIndex, body)
		hr.manifest(repo("index-self"), digest.FromBytes(body).String(), ocispec.MediaTypeImageIndex, body)
		add("index-self", codes.InvalidArgument, codes.OK)
	}
	// Indexes with nothing to run here.
	{
		mb := hr.image(t, base, repo("index-other-platform"), good, nil)
		idx := ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{
			MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb)),
			Platform: &ocispec.Platform{OS: "plan9", Architecture: "mips"}}}}
		hr.manifest(repo("index-other-platform"), "latest", ocispec.MediaTypeImageIndex, mustJSON(t, idx))
		add("index-other-platform", codes.NotFound, codes.OK)
		hr.manifest(repo("index-empty"), "latest", ocispec.MediaTypeImageIndex, mustJSON(t, ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex}))
		add("index-empty", codes.NotFound, codes.OK)
	}
	// Indexes nested deeper than any real image.
	{
		mb := hr.image(t, base, repo("index-deep"), good, nil)
		child := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb)),
			Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}
		hr.manifest(repo("index-deep"), child.Digest.String(), ocispec.MediaTypeImageManifest, mb)
		for range 6 {
			b := mustJSON(t, ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{child}})
			child = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b)), Platform: child.Platform}
			hr.manifest(repo("index-deep"), child.Digest.String(), ocispec.MediaTypeImageIndex, b)
			hr.manifest(repo("index-deep"), "latest", ocispec.MediaTypeImageIndex, b)
		}
		add("index-deep", codes.InvalidArgument, codes.OK)
	}
	// Configs that cannot run.
	{
		cfg := baseCfg
		cfg.Config.User = "no-such-user"
		hr.image(t, base, repo("user-missing"), imageParts{config: cfg}, nil)
		add("user-missing", codes.OK, codes.InvalidArgument)
		cfg.Config.User = "0:no-such-group"
		hr.image(t, base, repo("group-missing"), imageParts{config: cfg}, nil)
		add("group-missing", codes.OK, codes.InvalidArgument)
		cfg.Config.User = "../../../../etc/shadow"
		hr.image(t, base, repo("user-path"), imageParts{config: cfg}, nil)
		add("user-path", codes.OK, codes.InvalidArgument)
		cfg = baseCfg
		cfg.Config.Cmd, cfg.Config.Entrypoint = nil, nil
		hr.image(t, base, repo("no-entrypoint"), imageParts{config: cfg}, nil)
		add("no-entrypoint", codes.OK, codes.InvalidArgument)
		cfg = baseCfg
		cfg.Config.WorkingDir = "/../../../../../.." + canary + "/workdir"
		hr.image(t, base, repo("workdir-escape"), imageParts{config: cfg}, nil)
		add("workdir-escape", codes.OK, codes.OK)
		cfg = baseCfg
		cfg.Config.Volumes = map[string]struct{}{"/../../../.." + canary + "/vol": {}}
		hr.image(t, base, repo("volume-escape"), imageParts{config: cfg}, nil)
		add("volume-escape", codes.OK, codes.OK)
	}

	skipHost := []string{"images", "meta.db", "containers", "cni-cache"} // what pulls and runs change
	podCfg := d.podConfig("hostile-images", runtimeapi.NamespaceMode_POD, nil)
	podID := d.runPod(podCfg)
	hostState := func() map[string]string {
		st := treeState(t, d.Root, skipHost...)
		for p, h := range treeState(t, canary) {
			st[canary+"/"+p] = h
		}
		return st
	}
	hostBefore := hostState()
	var pulled, refused int
	for _, c := range cases {
		ref := c.ref
		if ref == "" {
			ref = hr.Host + "/" + repo(c.name) + ":latest"
		}
		t.Run(c.name, func(t *testing.T) {
			storeBefore := listTree(imageStore(d.Root), 3)
			pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			resp, err := d.Image.PullImage(pctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
			if err != nil {
				refused++
				st, _ := status.FromError(err)
				t.Logf("refused: %v: %s", st.Code(), st.Message())
				if c.pullCode == codes.OK || (c.pullCode != anyCode && st.Code() != c.pullCode) {
					t.Fatalf("pull %s: got %v, want code %v", ref, err, c.pullCode)
				}
				if c.pullCode == anyCode && st.Code() != codes.InvalidArgument && st.Code() != codes.ResourceExhausted {
					t.Fatalf("pull %s: got %v, want InvalidArgument or ResourceExhausted", ref, err)
				}
				if !strings.Contains(st.Message(), "hostile/"+c.name) {
					t.Errorf("pull %s: message %q does not name the image", ref, st.Message())
				}
				if extra := added(storeBefore, listTree(imageStore(d.Root), 3)); len(extra) > 0 {
					t.Errorf("refused pull left content in the image store: %v", extra)
				}
				if st, err := d.Image.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil || st.GetImage() != nil {
					t.Errorf("image status after a refused pull: %v, %v", st.GetImage(), err)
				}
				return
			}
			pulled++
			if c.pullCode != codes.OK && c.pullCode != anyCode {
				t.Fatalf("pull %s succeeded (%s), want code %v", ref, resp.GetImageRef(), c.pullCode)
			}
			cfg := &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: c.name},
				Image:    &runtimeapi.ImageSpec{Image: ref, UserSpecifiedImage: ref},
				LogPath:  c.name + ".log",
			}
			cr, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
			if c.createCode != codes.OK {
				st, _ := status.FromError(err)
				if err == nil || st.Code() != c.createCode {
					t.Fatalf("create from %s: got %v, want code %v", ref, err, c.createCode)
				}
				t.Logf("create refused: %v: %s", st.Code(), st.Message())
				if !strings.Contains(st.Message(), c.name) {
					t.Errorf("create from %s: message %q names neither the image nor the container", ref, st.Message())
				}
				return
			}
			if err != nil {
				t.Fatalf("create from %s: %v", ref, err)
			}
			id := cr.GetContainerId()
			defer func() {
				if _, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
					t.Errorf("remove %s: %v", id, err)
				}
			}()
			d.start(id)
			st := d.waitCtrState(id, runtimeapi.ContainerState_CONTAINER_EXITED)
			if st.GetExitCode() != 0 {
				b, _ := os.ReadFile(st.GetLogPath())
				t.Fatalf("container from %s exited %d:\n%s", ref, st.GetExitCode(), b)
			}
		})
		if ch := treeChanges(hostBefore, hostState()); len(ch) > 0 {
			t.Fatalf("after %s: the canary %s or the daemon's dirs outside the image store changed: %v", c.name, canary, ch)
		}
		if _, err := os.Lstat("/etc/cri-shim-hostile"); err == nil {
			t.Fatalf("after %s: /etc/cri-shim-hostile was written", c.name)
		}
	}
	t.Logf("hostile images: %d cases, %d pulled, %d refused", len(cases), pulled, refused)
}
