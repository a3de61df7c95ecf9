package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// maxUserFileBytes bounds the image's passwd and group files (containerd uses
// the same cap): real ones are far smaller.
const maxUserFileBytes = 10 << 20

// Paths of the user databases inside the rootfs.
const (
	passwdPath = "/etc/passwd"
	groupPath  = "/etc/group"
)

// readRootfsFile reads a regular file inside rootfs. Every path component,
// symlinks included, is resolved inside rootfs (filepath-securejoin's
// pathrs-lite), so a hostile image cannot make the daemon read a host file.
// A missing file gives an error matching fs.ErrNotExist.
func readRootfsFile(rootfs, name string) ([]byte, error) {
	h, err := pathrs.OpenInRoot(rootfs, name)
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs: %w", name, err)
	}
	defer h.Close()
	fi, err := h.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s in rootfs: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s in rootfs is not a regular file: %w", name, errdefs.ErrInvalidArgument)
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxUserFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s in rootfs: %w", name, err)
	}
	if len(data) > maxUserFileBytes {
		return nil, fmt.Errorf("%s in rootfs exceeds %d bytes: %w", name, maxUserFileBytes, errdefs.ErrInvalidArgument)
	}
	return data, nil
}

// userDB reads the image's passwd and group files once each, on demand.
type userDB struct {
	rootfs string

	passwd, group       []byte
	passwdErr, groupErr error
	passwdRead, grpRead bool
}

// errNoEntry reports that a file exists but has no matching entry.
var errNoEntry = errors.New("no matching entry")

// lookupUser returns the first passwd entry matching filter. It fails with
// fs.ErrNotExist when there is no passwd file and errNoEntry when no line matches.
func (db *userDB) lookupUser(filter func(user.User) bool) (user.User, error) {
	if !db.passwdRead {
		db.passwd, db.passwdErr = readRootfsFile(db.rootfs, passwdPath)
		db.passwdRead = true
	}
	if db.passwdErr != nil {
		return user.User{}, db.passwdErr
	}
	users, err := user.ParsePasswdFilter(bytes.NewReader(db.passwd), filter)
	if err != nil {
		return user.User{}, fmt.Errorf("parse %s: %w", passwdPath, err)
	}
	if len(users) == 0 {
		return user.User{}, errNoEntry
	}
	return users[0], nil
}

// lookupGroups returns the group entries matching filter; fs.ErrNotExist when
// there is no group file.
func (db *userDB) lookupGroups(filter func(user.Group) bool) ([]user.Group, error) {
	if !db.grpRead {
		db.group, db.groupErr = readRootfsFile(db.rootfs, groupPath)
		db.grpRead = true
	}
	if db.groupErr != nil {
		return nil, db.groupErr
	}
	groups, err := user.ParseGroupFilter(bytes.NewReader(db.group), filter)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", groupPath, err)
	}
	return groups, nil
}

// isMissing reports whether err means "no such file or no such entry".
func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNoEntry)
}
