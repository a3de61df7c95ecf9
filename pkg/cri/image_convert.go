package cri

import (
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/images"
)

// verboseImageInfo is ImageStatus's verbose "info" entry.
type verboseImageInfo struct {
	ID             string               `json:"id"`
	ManifestDigest string               `json:"manifestDigest"`
	ChainIDs       []digest.Digest      `json:"chainIDs"`
	Layers         []ocispec.Descriptor `json:"layers"`
	Stored         time.Time            `json:"stored"`
	ImageSpec      ocispec.Image        `json:"imageSpec"`
}

// criImage converts a stored image to its CRI form.
func criImage(img *images.Image) *runtimeapi.Image {
	out := &runtimeapi.Image{
		Id:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        img.Size,
		Username:    img.Username,
		Spec:        &runtimeapi.ImageSpec{Image: img.ID, ImageRef: img.ID},
		Pinned:      img.Pinned,
	}
	if img.UID != nil {
		out.Uid = &runtimeapi.Int64Value{Value: *img.UID}
	}
	return out
}

// credentials converts a CRI AuthConfig; nil when there is none.
func credentials(a *runtimeapi.AuthConfig) *images.Credentials {
	if a == nil {
		return nil
	}
	return &images.Credentials{
		Username: a.GetUsername(), Password: a.GetPassword(), Auth: a.GetAuth(),
		IdentityToken: a.GetIdentityToken(), RegistryToken: a.GetRegistryToken(),
		ServerAddress: a.GetServerAddress(),
	}
}
