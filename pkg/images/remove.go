package images

import (
	"context"
	"fmt"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// Remove deletes the image ref names (ID, tag, digest reference), with all
// its tags and digests. An absent image is not an error. The image's layers
// stay on disk while a lease holds them; the rest is collected in the
// background.
func (s *Service) Remove(ctx context.Context, ref string) error {
	var removed imageRecord
	err := s.db.Update(ctx, func(tx metadata.Tx) error {
		rec, err := lookup(tx, ref)
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		removed = rec
		return deleteRecord(tx, rec)
	})
	if err != nil {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	if removed.ID != "" {
		klog.V(2).Infof("removed image %s %v", removed.ID, removed.RepoTags)
		s.kickGC()
	}
	return nil
}
