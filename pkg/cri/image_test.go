package cri

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/images"
	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// imageService is a Service over a real image store and a local registry
// holding repo:tag images with the given USERs.
func imageServiceForTest(t *testing.T, users map[string]string) (*Service, string) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for ref, user := range users {
		img, err := random.Image(512, 2)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.Config.User = user
		cf.OS, cf.Architecture = "linux", "amd64"
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		tag, _ := name.NewTag(host+"/"+ref, name.Insecure)
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	db, err := metadata.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := config.Default()
	cfg.Registries = map[string]config.RegistryConfig{host: {Insecure: true}}
	imgs, err := images.Open(context.Background(), images.Options{Root: dir + "/images", Store: db, Config: func() *config.Config { return cfg }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imgs.Close() })
	return New(Deps{Images: imgs, Config: func() *config.Config { return cfg }}), host
}

func imgSpecForTest(ref string) *runtimeapi.ImageSpec { return &runtimeapi.ImageSpec{Image: ref} }

func TestImageRPCs(t *testing.T) {
	s, host := imageServiceForTest(t, map[string]string{"uid:1": "1002", "name:1": "www-data:1004", "none:1": ""})
	ctx := context.Background()

	st, err := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: imgSpecForTest(host + "/uid:1")})
	if err != nil || st.GetImage() != nil {
		t.Fatalf("status of an absent image: %v %v, want empty and no error", st, err)
	}
	ids := map[string]string{}
	for _, r := range []string{"uid:1", "name:1", "none:1"} {
		resp, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: imgSpecForTest(host + "/" + r)})
		if err != nil {
			t.Fatal(err)
		}
		ids[r] = resp.GetImageRef()
	}
	st, err = s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: imgSpecForTest(host + "/uid:1"), Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	img := st.GetImage()
	if img.GetId() != ids["uid:1"] || img.GetUid().GetValue() != 1002 || img.GetUsername() != "" || img.GetSize() == 0 ||
		len(img.GetRepoTags()) != 1 || img.GetRepoTags()[0] != host+"/uid:1" || len(img.GetRepoDigests()) != 1 {
		t.Fatalf("status %v", img)
	}
	var info struct {
		ImageSpec struct {
			Config struct{ User string }
		} `json:"imageSpec"`
		ChainIDs []string `json:"chainIDs"`
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil || info.ImageSpec.Config.User != "1002" || len(info.ChainIDs) != 2 {
		t.Fatalf("verbose info %q: %v", st.GetInfo()["info"], err)
	}
	st, _ = s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: imgSpecForTest(ids["name:1"])})
	if st.GetImage().GetUid() != nil || st.GetImage().GetUsername() != "www-data" {
		t.Fatalf("username image %v", st.GetImage())
	}
	// The same answer by ID, tag and digest.
	byTag, _ := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: imgSpecForTest(host + "/none:1")})
	byID, _ := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: imgSpecForTest(byTag.GetImage().GetId())})
	byDigest, _ := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: imgSpecForTest(byTag.GetImage().GetRepoDigests()[0])})
	if byTag.GetImage().String() != byID.GetImage().String() || byTag.GetImage().String() != byDigest.GetImage().String() {
		t.Fatalf("by tag %v, by ID %v, by digest %v", byTag, byID, byDigest)
	}

	list, err := s.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil || len(list.GetImages()) != 3 {
		t.Fatalf("list %v %v", list, err)
	}
	list, err = s.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: imgSpecForTest(host + "/name:1")}})
	if err != nil || len(list.GetImages()) != 1 || list.GetImages()[0].GetId() != ids["name:1"] {
		t.Fatalf("filtered list %v %v", list, err)
	}
	for range 2 {
		if _, err := s.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: imgSpecForTest(host + "/uid:1")}); err != nil {
			t.Fatal(err)
		}
	}
	list, _ = s.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: imgSpecForTest(ids["uid:1"])}})
	if len(list.GetImages()) != 0 {
		t.Fatalf("removed image listed: %v", list)
	}
	if _, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: imgSpecForTest("")}); err == nil {
		t.Fatal("pull of no image accepted")
	}
}
