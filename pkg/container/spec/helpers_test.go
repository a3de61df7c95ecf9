package spec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
default-user:x:1000:1000::/home/default-user:/bin/sh
`

const testGroup = `root:x:0:
wheel:x:10:root
www-data:x:33:
default-user:x:1000:default-user
group-defined-in-image:x:50000:default-user
staff:x:1004:www-data
`

// testHostCaps stands for the daemon's capabilities: everything but
// CAP_SYS_RESOURCE, like this machine.
var testHostCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}

// writeFiles creates files (path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeRootfs is a rootfs with the test passwd and group files.
func fakeRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup})
	return root
}

// newInput is a valid input for an unprivileged container in a pod with
// pinned namespaces and no pod files.
func newInput(t *testing.T) *Input {
	t.Helper()
	return &Input{
		ID:          "c1",
		Name:        "web",
		ImageName:   "registry.k8s.io/e2e-test-images/busybox:1.29-2",
		ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}},
		Rootfs:      fakeRootfs(t),
		CgroupsPath: "/kubepods/podu1/c1",
		Sandbox: Sandbox{
			ID: "pod1", Name: "pod", Namespace: "default", UID: "u1", Hostname: "pod-host",
			NetNS: NamespacePath{Path: "/var/run/netns/pod1"},
			IPCNS: NamespacePath{Path: "/run/cri-shim/ns/pod1/ipc"},
			UTSNS: NamespacePath{Path: "/run/cri-shim/ns/pod1/uts"},
			PIDNS: NamespacePath{Path: "/proc/4242/ns/pid"},
		},
		Host: Host{Capabilities: testHostCaps},
	}
}

// mustBuild builds the spec or fails the test.
func mustBuild(t *testing.T, in *Input) *specs.Spec {
	t.Helper()
	s, err := Build(context.Background(), in)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return s
}

// wantErr builds, expecting an error of kind whose message has every word.
func wantErr(t *testing.T, in *Input, kind error, words ...string) {
	t.Helper()
	s, err := Build(context.Background(), in)
	if err == nil {
		t.Fatalf("Build succeeded, want %v error; spec: %+v", kind, s)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	for _, w := range append([]string{`"` + in.Name + `"`}, words...) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

// findMount returns the mount at dst.
func findMount(s *specs.Spec, dst string) (specs.Mount, bool) {
	for _, m := range s.Mounts {
		if m.Destination == dst {
			return m, true
		}
	}
	return specs.Mount{}, false
}

// mountIndex is dst's position in the mounts, or -1.
func mountIndex(s *specs.Spec, dst string) int {
	return slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == dst })
}

// hasEnv reports whether kv is in the process env.
func hasEnv(s *specs.Spec, kv string) bool { return slices.Contains(s.Process.Env, kv) }

// i64 returns a pointer to v.
func i64(v int64) *int64 { return &v }
