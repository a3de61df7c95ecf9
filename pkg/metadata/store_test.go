package metadata

import (
	"context"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func TestRoundTripAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ Name string }
	if err := s.Update(ctx, func(tx Tx) error { return PutJSON(tx, "pods", "a", rec{"alpha"}) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got rec
	if err := s.View(ctx, func(tx Tx) error { return GetJSON(tx, "pods", "a", &got) }); err != nil {
		t.Fatal(err)
	}
	if got.Name != "alpha" {
		t.Fatalf("got %q", got.Name)
	}
	err = s.View(ctx, func(tx Tx) error { _, err := tx.Get("pods", "missing"); return err })
	if !errdefs.IsNotFound(err) {
		t.Fatalf("missing key: %v, want not found", err)
	}
	err = s.View(ctx, func(tx Tx) error { _, err := tx.Get("nobucket", "x"); return err })
	if !errdefs.IsNotFound(err) {
		t.Fatalf("missing bucket: %v, want not found", err)
	}
	n := 0
	if err := s.Update(ctx, func(tx Tx) error {
		if err := tx.Delete("pods", "a"); err != nil {
			return err
		}
		if err := tx.Delete("pods", "a"); err != nil { // idempotent
			return err
		}
		return tx.ForEach("pods", func(string, []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d keys left after delete", n)
	}
}

func TestFailedUpdateRollsBack(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	boom := errors.New("boom")
	err = s.Update(ctx, func(tx Tx) error {
		if err := tx.Put("b", "k", []byte("v")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	err = s.View(ctx, func(tx Tx) error { _, err := tx.Get("b", "k"); return err })
	if !errdefs.IsNotFound(err) {
		t.Fatalf("write of a failed update is visible: %v", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(dir+"/"+FileName, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(schemaBucket)).Put([]byte(versionKey), []byte("99"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(dir); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("open of newer schema: %v, want ErrNewerSchema", err)
	}
	// The file must not have been rewritten.
	db, err = bolt.Open(dir+"/"+FileName, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket([]byte(schemaBucket)).Get([]byte(versionKey))); v != "99" {
			t.Errorf("schema rewritten to %q", v)
		}
		return nil
	})
}
