// Package hostiletar builds hostile image layer archives: tar streams that
// try to write outside the directory they are extracted into (path
// traversal, symlink and hard-link escapes, whiteouts reaching out), to
// create device nodes, or to exceed the size and entry limits of an
// extraction. The image store's unit tests and fuzz corpus and the
// integration tests that pull hostile images through the daemon share them.
package hostiletar

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"time"
)

// Entry is one member of an archive: its header and, for regular files,
// its body (the header's size is set from it when zero).
type Entry struct {
	Hdr  tar.Header
	Body string
}

// File is a regular file entry of mode 0644.
func File(name, body string) Entry {
	return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, Body: body}
}

// Dir is a directory entry of mode 0755.
func Dir(name string) Entry {
	return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

// Hdr is an entry of type typ (mode 0644, 0755 for a directory) changed by mods.
func Hdr(name string, typ byte, mods ...func(*tar.Header)) Entry {
	h := tar.Header{Name: name, Typeflag: typ, Mode: 0o644}
	if typ == tar.TypeDir {
		h.Mode = 0o755
	}
	for _, m := range mods {
		m(&h)
	}
	return Entry{Hdr: h}
}

// LinkTo sets a symlink's or hard link's target.
func LinkTo(target string) func(*tar.Header) {
	return func(h *tar.Header) { h.Linkname = target }
}

// Tar writes entries as an uncompressed tar stream (entries without a
// modification time get a fixed one, so archives are reproducible).
func Tar(entries ...Entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Hdr
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 0)
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("hostiletar: header %q: %w", h.Name, err)
		}
		if e.Body != "" {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				return nil, fmt.Errorf("hostiletar: body of %q: %w", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("hostiletar: %w", err)
	}
	return buf.Bytes(), nil
}

