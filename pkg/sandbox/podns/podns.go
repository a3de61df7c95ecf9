// Package podns creates a pod's network, IPC and UTS namespaces, pins each
// with a bind mount so it outlives every process in it, and runs code inside
// pinned namespaces. It also pins the namespaces of a process, for pods
// whose namespaces a process made inside a new user namespace.
//
// Namespaces belong to OS threads: the work runs on a fresh goroutine locked
// to its thread, and the thread's own namespaces are restored afterwards. A
// thread that cannot be restored is never unlocked, so the Go runtime
// discards it instead of running other goroutines in the pod's namespaces.
package podns

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Kind is a namespace type.
type Kind string

// The namespace kinds a pod owns.
const (
	Net Kind = "net"
	IPC Kind = "ipc"
	UTS Kind = "uts"
	// User is a user namespace: it can be pinned, not created or entered
	// here (a multithreaded process cannot join one).
	User Kind = "user"
)

// Kinds lists every kind in the order they are created and entered.
var Kinds = []Kind{Net, IPC, UTS}

func (k Kind) flag() int {
	switch k {
	case Net:
		return unix.CLONE_NEWNET
	case IPC:
		return unix.CLONE_NEWIPC
	case UTS:
		return unix.CLONE_NEWUTS
	case User:
		return unix.CLONE_NEWUSER
	}
	return 0
}

// Create makes a new namespace of each kind in pins, bind-mounts it on the
// path given for it (a file that must not exist yet), and runs setup inside
// the new namespaces (setup may be nil). On error nothing is left: the pins
// made are removed.
func Create(pins map[Kind]string, setup func() error) error {
	flags := 0
	for k := range pins {
		if k.flag() == 0 || k == User {
			return fmt.Errorf("unknown namespace kind %q", k)
		}
		flags |= k.flag()
	}
	if flags == 0 {
		return nil
	}
	var made []string
	err := onThread(kindsOf(pins), func() error {
		if err := unix.Unshare(flags); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		for _, k := range Kinds {
			pin, ok := pins[k]
			if !ok {
				continue
			}
			if err := bind(k, pin); err != nil {
				return err
			}
			made = append(made, pin)
		}
		if setup != nil {
			return setup()
		}
		return nil
	})
	if err != nil {
		for _, p := range made {
			if uerr := Unpin(p); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
	}
	return err
}

// Do runs fn inside the namespaces pinned at paths.
func Do(paths map[Kind]string, fn func() error) error {
	if len(paths) == 0 {
		return fn()
	}
	fds := map[Kind]int{}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for k, p := range paths {
		if k.flag() == 0 || k == User {
			return fmt.Errorf("unknown namespace kind %q", k)
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s namespace %s: %w", k, p, err)
		}
		fds[k] = fd
	}
	return onThread(kindsOf(paths), func() error {
		for _, k := range Kinds {
			if fd, ok := fds[k]; ok {
				if err := unix.Setns(fd, k.flag()); err != nil {
					return fmt.Errorf("enter %s namespace %s: %w", k, paths[k], err)
				}
			}
		}
		return fn()
	})
}

// PinProcess pins the namespaces of process pid given in pins (kind ->
// path of a file that must not exist yet). On error the pins made are
// removed.
func PinProcess(pid int, pins map[Kind]string) error {
	var made []string
	for _, k := range append([]Kind{User}, Kinds...) {
		pin, ok := pins[k]
		if !ok {
			continue
		}
		if err := bindFrom(fmt.Sprintf("/proc/%d/ns/%s", pid, k), k, pin); err != nil {
			for _, p := range made {
				err = errors.Join(err, Unpin(p))
			}
			return err
		}
		made = append(made, pin)
	}
	return nil
}

// Unpin unmounts and removes a pin. A missing or unmounted pin is not an
// error.
func Unpin(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount namespace pin %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove namespace pin %s: %w", path, err)
	}
	return nil
}

// Pinned reports whether path is a pinned namespace of kind.
func Pinned(kind Kind, path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		return false
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	t, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	return err == nil && t == kind.flag()
}

// bind pins the calling thread's namespace of kind at pin.
func bind(k Kind, pin string) error {
	return bindFrom(fmt.Sprintf("/proc/thread-self/ns/%s", k), k, pin)
}

// bindFrom pins the namespace file src of kind at pin.
func bindFrom(src string, k Kind, pin string) error {
	f, err := os.OpenFile(pin, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace pin: %w", err)
	}
	f.Close()
	if err := unix.Mount(src, pin, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(pin)
		return fmt.Errorf("pin %s namespace at %s: %w", k, pin, err)
	}
	return nil
}

func kindsOf(m map[Kind]string) []Kind {
	var out []Kind
	for _, k := range Kinds {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// onThread runs work on a new goroutine locked to its OS thread and puts
// the thread back into its own namespaces of kinds afterwards. If that
// fails the thread stays locked and dies with the goroutine.
func onThread(kinds []Kind, work func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own := map[Kind]int{}
		closeOwn := func() {
			for _, fd := range own {
				unix.Close(fd)
			}
		}
		for _, k := range kinds {
			fd, err := unix.Open(fmt.Sprintf("/proc/thread-self/ns/%s", k), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				closeOwn()
				runtime.UnlockOSThread()
				done <- fmt.Errorf("open own %s namespace: %w", k, err)
				return
			}
			own[k] = fd
		}
		err := work()
		for _, k := range kinds {
			if rerr := unix.Setns(own[k], k.flag()); rerr != nil {
				closeOwn()
				// Stay locked: the thread is discarded when this goroutine returns.
				done <- errors.Join(err, fmt.Errorf("restore %s namespace (thread discarded): %w", k, rerr))
				return
			}
		}
		closeOwn()
		runtime.UnlockOSThread()
		done <- err
	}()
	return <-done
}
