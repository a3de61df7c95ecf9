package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// SocketMode is the permission of the CRI socket: root and the socket's group.
const SocketMode = 0o660

// ErrAlreadyRunning is returned when another live cri-shim serves the socket.
var ErrAlreadyRunning = errors.New("another cri-shim is running")

// lockSocket takes the lock file beside the socket, so that two daemons
// starting at once cannot both pass the liveness check below.
func lockSocket(socket string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o711); err != nil {
		return nil, fmt.Errorf("socket dir for %s: %w", socket, err)
	}
	lockPath := socket + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("socket lock %s: %w", lockPath, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked", ErrAlreadyRunning, lockPath)
		}
		return nil, fmt.Errorf("socket lock %s: %w", lockPath, err)
	}
	return f, nil
}

// listen serves on the unix socket at path. A live instance answering there
// is refused; a stale socket file is replaced; any other file is left alone.
func listen(path string) (net.Listener, error) {
	st, err := os.Lstat(path)
	switch {
	case err == nil && st.Mode()&os.ModeSocket == 0:
		return nil, fmt.Errorf("socket %s: exists and is not a socket", path)
	case err == nil:
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("%w: an instance answers on %s", ErrAlreadyRunning, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, SocketMode); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("chmod socket %s: %w", path, err)
	}
	return l, nil
}
