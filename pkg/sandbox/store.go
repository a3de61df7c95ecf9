package sandbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// Bucket is the metadata bucket of pod records, keyed by pod ID.
const Bucket = "sandboxes"

// put records sb. The write outlives a cancelled caller: a half-recorded
// step is worse than a late one.
func (m *Manager) put(ctx context.Context, sb Sandbox) error {
	raw, err := json.Marshal(&sb)
	if err != nil {
		return fmt.Errorf("pod %s: encode record: %w", sb.ID, err)
	}
	if err := m.store.Update(context.WithoutCancel(ctx), func(tx metadata.Tx) error {
		return tx.Put(Bucket, sb.ID, raw)
	}); err != nil {
		return fmt.Errorf("pod %s: write record: %w", sb.ID, err)
	}
	return nil
}

// drop deletes the record of pod id.
func (m *Manager) drop(ctx context.Context, id string) error {
	if err := m.store.Update(context.WithoutCancel(ctx), func(tx metadata.Tx) error {
		return tx.Delete(Bucket, id)
	}); err != nil {
		return fmt.Errorf("pod %s: delete record: %w", id, err)
	}
	return nil
}

// loadAll reads every record; unreadable ones are returned by key with their error.
func (m *Manager) loadAll(ctx context.Context) (recs []Sandbox, bad map[string]error, err error) {
	bad = map[string]error{}
	err = m.store.View(ctx, func(tx metadata.Tx) error {
		return tx.ForEach(Bucket, func(k string, v []byte) error {
			var sb Sandbox
			if err := json.Unmarshal(v, &sb); err != nil || sb.ID != k {
				bad[k] = fmt.Errorf("pod %s: unreadable record: %v", k, err)
				return nil
			}
			recs = append(recs, sb)
			return nil
		})
	})
	return recs, bad, err
}
