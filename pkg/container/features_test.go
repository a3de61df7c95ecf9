package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSearchable(t *testing.T) {
	open := t.TempDir()
	for _, d := range []string{open, filepath.Dir(open)} { // t.TempDir makes both 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(open, "state", "containers")
	if err := searchable(state); err != nil {
		t.Fatalf("under a 0755 dir: %v", err)
	}
	if fi, _ := os.Stat(state); fi.Mode().Perm() != 0o711 {
		t.Errorf("state dir mode %v, want 0711", fi.Mode().Perm())
	}
	closed := filepath.Join(open, "private")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := searchable(filepath.Join(closed, "state")); err == nil || !strings.Contains(err.Error(), closed) {
		t.Errorf("under a 0700 dir: %v, want an error naming %s", err, closed)
	}
}

func TestUserNamespacesProbe(t *testing.T) {
	e := newEnv(t)
	// The test's temporary dirs are 0700: containers in a user namespace
	// could not reach their rootfs, so the feature is off.
	if e.m.UserNamespaces() {
		t.Error("user namespaces reported under a 0700 state dir")
	}
	if err := os.Chmod(e.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(e.dir), 0o711); err != nil {
		t.Fatal(err)
	}
	if !e.manager().UserNamespaces() {
		t.Error("user namespaces not reported with a reachable state dir")
	}
}
