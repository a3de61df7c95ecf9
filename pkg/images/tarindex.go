package images

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// tarIndex locates the regular files of a tar archive on disk, so that they
// can be read in any order without extracting anything. Names are cleaned
// archive paths ("blobs/sha256/<hex>", "manifest.json"); symbolic links
// between entries (older docker save output) are followed.
type tarIndex struct {
	f       *os.File
	entries map[string]tarSection
	links   map[string]string
}

type tarSection struct{ off, size int64 }

// maxArchiveEntries bounds an import archive's entries.
const maxArchiveEntries = 1 << 20

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// indexTar reads the headers of the tar file f.
func indexTar(f *os.File) (*tarIndex, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	ix := &tarIndex{f: f, entries: map[string]tarSection{}, links: map[string]string{}}
	for n := 0; ; n++ {
		if n > maxArchiveEntries {
			return nil, fmt.Errorf("archive has more than %d entries: %w", maxArchiveEntries, errdefs.ErrResourceExhausted)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return ix, nil
		}
		if err != nil {
			return nil, fmt.Errorf("archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		name := cleanArchiveName(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			// archive/tar has read the header blocks and nothing of the data.
			ix.entries[name] = tarSection{off: cr.n, size: hdr.Size}
		case tar.TypeSymlink:
			ix.links[name] = cleanArchiveName(path.Join(path.Dir(name), hdr.Linkname))
		case tar.TypeLink:
			ix.links[name] = cleanArchiveName(hdr.Linkname)
		}
	}
}

// cleanArchiveName makes "./a//b" and "/a/b" into "a/b".
func cleanArchiveName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}

// open returns a reader of the entry name.
func (ix *tarIndex) open(name string) (*io.SectionReader, error) {
	name = cleanArchiveName(name)
	for range 8 {
		if s, ok := ix.entries[name]; ok {
			return io.NewSectionReader(ix.f, s.off, s.size), nil
		}
		target, ok := ix.links[name]
		if !ok {
			break
		}
		name = target
	}
	return nil, fmt.Errorf("archive has no file %q: %w", name, errdefs.ErrInvalidArgument)
}

// readFile returns the entry name, at most limit bytes.
func (ix *tarIndex) readFile(name string, limit int64) ([]byte, error) {
	r, err := ix.open(name)
	if err != nil {
		return nil, err
	}
	if r.Size() > limit {
		return nil, fmt.Errorf("archive file %q is larger than %d bytes: %w", name, limit, errdefs.ErrResourceExhausted)
	}
	return io.ReadAll(r)
}

func (ix *tarIndex) has(name string) bool {
	_, err := ix.open(name)
	return err == nil
}
