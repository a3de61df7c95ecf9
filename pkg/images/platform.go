package images

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/cpu"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Platform is what a multi-platform image is resolved for.
type Platform struct {
	OS           string // "linux"
	Architecture string // "amd64", "arm64"
	Variant      string // "v3" (amd64 microarchitecture level), "v8", "v7"; "" when none
}

// String writes os/arch[/variant].
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// HostPlatform is the platform this process runs on, with the amd64
// microarchitecture level the CPU supports.
func HostPlatform() Platform {
	p := Platform{OS: "linux", Architecture: runtime.GOARCH}
	switch p.Architecture {
	case "amd64":
		p.Variant = "v" + strconv.Itoa(amd64Level())
	case "arm64":
		p.Variant = "v8"
	}
	return p
}

// amd64Level is the x86-64 microarchitecture level (1..4) of this CPU.
func amd64Level() int {
	x := cpu.X86
	if !(x.HasPOPCNT && x.HasSSE3 && x.HasSSSE3 && x.HasSSE41 && x.HasSSE42) {
		return 1
	}
	if !(x.HasAVX && x.HasAVX2 && x.HasBMI1 && x.HasBMI2 && x.HasFMA && x.HasOSXSAVE) {
		return 2
	}
	if !(x.HasAVX512F && x.HasAVX512BW && x.HasAVX512CD && x.HasAVX512DQ && x.HasAVX512VL) {
		return 3
	}
	return 4
}

// normalizeArch folds the usual aliases: x86_64 is amd64, aarch64 is arm64.
func normalizeArch(arch, variant string) (string, string) {
	arch, variant = strings.ToLower(arch), strings.ToLower(variant)
	switch arch {
	case "x86_64", "x86-64":
		arch = "amd64"
	case "aarch64":
		arch = "arm64"
	}
	if arch == "arm64" && variant == "" {
		variant = "v8"
	}
	return arch, variant
}

// amd64Variant reads an amd64 variant as a level: "" and "v1" are 1.
func amd64Variant(v string) (int, bool) {
	if v == "" {
		return 1, true
	}
	n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
	if err != nil || !strings.HasPrefix(v, "v") || n < 1 {
		return 0, false
	}
	return n, true
}

// score rates how well a manifest for c runs on p: -1 not at all; higher is
// better. On amd64 the highest level the CPU supports wins; elsewhere an
// exact variant beats a manifest without one.
func (p Platform) score(c *ocispec.Platform) int {
	if c == nil || !strings.EqualFold(c.OS, p.OS) {
		return -1
	}
	wantArch, wantVariant := normalizeArch(p.Architecture, p.Variant)
	arch, variant := normalizeArch(c.Architecture, c.Variant)
	if arch != wantArch {
		return -1
	}
	if arch == "amd64" {
		want, ok := amd64Variant(wantVariant)
		if !ok {
			want = 1
		}
		got, ok := amd64Variant(variant)
		if !ok || got > want {
			return -1
		}
		return got
	}
	switch {
	case variant == wantVariant:
		return 2
	case variant == "" || wantVariant == "":
		return 1
	}
	return -1
}

// pick chooses the manifest for p among an index's manifests: the best
// score, the first listed among equals.
func (p Platform) pick(manifests []ocispec.Descriptor) (ocispec.Descriptor, error) {
	best, bestScore := -1, -1
	var seen []string
	for i, m := range manifests {
		if m.Platform != nil {
			seen = append(seen, Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}.String())
		}
		if sc := p.score(m.Platform); sc > bestScore {
			best, bestScore = i, sc
		}
	}
	if best < 0 {
		return ocispec.Descriptor{}, fmt.Errorf("no manifest for %s among %v: %w", p, seen, errdefs.ErrNotFound)
	}
	return manifests[best], nil
}