// Gzip compresses b (fastest level).
func Gzip(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("hostiletar: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("hostiletar: gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// Outcomes an extraction of an Archive must have.
const (
	// Contained: the archive extracts, and nothing lands outside the layer.
	Contained = ""
	// Invalid: refused as an invalid argument.
	Invalid = "invalid"
	// Exhausted: refused as past the size or entry limit.
	Exhausted = "exhausted"
	// Any: refused or contained, either is safe.
	Any = "any"
)

// Archive is a hostile layer and the outcome its extraction must have.
type Archive struct {
	Name string
	Data []byte // a tar stream, gzip-compressed when it starts with gzip's magic
	Want string // Contained, Invalid, Exhausted or Any
}

// Archives returns the hostile layers. canary is an absolute path that
// some of them try to write (it must never appear); the layer directory
// is assumed to have a sibling "outside" holding a file "secret" that some
// try to overwrite. The decompression bomb expands to 8*maxBytes bytes and
// the entry flood holds maxEntries+44 entries, past an extraction's limits.
func Archives(canary string, maxBytes int64, maxEntries int) ([]Archive, error) {
	var err error
	tarOf := func(entries ...Entry) []byte {
		if err != nil {
			return nil
		}
		var b []byte
		b, err = Tar(entries...)
		return b
	}
	gz := func(b []byte) []byte {
		if err != nil {
			return nil
		}
		var z []byte
		z, err = Gzip(b)
		return z
	}
	many := make([]Entry, 0, maxEntries+44)
	for i := range maxEntries + 44 {
		many = append(many, File("f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26%26)), "x"))
		if i >= 26*26 {
			many[i].Hdr.Name += fmt.Sprint(i)
		}
	}
	bombSize := 8 * maxBytes
	bomb := tarOf(Entry{Hdr: tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: bombSize}, Body: string(make([]byte, bombSize))})
	xattr := File("xattr", "x")
	xattr.Hdr.PAXRecords = map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/etc", "SCHILY.xattr.user.ok": "1"}
	xattr.Hdr.Format = tar.FormatPAX
	truncated := tarOf(File("big", strings.Repeat("y", 4096)))
	if len(truncated) > 1024 {
		truncated = truncated[:1024]
	}
	out := []Archive{
		{"dotdot", tarOf(File("../escaped", "x")), Invalid},
		{"dotdot-deep", tarOf(Dir("a/"), File("a/../../../escaped", "x")), Invalid},
		{"dotdot-outside-sibling", tarOf(File("../outside/secret", "overwritten")), Invalid},
		{"absolute", tarOf(File(canary, "x")), Contained},
		{"symlink-root-then-write", tarOf(Hdr("root", tar.TypeSymlink, LinkTo("/")), File("root"+canary, "x")), Contained},
		{"symlink-up-then-write", tarOf(Hdr("up", tar.TypeSymlink, LinkTo("../..")), File("up/outside/secret", "overwritten")), Contained},
		{"symlink-outside-then-write", tarOf(Hdr("out", tar.TypeSymlink, LinkTo("../outside")), File("out/secret", "overwritten"), File("out/new", "x")), Contained},
		{"symlink-then-dir-through", tarOf(Hdr("out", tar.TypeSymlink, LinkTo("../outside")), Dir("out/sub/"), File("out/sub/f", "x")), Contained},
		{"dir-replaced-by-symlink", tarOf(Dir("d/"), Hdr("d", tar.TypeSymlink, LinkTo("../outside")), File("d/secret", "overwritten")), Contained},
		{"file-over-symlink", tarOf(Hdr("s", tar.TypeSymlink, LinkTo("../outside/secret")), File("s", "overwritten")), Contained},
		{"hardlink-dotdot", tarOf(Hdr("h", tar.TypeLink, LinkTo("../outside/secret"))), Invalid},
		{"hardlink-absolute", tarOf(Hdr("h", tar.TypeLink, LinkTo(canary))), Invalid},
		{"hardlink-through-symlink", tarOf(Hdr("out", tar.TypeSymlink, LinkTo("../outside")), Hdr("h", tar.TypeLink, LinkTo("out/secret"))), Invalid},
		{"hardlink-missing", tarOf(Hdr("h", tar.TypeLink, LinkTo("nothing"))), Invalid},
		{"hardlink-absolute-in-layer", tarOf(File("f", "x"), Hdr("h", tar.TypeLink, LinkTo("/f"))), Contained},
		{"hardlink-to-symlink", tarOf(Hdr("s", tar.TypeSymlink, LinkTo("../outside/secret")), Hdr("h", tar.TypeLink, LinkTo("s")), File("h", "overwritten")), Contained},
		{"whiteout-dotdot", tarOf(Dir("a/"), File("a/.wh...", "")), Invalid},
		{"whiteout-self", tarOf(Dir("a/"), File("a/.wh..", "")), Invalid},
		{"whiteout-through-symlink", tarOf(Hdr("out", tar.TypeSymlink, LinkTo("../outside")), File("out/.wh.secret", "")), Contained},
		{"whiteout-up", tarOf(File(".wh...", "")), Invalid},
		{"opaque-through-symlink", tarOf(Hdr("out", tar.TypeSymlink, LinkTo("../outside")), File("out/.wh..wh..opq", "")), Contained},
		{"char-device", tarOf(Hdr("null", tar.TypeChar, func(h *tar.Header) { h.Devmajor, h.Devminor = 1, 3 })), Invalid},
		{"char-device-0-0", tarOf(Hdr("fake-whiteout", tar.TypeChar)), Invalid},
		{"block-device", tarOf(Hdr("sda", tar.TypeBlock, func(h *tar.Header) { h.Devmajor = 8 })), Invalid},
		{"fifo", tarOf(Hdr("pipe", tar.TypeFifo)), Invalid},
		{"entry-flood", gz(tarOf(many...)), Exhausted},
		{"decompression-bomb", gz(bomb), Exhausted},
		{"trusted-xattr", tarOf(xattr), Contained},
		{"truncated", truncated, Invalid},
		{"garbage", []byte("this is not a tar archive at all, just some text of a few hundred bytes" + strings.Repeat(".", 600)), Invalid},
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
