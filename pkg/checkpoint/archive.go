package checkpoint

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// archive writes a tar stream.
type archive struct {
	w *tar.Writer
}

func newArchive(w io.Writer) *archive { return &archive{w: tar.NewWriter(w)} }

func (a *archive) close() error { return a.w.Close() }

// file adds a regular file with data.
func (a *archive) file(name string, data []byte) error {
	h := &tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: time.Now(), Typeflag: tar.TypeReg}
	if err := a.w.WriteHeader(h); err != nil {
		return err
	}
	_, err := a.w.Write(data)
	return err
}

// nested adds a tar of dir as the file name, spooled through a temporary
// file in spool.
func (a *archive) nested(name, dir, spool string) error {
	tmp, err := os.CreateTemp(spool, "rootfs-diff-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	inner := newArchive(tmp)
	if err := inner.dir(dir, ""); err != nil {
		return err
	}
	if err := inner.close(); err != nil {
		return err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := a.w.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.CopyN(a.w, tmp, size)
	return err
}

// dir adds the tree at root under prefix ("" for the top): directories,
// regular files, symlinks, devices (overlay whiteouts are 0:0 character
// devices), fifos, with owners, modes and the overlay opaque mark.
func (a *archive) dir(root, prefix string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(filepath.Join(prefix, rel))
		if rel == "." {
			if prefix == "" {
				return nil
			}
			name = prefix
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		h.Name = name
		if info.IsDir() {
			h.Name += "/"
		}
		if st, ok := info.Sys().(*unix.Stat_t); ok {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
			h.Uname, h.Gname = "", ""
			if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
				h.Devmajor, h.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
			}
		}
		if info.IsDir() {
			buf := make([]byte, 8)
			if n, err := unix.Lgetxattr(path, "trusted.overlay.opaque", buf); err == nil && n > 0 {
				h.PAXRecords = map[string]string{"SCHILY.xattr.trusted.overlay.opaque": string(buf[:n])}
			}
		}
		if err := a.w.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(a.w, f, info.Size())
		return err
	})
}
