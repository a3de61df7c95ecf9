package spec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// podFiles creates the pod's hosts, hostname, resolv.conf and shm and
// points the input's sandbox at them.
func podFiles(t *testing.T, in *Input) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"hosts": "", "hostname": "", "resolv.conf": ""})
	if err := os.Mkdir(filepath.Join(dir, "shm"), 0o755); err != nil {
		t.Fatal(err)
	}
	in.Sandbox.HostsPath = filepath.Join(dir, "hosts")
	in.Sandbox.HostnamePath = filepath.Join(dir, "hostname")
	in.Sandbox.ResolvConfPath = filepath.Join(dir, "resolv.conf")
	in.Sandbox.ShmPath = filepath.Join(dir, "shm")
}

func TestDefaultMounts(t *testing.T) {
	in := newInput(t)
	s := mustBuild(t, in)
	for dst, typ := range map[string]string{
		"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/mqueue": "mqueue",
		"/sys": "sysfs", "/sys/fs/cgroup": "cgroup", "/dev/shm": "tmpfs",
	} {
		m, ok := findMount(s, dst)
		if !ok || m.Type != typ {
			t.Errorf("mount %s = %+v (found %v), want type %s", dst, m, ok, typ)
		}
	}
	if m, _ := findMount(s, "/sys/fs/cgroup"); !slices.Contains(m.Options, "ro") {
		t.Errorf("cgroup mount not read-only: %v", m.Options)
	}
	if m, _ := findMount(s, "/sys"); !slices.Contains(m.Options, "ro") {
		t.Errorf("sysfs not read-only: %v", m.Options)
	}
}

func TestSandboxMounts(t *testing.T) {
	in := newInput(t)
	podFiles(t, in)
	s := mustBuild(t, in)
	for dst, src := range map[string]string{
		"/etc/hosts": in.Sandbox.HostsPath, "/etc/hostname": in.Sandbox.HostnamePath,
		"/etc/resolv.conf": in.Sandbox.ResolvConfPath, "/dev/shm": in.Sandbox.ShmPath,
	} {
		m, ok := findMount(s, dst)
		if !ok || m.Source != src || m.Type != "bind" || !slices.Equal(m.Options, []string{"rbind", "rprivate", "rw"}) {
			t.Errorf("mount %s = %+v, want rw bind of %s", dst, m, src)
		}
	}
	if mountIndex(s, "/dev/shm") < mountIndex(s, "/dev") {
		t.Error("/dev/shm comes before /dev")
	}

	in.Security.ReadonlyRootfs = true
	s = mustBuild(t, in)
	for _, dst := range []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"} {
		if m, _ := findMount(s, dst); !slices.Contains(m.Options, "ro") {
			t.Errorf("%s not read-only with a read-only rootfs: %v", dst, m.Options)
		}
	}
	if !s.Root.Readonly {
		t.Error("rootfs not read-only")
	}
}

