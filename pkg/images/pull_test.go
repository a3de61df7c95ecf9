package images

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestPullByTagAndDigest(t *testing.T) {
	reg := newTestRegistry(t)
	img := simpleImage(t, "one")
	reg.push(t, "team/app", "v1", img)
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()

	ref := reg.Host + "/team/app:v1"
	id, err := e.svc.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if id != img.id() {
		t.Fatalf("id %s, want config digest %s", id, img.id())
	}
	st, err := e.svc.Status(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	wantDigest := reg.Host + "/team/app@" + img.manifestDigest().String()
	if len(st.RepoTags) != 1 || st.RepoTags[0] != ref || len(st.RepoDigests) != 1 || st.RepoDigests[0] != wantDigest {
		t.Fatalf("status %+v", st)
	}
	res, err := e.svc.Resolve(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.LayerDirs) != 1 {
		t.Fatalf("layer dirs %v", res.LayerDirs)
	}
	if b, err := os.ReadFile(filepath.Join(res.LayerDirs[0], "etc/seed")); err != nil || string(b) != "one" {
		t.Fatalf("extracted file: %q %v", b, err)
	}
	if res.Config.Config.Cmd[0] != "/bin/sh" {
		t.Fatalf("config %+v", res.Config.Config)
	}

	// By digest: same image, the digest reference is known, no new tag.
	dref := wantDigest
	id2, err := e.svc.Pull(ctx, dref, nil)
	if err != nil || id2 != id {
		t.Fatalf("pull by digest: %s %v", id2, err)
	}
	for _, r := range []string{dref, id, id[len("sha256:"):], id[len("sha256:") : len("sha256:")+12]} {
		if st, err := e.svc.Status(ctx, r); err != nil || st.ID != id {
			t.Errorf("status %q: %+v %v", r, st, err)
		}
	}
}

func TestPullIndexPicksPlatform(t *testing.T) {
	reg := newTestRegistry(t)
	imgs := []testImage{simpleImage(t, "arm64"), simpleImage(t, "amd64"), simpleImage(t, "amd64v2"), simpleImage(t, "amd64v3"), simpleImage(t, "amd64v4")}
	plats := []*ocispec.Platform{
		{OS: "linux", Architecture: "arm64"},
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "amd64", Variant: "v2"},
		{OS: "linux", Architecture: "amd64", Variant: "v3"},
		{OS: "linux", Architecture: "amd64", Variant: "v4"},
	}
	idxDigest := reg.pushIndex(t, "multi", "latest", imgs, plats)
	for _, tc := range []struct {
		variant string
		want    int
	}{{"v3", 3}, {"v2", 2}, {"v1", 1}, {"", 1}, {"v4", 4}} {
		e := newEnv(t, insecure(reg.Host))
		e.svc.platform = Platform{OS: "linux", Architecture: "amd64", Variant: tc.variant}
		id, err := e.svc.Pull(context.Background(), reg.Host+"/multi", nil)
		if err != nil {
			t.Fatal(err)
		}
		if id != imgs[tc.want].id() {
			t.Errorf("variant %q: got image %s, want %s", tc.variant, id, imgs[tc.want].id())
		}
		st, _ := e.svc.Status(context.Background(), id)
		if st.RepoDigests[0] != reg.Host+"/multi@"+idxDigest.String() || st.RepoTags[0] != reg.Host+"/multi:latest" {
			t.Errorf("names %v %v", st.RepoTags, st.RepoDigests)
		}
		e.close()
	}
}
