package testimages

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the fixed modification time of every layer entry and the creation
// time of every image, so that layer digests and image IDs are reproducible.
var epoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// layerBuilder collects the entries of one filesystem layer in insertion
// order. Paths are absolute ("/bin/sh"); they are stored without the leading
// slash, as "docker build" does. Parent directories are created on demand
// (root:root 0755) unless they were added explicitly first.
type layerBuilder struct {
	entries []layerEntry
	index   map[string]int // clean path without leading slash -> entries index
}

type layerEntry struct {
	hdr  tar.Header
	data []byte
}

func newLayerBuilder() *layerBuilder {
	return &layerBuilder{index: map[string]int{}}
}

func tarPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

func (b *layerBuilder) put(e layerEntry) {
	name := e.hdr.Name
	if name == "" {
		panic("testimages: empty path in layer")
	}
	b.parents(name)
	if e.hdr.Typeflag == tar.TypeDir {
		e.hdr.Name = name + "/"
	}
	if i, ok := b.index[name]; ok {
		b.entries[i] = e
		return
	}
	b.index[name] = len(b.entries)
	b.entries = append(b.entries, e)
}

func (b *layerBuilder) parents(name string) {
	dir := path.Dir(name)
	if dir == "." || dir == "/" {
		return
	}
	if _, ok := b.index[dir]; ok {
		return
	}
	b.Dir("/"+dir, 0o755, 0, 0)
}

// Dir adds a directory. mode may include the sticky/setgid bits (e.g. 01777).
func (b *layerBuilder) Dir(p string, mode int64, uid, gid int) {
	b.put(layerEntry{hdr: tar.Header{
		Typeflag: tar.TypeDir,
		Name:     tarPath(p),
		Mode:     mode,
		Uid:      uid,
		Gid:      gid,
		ModTime:  epoch,
	}})
}

// File adds a regular file owned by root.
func (b *layerBuilder) File(p string, mode int64, data []byte) {
	b.FileOwned(p, mode, 0, 0, data)
}

// FileOwned adds a regular file with the given owner. mode may include the
// setuid/setgid bits (e.g. 04755).
func (b *layerBuilder) FileOwned(p string, mode int64, uid, gid int, data []byte) {
	b.put(layerEntry{hdr: tar.Header{
		Typeflag: tar.TypeReg,
		Name:     tarPath(p),
		Mode:     mode,
		Uid:      uid,
		Gid:      gid,
		Size:     int64(len(data)),
		ModTime:  epoch,
	}, data: data})
}

// HardLink adds p as a hard link to target, which must already be in the layer.
func (b *layerBuilder) HardLink(p, target string) {
	t := tarPath(target)
	i, ok := b.index[t]
	if !ok || b.entries[i].hdr.Typeflag != tar.TypeReg {
		panic(fmt.Sprintf("testimages: hard link %s -> %s: target is not a regular file of the layer", p, target))
	}
	b.put(layerEntry{hdr: tar.Header{
		Typeflag: tar.TypeLink,
		Name:     tarPath(p),
		Linkname: t,
		Mode:     b.entries[i].hdr.Mode,
		Uid:      b.entries[i].hdr.Uid,
		Gid:      b.entries[i].hdr.Gid,
		ModTime:  epoch,
	}})
}

// Symlink adds a symbolic link p pointing at target (stored verbatim).
func (b *layerBuilder) Symlink(p, target string) {
	b.put(layerEntry{hdr: tar.Header{
		Typeflag: tar.TypeSymlink,
		Name:     tarPath(p),
		Linkname: target,
		Mode:     0o777,
		ModTime:  epoch,
	}})
}

// Tar returns the uncompressed tar stream of the layer.
func (b *layerBuilder) Tar() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range b.entries {
		hdr := e.hdr
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(&hdr); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", hdr.Name, err)
		}
		if len(e.data) > 0 {
			if _, err := tw.Write(e.data); err != nil {
				return nil, fmt.Errorf("tar data %s: %w", hdr.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Layer returns the layer as an OCI gzip layer. The compressed form is cached
// so that pushing a layer shared by many images compresses it only once.
func (b *layerBuilder) Layer() (v1.Layer, error) {
	data, err := b.Tar()
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}
