package images

import (
	"archive/tar"
	"testing"

	"github.com/cri-shim/cri-shim/internal/hostiletar"
)

// fuzzCanary is an absolute path hostile seeds try to write; it must never
// appear.
const fuzzCanary = "/tmp/cri-shim-fuzz-canary"

// Limits the fuzz target and the hostile-archive tests extract under.
var fuzzLimits = layerLimits{MaxBytes: 1 << 20, MaxEntries: 256}

func hdr(name string, typ byte, mods ...func(*tar.Header)) tarEntry {
	h := tar.Header{Name: name, Typeflag: typ, Mode: 0o644}
	if typ == tar.TypeDir {
		h.Mode = 0o755
	}
	for _, m := range mods {
		m(&h)
	}
	return tarEntry{hdr: h}
}

func linkTo(target string) func(*tar.Header) { return func(h *tar.Header) { h.Linkname = target } }

// hostileArchive is a layer built to break out of the layer directory or
// past the limits; want is "" if it must extract (contained), else the
// error kind ("invalid", "exhausted") it must be refused with, or "any".
type hostileArchive struct {
	name string
	data []byte
	want string
}

// hostileArchives are internal/hostiletar's archives, under fuzzLimits.
func hostileArchives(t testing.TB) []hostileArchive {
	list, err := hostiletar.Archives(fuzzCanary, fuzzLimits.MaxBytes, int(fuzzLimits.MaxEntries))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]hostileArchive, 0, len(list))
	for _, a := range list {
		out = append(out, hostileArchive{a.Name, a.Data, a.Want})
	}
	return out
}
