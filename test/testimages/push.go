package testimages

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push uploads images (keyed by repository:tag, as returned by BuildAll) to
// the plain-HTTP registry at registryHost ("host:port"). Blobs shared between
// images are uploaded once.
func Push(ctx context.Context, registryHost string, images map[string]v1.Image) error {
	if registryHost == "" || strings.Contains(registryHost, "/") {
		return fmt.Errorf("testimages: invalid registry host %q", registryHost)
	}
	todo := make(map[name.Reference]remote.Taggable, len(images))
	for key, img := range images {
		ref, err := name.NewTag(registryHost+"/"+key, name.Insecure, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("testimages: image key %q: %w", key, err)
		}
		todo[ref] = img
	}
	if len(todo) == 0 {
		return nil
	}
	if err := remote.MultiWrite(todo,
		remote.WithContext(ctx),
		remote.WithAuth(authn.Anonymous),
		remote.WithJobs(4),
	); err != nil {
		return fmt.Errorf("testimages: push to %s: %w", registryHost, err)
	}
	return nil
}
