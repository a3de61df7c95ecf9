package images

import (
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func TestParseReference(t *testing.T) {
	const dgst = "sha256:9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf"
	for in, want := range map[string]string{
		"busybox":                           "docker.io/library/busybox:latest",
		"busybox:1.36":                      "docker.io/library/busybox:1.36",
		"library/busybox":                   "docker.io/library/busybox:latest",
		"docker.io/busybox":                 "docker.io/library/busybox:latest",
		"index.docker.io/library/busybox:1": "docker.io/library/busybox:1",
		"bitnami/redis:7":                   "docker.io/bitnami/redis:7",
		"registry.k8s.io/pause:3.9":         "registry.k8s.io/pause:3.9",
		"registry.k8s.io/e2e-test-images/busybox:1.29-2": "registry.k8s.io/e2e-test-images/busybox:1.29-2",
		"localhost/app":         "localhost/app:latest",
		"localhost:5000/app:v1": "localhost:5000/app:v1",
		"127.0.0.1:5000/a/b/c":  "127.0.0.1:5000/a/b/c:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-digest@" + dgst: "gcr.io/k8s-staging-cri-tools/test-image-digest@" + dgst,
		"busybox@" + dgst:      "docker.io/library/busybox@" + dgst,
		"busybox:1.36@" + dgst: "docker.io/library/busybox@" + dgst,
	} {
		got, err := ParseReference(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseReference(%q) = %q, %v; want %q", in, got.String(), err, want)
		}
	}
	for _, bad := range []string{
		"", "Busybox", "busybox:", "busybox@sha256:short", "busybox@md5:abcd",
		"sha256:9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf",
		"9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf",
		"a b", "busybox:tag with space",
		"..", ".", "a/../b", "registry.example/../../v2/x", "library/..:latest", "a..b", "a/./b", "-a", "a-",
	} {
		if r, err := ParseReference(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseReference(%q) = %v, %v; want invalid argument", bad, r, err)
		}
	}
}

func TestPlatformPick(t *testing.T) {
	ms := []ocispec.Descriptor{
		{Digest: "a", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{Digest: "b", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}},
		{Digest: "c", Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{Digest: "d", Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}},
		{Digest: "e", Platform: &ocispec.Platform{OS: "windows", Architecture: "amd64"}},
		{Digest: "f", Platform: &ocispec.Platform{OS: "unknown", Architecture: "unknown"}},
		{Digest: "g"},
	}
	for _, tc := range []struct {
		p    Platform
		want string
	}{
		{Platform{"linux", "amd64", "v3"}, "d"},
		{Platform{"linux", "amd64", "v4"}, "d"},
		{Platform{"linux", "amd64", "v2"}, "c"},
		{Platform{"linux", "amd64", ""}, "c"},
		{Platform{"linux", "x86_64", "v3"}, "d"},
		{Platform{"linux", "arm64", "v8"}, "b"},
		{Platform{"linux", "aarch64", ""}, "b"},
		{Platform{"linux", "arm", "v7"}, "a"},
		{Platform{"windows", "amd64", ""}, "e"},
	} {
		got, err := tc.p.pick(ms)
		if err != nil || string(got.Digest) != tc.want {
			t.Errorf("%s: picked %s %v, want %s", tc.p, got.Digest, err, tc.want)
		}
	}
	if _, err := (Platform{"linux", "s390x", ""}).pick(ms); !errdefs.IsNotFound(err) {
		t.Errorf("no match: %v", err)
	}
	if hp := HostPlatform(); hp.OS != "linux" || hp.Architecture == "" {
		t.Errorf("host platform %v", hp)
	}
}
