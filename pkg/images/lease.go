package images

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// LeaseInfo is one lease: an owner (a container) using an image's layers.
type LeaseInfo struct {
	Owner    string          `json:"owner"`
	ImageID  string          `json:"imageID"`
	ChainIDs []digest.Digest `json:"chainIDs"`
	Created  time.Time       `json:"created"`
}

// Lease resolves ref like Resolve and, in the same transaction, records
// that owner (a container ID) uses the image's layers. Garbage collection
// keeps leased layers, across daemon restarts and even after the image is
// removed, until Release(owner). Leasing again for an owner replaces its
// lease.
func (s *Service) Lease(ctx context.Context, owner, ref string) (*Resolved, error) {
	if owner == "" {
		return nil, fmt.Errorf("lease on image %s: empty owner: %w", ref, errdefs.ErrInvalidArgument)
	}
	var rec imageRecord
	err := s.db.Update(ctx, func(tx metadata.Tx) error {
		var err error
		if rec, err = lookup(tx, ref); err != nil {
			return err
		}
		l := LeaseInfo{Owner: owner, ImageID: rec.ID, Created: time.Now().UTC()}
		for _, lr := range rec.Layers {
			l.ChainIDs = append(l.ChainIDs, lr.ChainID)
		}
		return metadata.PutJSON(tx, bucketLeases, owner, l)
	})
	if err != nil {
		return nil, fmt.Errorf("lease %s on image %s: %w", owner, ref, err)
	}
	return s.resolved(rec)
}

// Release drops owner's lease; its layers are collected once nothing else
// uses them. Releasing an absent lease is not an error.
func (s *Service) Release(ctx context.Context, owner string) error {
	if err := s.db.Update(ctx, func(tx metadata.Tx) error {
		return tx.Delete(bucketLeases, owner)
	}); err != nil {
		return fmt.Errorf("release lease %s: %w", owner, err)
	}
	s.kickGC()
	return nil
}

// Leases returns every lease by owner, so that the container side can drop
// those of containers it no longer has.
func (s *Service) Leases(ctx context.Context) (map[string]LeaseInfo, error) {
	out := map[string]LeaseInfo{}
	err := s.db.View(ctx, func(tx metadata.Tx) error {
		return tx.ForEach(bucketLeases, func(k string, _ []byte) error {
			var l LeaseInfo
			if err := metadata.GetJSON(tx, bucketLeases, k, &l); err != nil {
				return err
			}
			out[k] = l
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}

// Pin is Lease without the answer: holder keeps the layers of imageID (or
// any reference Lease takes) until Unpin(holder).
func (s *Service) Pin(ctx context.Context, holder, imageID string) error {
	_, err := s.Lease(ctx, holder, imageID)
	return err
}

// Unpin is Release: holder's pin goes, and what only it kept is collected.
func (s *Service) Unpin(ctx context.Context, holder string) error {
	return s.Release(ctx, holder)
}
