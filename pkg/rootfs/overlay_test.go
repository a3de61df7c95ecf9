package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func layers(t *testing.T, n int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	var lower []string
	// Layer i has file i and "shared" saying i; the topmost layer (index 0 in Lower) wins.
	for i := n - 1; i >= 0; i-- {
		l := filepath.Join(dir, fmt.Sprintf("layer-with-a-long-name-to-test-the-option-size-limit-%03d", i))
		if err := os.MkdirAll(l, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l, fmt.Sprintf("f%d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l, "shared"), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		lower = append([]string{l}, lower...)
	}
	return dir, lower
}

func TestOverlayWritable(t *testing.T) {
	// 80 long lower dirs exceed what mount(2) options can carry.
	dir, lower := layers(t, 80)
	target := filepath.Join(dir, "rootfs")
	for _, d := range []string{target, filepath.Join(dir, "upper"), filepath.Join(dir, "work")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := Mount(Overlay{Lower: lower, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}, target); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := Unmount(target); err != nil {
			t.Error(err)
		}
		if m, _ := mountinfo.Mounted(target); m {
			t.Error("still mounted")
		}
	}()
	if b, _ := os.ReadFile(filepath.Join(target, "shared")); string(b) != "0" {
		t.Errorf("shared = %q, want the topmost layer's 0", b)
	}
	if _, err := os.Stat(filepath.Join(target, "f79")); err != nil {
		t.Errorf("bottom layer not visible: %v", err)
	}
	if err := os.WriteFile(filepath.Join(target, "new"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "upper", "new")); err != nil {
		t.Errorf("write did not land in the upper dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(lower[0], "new")); err == nil {
		t.Error("write reached a lower dir")
	}
}

func TestOverlayReadOnly(t *testing.T) {
	for _, n := range []int{1, 3} {
		dir, lower := layers(t, n)
		target := filepath.Join(dir, "ro")
		if err := os.MkdirAll(target, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := Mount(Overlay{Lower: lower}, target); err != nil {
			t.Fatal(err)
		}
		err := os.WriteFile(filepath.Join(target, "new"), nil, 0o644)
		if uerr := Unmount(target); uerr != nil {
			t.Error(uerr)
		}
		if err == nil {
			t.Errorf("%d layers: read-only overlay accepted a write", n)
		}
	}
	if err := Unmount(filepath.Join(t.TempDir(), "never-mounted")); err != nil {
		t.Errorf("unmount of a plain dir: %v", err)
	}
}
