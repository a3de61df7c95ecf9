package images

import (
	"archive/tar"
	"strings"
	"testing"
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
// error kind ("invalid", "exhausted") it must be refused with.
type hostileArchive struct {
	name string
	data []byte
	want string
}

func hostileArchives(t testing.TB) []hostileArchive {
	many := make([]tarEntry, 0, 300)
	for i := range 300 {
		many = append(many, file("f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)), "x"))
	}
	bomb := makeTar(t, tarEntry{hdr: tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8 << 20}, body: string(make([]byte, 8<<20))})
	xattr := file("xattr", "x")
	xattr.hdr.PAXRecords = map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/etc", "SCHILY.xattr.user.ok": "1"}
	xattr.hdr.Format = tar.FormatPAX
	return []hostileArchive{
		{"dotdot", makeTar(t, file("../escaped", "x")), "invalid"},
		{"dotdot-deep", makeTar(t, dir("a/"), file("a/../../../escaped", "x")), "invalid"},
		{"dotdot-outside-sibling", makeTar(t, file("../outside/secret", "overwritten")), "invalid"},
		{"absolute", makeTar(t, file(fuzzCanary, "x")), ""},
		{"symlink-root-then-write", makeTar(t, hdr("root", tar.TypeSymlink, linkTo("/")), file("root"+fuzzCanary, "x")), ""},
		{"symlink-up-then-write", makeTar(t, hdr("up", tar.TypeSymlink, linkTo("../..")), file("up/outside/secret", "overwritten")), ""},
		{"symlink-outside-then-write", makeTar(t, hdr("out", tar.TypeSymlink, linkTo("../outside")), file("out/secret", "overwritten"), file("out/new", "x")), ""},
		{"symlink-then-dir-through", makeTar(t, hdr("out", tar.TypeSymlink, linkTo("../outside")), dir("out/sub/"), file("out/sub/f", "x")), ""},
		{"dir-replaced-by-symlink", makeTar(t, dir("d/"), hdr("d", tar.TypeSymlink, linkTo("../outside")), file("d/secret", "overwritten")), ""},
		{"file-over-symlink", makeTar(t, hdr("s", tar.TypeSymlink, linkTo("../outside/secret")), file("s", "overwritten")), ""},
		{"hardlink-dotdot", makeTar(t, hdr("h", tar.TypeLink, linkTo("../outside/secret"))), "invalid"},
		{"hardlink-absolute", makeTar(t, hdr("h", tar.TypeLink, linkTo(fuzzCanary))), "any"},
		{"hardlink-through-symlink", makeTar(t, hdr("out", tar.TypeSymlink, linkTo("../outside")), hdr("h", tar.TypeLink, linkTo("out/secret"))), "any"},
		{"hardlink-to-symlink", makeTar(t, hdr("s", tar.TypeSymlink, linkTo("../outside/secret")), hdr("h", tar.TypeLink, linkTo("s")), file("h", "overwritten")), ""},
		{"whiteout-dotdot", makeTar(t, dir("a/"), file("a/.wh...", "")), "invalid"},
		{"whiteout-self", makeTar(t, dir("a/"), file("a/.wh..", "")), "invalid"},
		{"whiteout-through-symlink", makeTar(t, hdr("out", tar.TypeSymlink, linkTo("../outside")), file("out/.wh.secret", "")), ""},
		{"whiteout-up", makeTar(t, file(".wh...", "")), "invalid"},
		{"opaque-through-symlink", makeTar(t, hdr("out", tar.TypeSymlink, linkTo("../outside")), file("out/.wh..wh..opq", "")), ""},
		{"char-device", makeTar(t, hdr("null", tar.TypeChar, func(h *tar.Header) { h.Devmajor, h.Devminor = 1, 3 })), "invalid"},
		{"char-device-0-0", makeTar(t, hdr("fake-whiteout", tar.TypeChar)), "invalid"},
		{"block-device", makeTar(t, hdr("sda", tar.TypeBlock, func(h *tar.Header) { h.Devmajor = 8 })), "invalid"},
		{"fifo", makeTar(t, hdr("pipe", tar.TypeFifo)), "invalid"},
		{"entry-flood", gzipBytes(t, makeTar(t, many...)), "exhausted"},
		{"decompression-bomb", gzipBytes(t, bomb), "exhausted"},
		{"trusted-xattr", makeTar(t, xattr), ""},
		{"truncated", makeTar(t, file("big", strings.Repeat("y", 4096)))[:1024], "invalid"},
		{"garbage", []byte("this is not a tar archive at all, just some text of a few hundred bytes" + strings.Repeat(".", 600)), "invalid"},
	}
}