func TestRequestOverridesSandboxMount(t *testing.T) {
	in := newInput(t)
	podFiles(t, in)
	mine := filepath.Join(t.TempDir(), "hosts")
	writeFiles(t, filepath.Dir(mine), map[string]string{"hosts": "127.0.0.1 me\n"})
	in.Mounts = []Mount{{ContainerPath: "/etc/hosts", HostPath: mine, Readonly: true}}
	s := mustBuild(t, in)
	n := 0
	for _, m := range s.Mounts {
		if m.Destination == "/etc/hosts" {
			n++
			if m.Source != mine || !slices.Contains(m.Options, "ro") {
				t.Errorf("/etc/hosts = %+v, want the request's read-only mount", m)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d mounts at /etc/hosts", n)
	}
}

func TestHostIPCShm(t *testing.T) {
	in := newInput(t)
	podFiles(t, in)
	in.Security.Namespaces.IPC = NamespaceNode
	if m, _ := findMount(mustBuild(t, in), "/dev/shm"); m.Source != "/dev/shm" || m.Type != "bind" {
		t.Errorf("/dev/shm = %+v, want the host's", m)
	}
}

func TestRequestMounts(t *testing.T) {
	host := t.TempDir()
	for _, d := range []string{"data", "data/sub", "logs", "real"} {
		if err := os.MkdirAll(filepath.Join(host, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(host, "link")
	if err := os.Symlink(filepath.Join(host, "real"), link); err != nil {
		t.Fatal(err)
	}
	in := newInput(t)
	in.Mounts = []Mount{
		{ContainerPath: "/mnt/data/sub", HostPath: filepath.Join(host, "data/sub")},
		{ContainerPath: "/mnt/data", HostPath: filepath.Join(host, "data"), Readonly: true},
		{ContainerPath: "/logs", HostPath: filepath.Join(host, "logs"), Readonly: true, RecursiveReadOnly: true},
		{ContainerPath: "/linked/", HostPath: link},
	}
	s := mustBuild(t, in)
	if mountIndex(s, "/mnt/data") > mountIndex(s, "/mnt/data/sub") {
		t.Error("child mount /mnt/data/sub comes before its parent")
	}
	for dst, want := range map[string][]string{
		"/mnt/data":     {"rbind", "rprivate", "ro"},
		"/mnt/data/sub": {"rbind", "rprivate", "rw"},
		"/logs":         {"rbind", "rprivate", "rro"},
		"/linked":       {"rbind", "rprivate", "rw"},
	} {
		if m, ok := findMount(s, dst); !ok || !slices.Equal(m.Options, want) {
			t.Errorf("mount %s = %+v, want options %v", dst, m, want)
		}
	}
	if m, _ := findMount(s, "/linked"); m.Source != filepath.Join(host, "real") {
		t.Errorf("symlinked host path not resolved: %q", m.Source)
	}
	if s.Linux.RootfsPropagation != "" {
		t.Errorf("rootfs propagation %q for private mounts", s.Linux.RootfsPropagation)
	}
}

func TestRequestMountOverridesDev(t *testing.T) {
	in := newInput(t)
	in.Mounts = []Mount{{ContainerPath: "/dev", HostPath: t.TempDir()}}
	s := mustBuild(t, in)
	for _, m := range s.Mounts {
		if strings.HasPrefix(m.Destination, "/dev/") {
			t.Errorf("default %s kept although /dev is mounted by the request", m.Destination)
		}
	}
	if m, _ := findMount(s, "/dev"); m.Type != "bind" {
		t.Errorf("/dev = %+v", m)
	}
}

func TestMountErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name  string
		m     Mount
		kind  error
		words []string
	}{
		{"missing host path", Mount{ContainerPath: "/data", HostPath: missing}, errdefs.ErrNotFound, []string{missing}},
		{"relative host path", Mount{ContainerPath: "/data", HostPath: "data"}, errdefs.ErrInvalidArgument, []string{`"data"`}},
		{"relative container path", Mount{ContainerPath: "data", HostPath: dir}, errdefs.ErrInvalidArgument, []string{`"data"`}},
		{"rro needs ro", Mount{ContainerPath: "/data", HostPath: dir, RecursiveReadOnly: true}, errdefs.ErrInvalidArgument, []string{dir}},
		{"rro needs private", Mount{ContainerPath: "/data", HostPath: dir, Readonly: true, RecursiveReadOnly: true, Propagation: PropagationHostToContainer}, errdefs.ErrInvalidArgument, []string{"private"}},
		{"unknown propagation", Mount{ContainerPath: "/data", HostPath: dir, Propagation: 9}, errdefs.ErrInvalidArgument, []string{"/data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.Mounts = []Mount{tc.m}
			wantErr(t, in, tc.kind, tc.words...)
		})
	}
	in := newInput(t)
	in.Sandbox.HostsPath = missing
	wantErr(t, in, errdefs.ErrNotFound, missing)
}

// fakeLookup makes lookupMount report every path on a mount with optional fields opt.
func fakeLookup(t *testing.T, opt string, err error) {
	t.Helper()
	old := lookupMount
	lookupMount = func(string) (mount.Info, error) {
		return mount.Info{Mountpoint: "/fake", Optional: opt}, err
	}
	t.Cleanup(func() { lookupMount = old })
}

func TestPropagation(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		props    []Propagation
		optional string
		rootfs   string
		opt      string
		errWords []string
	}{
		{name: "bidirectional on shared", props: []Propagation{PropagationBidirectional}, optional: "shared:5", rootfs: "rshared", opt: "rshared"},
		{name: "host-to-container on slave", props: []Propagation{PropagationHostToContainer}, optional: "master:3", rootfs: "rslave", opt: "rslave"},
		{name: "host-to-container on shared", props: []Propagation{PropagationHostToContainer}, optional: "shared:1 master:3", rootfs: "rslave", opt: "rslave"},
		{name: "rshared wins over rslave", props: []Propagation{PropagationBidirectional, PropagationHostToContainer}, optional: "shared:5", rootfs: "rshared"},
		{name: "rslave then rshared", props: []Propagation{PropagationHostToContainer, PropagationBidirectional}, optional: "shared:5", rootfs: "rshared"},
		{name: "bidirectional on private", props: []Propagation{PropagationBidirectional}, optional: "", errWords: []string{"/fake", "not shared"}},
		{name: "bidirectional on slave", props: []Propagation{PropagationBidirectional}, optional: "master:2", errWords: []string{"not shared"}},
		{name: "host-to-container on private", props: []Propagation{PropagationHostToContainer}, optional: "", errWords: []string{"not shared or slave"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeLookup(t, tc.optional, nil)
			in := newInput(t)
			for i, p := range tc.props {
				in.Mounts = append(in.Mounts, Mount{ContainerPath: "/m" + string(rune('a'+i)), HostPath: dir, Propagation: p})
			}
			if tc.errWords != nil {
				wantErr(t, in, errdefs.ErrFailedPrecondition, tc.errWords...)
				return
			}
			s := mustBuild(t, in)
			if s.Linux.RootfsPropagation != tc.rootfs {
				t.Errorf("rootfs propagation %q, want %q", s.Linux.RootfsPropagation, tc.rootfs)
			}
			if m, _ := findMount(s, "/ma"); tc.opt != "" && !slices.Contains(m.Options, tc.opt) {
				t.Errorf("options %v lack %s", m.Options, tc.opt)
			}
		})
	}
}

func TestPropagationLookupError(t *testing.T) {
	fakeLookup(t, "", errors.New("no mountinfo"))
	in := newInput(t)
	in.Mounts = []Mount{{ContainerPath: "/m", HostPath: t.TempDir(), Propagation: PropagationBidirectional}}
	if err := func() error { _, err := Build(t.Context(), in); return err }(); err == nil || !strings.Contains(err.Error(), "no mountinfo") {
		t.Errorf("error %v, want the lookup failure", err)
	}
}
