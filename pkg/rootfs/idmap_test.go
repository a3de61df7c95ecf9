package rootfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// testMap maps IDs 0..65535 to 200000..265535.
var testMap = []IDMap{{ContainerID: 0, HostID: 200000, Size: 65536}}

func owner(t *testing.T, path string) (uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

func TestIDMappedOverlay(t *testing.T) {
	ns, err := NewUserNS(testMap, testMap)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	nsPath := "/proc/self/fd/" + itoa(int(ns.Fd()))
	for _, tc := range []struct {
		name     string
		n        int
		writable bool
	}{{"one layer read-only", 1, false}, {"three layers read-only", 3, false}, {"three layers writable", 3, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir, lower := layers(t, tc.n)
			if err := os.Chown(filepath.Join(lower[0], "shared"), 1000, 1001); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(dir, "target")
			o := Overlay{Lower: lower, IDMapUserNS: nsPath}
			if tc.writable {
				o.Upper, o.Work = filepath.Join(dir, "upper"), filepath.Join(dir, "work")
				for _, d := range []string{o.Upper, o.Work} {
					if err := os.Mkdir(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Chown(o.Upper, 200000, 200000); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := Mount(o, target); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := Unmount(target); err != nil {
					t.Error(err)
				}
			}()
			if u, g := owner(t, filepath.Join(target, "f0")); u != 200000 || g != 200000 {
				t.Errorf("f0 owned by %d:%d through the idmapped mount, want 200000:200000", u, g)
			}
			if u, g := owner(t, filepath.Join(target, "shared")); u != 201000 || g != 201001 {
				t.Errorf("shared owned by %d:%d, want 201000:201001", u, g)
			}
			if u, _ := owner(t, filepath.Join(lower[0], "f0")); u != 0 {
				t.Errorf("the layer itself changed owner to %d", u)
			}
			err := os.WriteFile(filepath.Join(target, "new"), []byte("x"), 0o644)
			if tc.writable != (err == nil) {
				t.Errorf("write: %v (writable %v)", err, tc.writable)
			}
		})
	}
}

func TestCheckIDMap(t *testing.T) {
	if err := CheckIDMap(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return fmtInt(n) }
