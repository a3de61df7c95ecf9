package podns

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// threadNamespaces returns the set of namespaces of kind the process's
// threads are in.
func threadNamespaces(t *testing.T, kind Kind) map[string]bool {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, task := range tasks {
		if l, err := os.Readlink(filepath.Join("/proc/self/task", task.Name(), "ns", string(kind))); err == nil {
			out[l] = true
		}
	}
	return out
}

func TestCreateDoUnpin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	pins := map[Kind]string{Net: filepath.Join(dir, "net"), IPC: filepath.Join(dir, "ipc"), UTS: filepath.Join(dir, "uts")}
	before := map[Kind]map[string]bool{}
	for _, k := range Kinds {
		before[k] = threadNamespaces(t, k)
	}
	if err := Create(pins, func() error { return unix.Sethostname([]byte("podns-test")) }); err != nil {
		t.Fatal(err)
	}
	for k, p := range pins {
		if !Pinned(k, p) {
			t.Errorf("%s not pinned", k)
		}
		if Pinned(Net, p) != (k == Net) {
			t.Errorf("%s pin reported as net", k)
		}
	}
	var name string
	var uts unix.Utsname
	if err := Do(map[Kind]string{UTS: pins[UTS]}, func() error {
		err := unix.Uname(&uts)
		name = unix.ByteSliceToString(uts.Nodename[:])
		return err
	}); err != nil || name != "podns-test" {
		t.Errorf("hostname inside: %q %v", name, err)
	}
	// No thread of the process stays in the pod's namespaces.
	for _, k := range Kinds {
		for ns := range threadNamespaces(t, k) {
			if !before[k][ns] {
				t.Errorf("a thread is left in %s namespace %s", k, ns)
			}
		}
	}
	for _, p := range pins {
		if err := Unpin(p); err != nil {
			t.Error(err)
		}
		if err := Unpin(p); err != nil {
			t.Errorf("second unpin: %v", err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("pins left: %v", ents)
	}
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	pins := map[Kind]string{Net: filepath.Join(dir, "net"), UTS: filepath.Join(dir, "uts")}
	if err := Create(pins, func() error { return unix.EPERM }); err == nil {
		t.Fatal("setup error not returned")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("pins left after a failed setup: %v", ents)
	}
	// A pin path that exists already is refused.
	if err := os.WriteFile(pins[Net], nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Create(pins, nil); err == nil {
		t.Fatal("existing pin path accepted")
	}
	if _, err := os.Stat(pins[UTS]); !os.IsNotExist(err) {
		t.Errorf("uts pin left: %v", err)
	}
}
