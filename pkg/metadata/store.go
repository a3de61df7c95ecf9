// Package metadata is the runtime's persistent record of pods, containers and
// images: a bbolt database under the root dir behind a small interface that
// the domain packages share.
//
// Values are opaque bytes (JSON by convention, see GetJSON and PutJSON) kept
// in named buckets. The schema version is recorded in the database; a store
// written by a newer version of cri-shim is refused, never rewritten.
package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// SchemaVersion is the layout version this build reads and writes.
const SchemaVersion = 1

// FileName is the database's name inside the root dir.
const FileName = "meta.db"

const (
	schemaBucket = "schema"
	versionKey   = "version"
)

// ErrNewerSchema is returned by Open for a database written by a newer cri-shim.
var ErrNewerSchema = errors.New("metadata written by a newer cri-shim")

// Store is the metadata database.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction; it commits if fn returns nil.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the database.
	Close() error
}

// Tx is one transaction over named buckets. Buckets are created on first Put.
type Tx interface {
	// Get returns the value under key, or an error of kind errdefs.ErrNotFound.
	Get(bucket, key string) ([]byte, error)
	// Put stores value under key.
	Put(bucket, key string, value []byte) error
	// Delete removes key; removing an absent key is not an error.
	Delete(bucket, key string) error
	// ForEach calls fn for every key of the bucket in byte order.
	ForEach(bucket string, fn func(key string, value []byte) error) error
}

// Open opens (creating if needed) the database in dir and checks its schema.
func Open(dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("metadata dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open metadata %s: %w", path, err)
	}
	if err := checkSchema(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	return &boltStore{db: db}, nil
}

func checkSchema(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(schemaBucket))
		if err != nil {
			return err
		}
		raw := b.Get([]byte(versionKey))
		if raw == nil {
			return b.Put([]byte(versionKey), []byte(strconv.Itoa(SchemaVersion)))
		}
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			return fmt.Errorf("unreadable schema version %q", raw)
		}
		if v > SchemaVersion {
			return fmt.Errorf("%w: schema version %d, this build reads up to %d; upgrade cri-shim or move the root dir aside",
				ErrNewerSchema, v, SchemaVersion)
		}
		// Older versions would be migrated here; version 1 is the first.
		return nil
	})
}

type boltStore struct{ db *bolt.DB }

func (s *boltStore) View(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (s *boltStore) Update(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (s *boltStore) Close() error { return s.db.Close() }

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Get(bucket, key string) ([]byte, error) {
	if b := t.tx.Bucket([]byte(bucket)); b != nil {
		if v := b.Get([]byte(key)); v != nil {
			return append([]byte(nil), v...), nil
		}
	}
	return nil, fmt.Errorf("%s %q: %w", bucket, key, errdefs.ErrNotFound)
}

func (t boltTx) Put(bucket, key string, value []byte) error {
	b, err := t.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return b.Put([]byte(key), value)
}

func (t boltTx) Delete(bucket, key string) error {
	b := t.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.Delete([]byte(key))
}

func (t boltTx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	b := t.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

// GetJSON reads key from bucket into v.
func GetJSON(tx Tx, bucket, key string, v any) error {
	raw, err := tx.Get(bucket, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s %q: decode: %w", bucket, key, err)
	}
	return nil
}

// PutJSON stores v as JSON under key in bucket.
func PutJSON(tx Tx, bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s %q: encode: %w", bucket, key, err)
	}
	return tx.Put(bucket, key, raw)
}
