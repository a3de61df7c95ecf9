package images

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func TestRemoveByTagIDAndDigest(t *testing.T) {
	reg := newTestRegistry(t)
	img := simpleImage(t, "rm")
	for _, tag := range []string{"1", "2", "3"} {
		reg.push(t, "tags", tag, img)
	}
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()
	pullAll := func() {
		for _, tag := range []string{"1", "2", "3"} {
			if _, err := e.svc.Pull(ctx, reg.Host+"/tags:"+tag, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, by := range []string{reg.Host + "/tags:2", img.id(), reg.Host + "/tags@" + img.manifestDigest().String(), img.id()[7:19]} {
		pullAll()
		st, err := e.svc.Status(ctx, img.id())
		if err != nil || len(st.RepoTags) != 3 {
			t.Fatalf("status %+v %v", st, err)
		}
		if err := e.svc.Remove(ctx, by); err != nil {
			t.Fatalf("remove by %s: %v", by, err)
		}
		for _, r := range []string{img.id(), reg.Host + "/tags:1", reg.Host + "/tags:3", reg.Host + "/tags@" + img.manifestDigest().String()} {
			if _, err := e.svc.Status(ctx, r); !errdefs.IsNotFound(err) {
				t.Errorf("after remove by %s, status %s: %v", by, r, err)
			}
		}
		if err := e.svc.Remove(ctx, by); err != nil {
			t.Errorf("second remove by %s: %v", by, err)
		}
	}
	if _, err := e.svc.GC(ctx); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, e)
}

func TestConcurrentRemoves(t *testing.T) {
	reg := newTestRegistry(t)
	img := simpleImage(t, "many")
	reg.push(t, "app", "v1", img)
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()
	if _, err := e.svc.Pull(ctx, reg.Host+"/app:v1", nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if err := e.svc.Remove(ctx, img.id()); err != nil {
				t.Error(err)
			}
			if _, err := e.svc.Status(ctx, img.id()); !errdefs.IsNotFound(err) {
				t.Errorf("status after remove: %v", err)
			}
		})
	}
	wg.Wait()
}

func TestTagMoves(t *testing.T) {
	reg := newTestRegistry(t)
	old, next := simpleImage(t, "old"), simpleImage(t, "new")
	reg.push(t, "app", "latest", old)
	reg.push(t, "app", "stable", old)
	reg.push(t, "lonely", "latest", old)
	e := newEnv(t, insecure(reg.Host))
	ctx := context.Background()
	for _, r := range []string{"app:latest", "app:stable"} {
		if _, err := e.svc.Pull(ctx, reg.Host+"/"+r, nil); err != nil {
			t.Fatal(err)
		}
	}
	reg.push(t, "app", "latest", next)
	id, err := e.svc.Pull(ctx, reg.Host+"/app:latest", nil)
	if err != nil || id != next.id() {
		t.Fatalf("pull of the moved tag: %s %v", id, err)
	}
	st, err := e.svc.Status(ctx, old.id())
	if err != nil || !slices.Equal(st.RepoTags, []string{reg.Host + "/app:stable"}) {
		t.Fatalf("old image keeps its other tag: %+v %v", st, err)
	}
	reg.push(t, "app", "stable", next)
	if _, err := e.svc.Pull(ctx, reg.Host+"/app:stable", nil); err != nil {
		t.Fatal(err)
	}
	st, err = e.svc.Status(ctx, old.id())
	if err != nil || len(st.RepoTags) != 0 || len(st.RepoDigests) != 1 {
		t.Fatalf("old image left untagged with its digest: %+v %v", st, err)
	}
	st, _ = e.svc.Status(ctx, reg.Host+"/app:latest")
	if st.ID != next.id() || len(st.RepoTags) != 2 {
		t.Fatalf("new image: %+v", st)
	}
}

func TestParseUser(t *testing.T) {
	for _, tc := range []struct {
		user string
		uid  int64
		name string
	}{{"", -1, ""}, {"1002", 1002, ""}, {"www-data", -1, "www-data"}, {"1003:1004", 1003, ""}, {"www-data:1004", -1, "www-data"}, {"0", 0, ""}} {
		uid, name := parseUser(tc.user)
		got := int64(-1)
		if uid != nil {
			got = *uid
		}
		if got != tc.uid || name != tc.name {
			t.Errorf("%q: uid %d name %q", tc.user, got, name)
		}
	}
}
