package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// tarOf builds a tar of named files and symlinks (target prefixed "->").
func tarOf(t *testing.T, files [][2]string) []byte {
	t.Helper()
	var entries []tarEntry
	for _, f := range files {
		if len(f[1]) > 2 && f[1][:2] == "->" {
			entries = append(entries, hdr(f[0], tar.TypeSymlink, linkTo(f[1][2:])))
			continue
		}
		entries = append(entries, file(f[0], f[1]))
	}
	return makeTar(t, entries...)
}

func TestImportDockerSave(t *testing.T) {
	l1raw := makeTar(t, file("etc/os", "docker-save"))
	l2raw := makeTar(t, file("bin/app", "app"))
	img := makeImage(t, "1000", nil,
		testLayer{blob: l1raw, diffID: digest.FromBytes(l1raw), mt: ocispec.MediaTypeImageLayer},
		testLayer{blob: l2raw, diffID: digest.FromBytes(l2raw), mt: ocispec.MediaTypeImageLayer})
	manifest, _ := json.Marshal([]dockerManifestEntry{{
		Config:   img.configDesc().Digest.Encoded() + ".json",
		RepoTags: []string{"myapp:1.0", "registry.example.com/team/myapp:1.0"},
		Layers:   []string{"aaa/layer.tar", "bbb/layer.tar"},
	}})
	data := tarOf(t, [][2]string{
		{"manifest.json", string(manifest)},
		{img.configDesc().Digest.Encoded() + ".json", string(img.config)},
		{"aaa/layer.tar", string(l1raw)},
		{"ccc/layer.tar", string(l2raw)},
		{"bbb/layer.tar", "->../ccc/layer.tar"}, // older docker: duplicate layers as symlinks
	})
	e := newEnv(t, nil)
	ctx := context.Background()
	got, err := e.svc.Import(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != img.id() {
		t.Fatalf("imported %+v, want %s", got, img.id())
	}
	st, err := e.svc.Status(ctx, "myapp:1.0")
	if err != nil || st.ID != img.id() || len(st.RepoTags) != 2 || *st.UID != 1000 {
		t.Fatalf("status %+v %v", st, err)
	}
	res, err := e.svc.Resolve(ctx, "registry.example.com/team/myapp:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(res.LayerDirs[1], "bin/app")); err != nil || string(b) != "app" {
		t.Fatalf("layer content %q %v", b, err)
	}
	if n := countDir(t, filepath.Join(e.svc.root, tmpDir)); n != 0 {
		t.Errorf("import left %d files in tmp", n)
	}
}

func TestImportOCILayout(t *testing.T) {
	amd := simpleImage(t, "oci-amd64")
	arm := simpleImage(t, "oci-arm64")
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{
		arm.manifestDesc(&ocispec.Platform{OS: "linux", Architecture: "arm64"}),
		amd.manifestDesc(&ocispec.Platform{OS: "linux", Architecture: "amd64"}),
	}}
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	ib, _ := json.Marshal(idx)
	ibd := digest.FromBytes(ib)
	top := ocispec.Index{Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageIndex, Digest: ibd, Size: int64(len(ib)),
			Annotations: map[string]string{annotationContainerdName: "docker.io/library/ociapp:2", annotationRefName: "2"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: arm.manifestDigest(), Size: int64(len(arm.manifest)),
			Annotations: map[string]string{annotationRefName: "untagged"}},
	}}
	top.SchemaVersion = 2
	tb, _ := json.Marshal(top)
	files := [][2]string{{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`}, {"index.json", string(tb)}, {"blobs/sha256/" + ibd.Encoded(), string(ib)}}
	for _, im := range []testImage{amd, arm} {
		files = append(files, [2]string{"blobs/sha256/" + im.manifestDigest().Encoded(), string(im.manifest)},
			[2]string{"blobs/sha256/" + im.configDesc().Digest.Encoded(), string(im.config)})
		for _, l := range im.layers {
			files = append(files, [2]string{"blobs/sha256/" + l.desc().Digest.Encoded(), string(l.blob)})
		}
	}
	e := newEnv(t, nil)
	ctx := context.Background()
	got, err := e.svc.Import(ctx, bytes.NewReader(tarOf(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != amd.id() || got[1].ID != arm.id() {
		t.Fatalf("imported %+v", got)
	}
	st, err := e.svc.Status(ctx, "ociapp:2")
	if err != nil || st.ID != amd.id() || st.RepoDigests[0] != "docker.io/library/ociapp@"+ibd.String() {
		t.Fatalf("status %+v %v", st, err)
	}
	if st, err := e.svc.Status(ctx, arm.id()); err != nil || len(st.RepoTags) != 0 {
		t.Fatalf("untagged image %+v %v", st, err)
	}
}

func TestImportRefusesBadArchives(t *testing.T) {
	e := newEnv(t, nil)
	img := simpleImage(t, "bad")
	top := ocispec.Index{Manifests: []ocispec.Descriptor{img.manifestDesc(nil)}}
	top.SchemaVersion = 2
	tb, _ := json.Marshal(top)
	corrupt := [][2]string{{"index.json", string(tb)},
		{"blobs/sha256/" + img.manifestDigest().Encoded(), string(img.manifest)},
		{"blobs/sha256/" + img.configDesc().Digest.Encoded(), string(img.config)},
		{"blobs/sha256/" + img.layers[0].desc().Digest.Encoded(), string(flip(img.layers[0].blob))}}
	for name, data := range map[string][]byte{
		"not a tar":     []byte("hello"),
		"empty tar":     tarOf(t, nil),
		"corrupt layer": tarOf(t, corrupt),
	} {
		if _, err := e.svc.Import(context.Background(), bytes.NewReader(data)); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want invalid argument", name, err)
		}
	}
	if imgs, _ := e.svc.List(context.Background()); len(imgs) != 0 {
		t.Errorf("images after failed imports: %v", imgs)
	}
}
