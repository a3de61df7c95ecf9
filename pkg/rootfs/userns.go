package rootfs

/*
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

// spawn_userns forks a child that unshares a user namespace, writes one byte
// to ready_w and then waits until hold_r reaches end of file (the child
// closes its copies of ready_r and hold_w). The child runs only
// async-signal-safe calls and never returns into Go. It returns the child's
// PID, or -errno.
static int spawn_userns(int ready_r, int ready_w, int hold_r, int hold_w) {
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pid_t pid = fork();
	if (pid == 0) {
		char c = 0;
		close(ready_r);
		close(hold_w);
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(1);
		if (write(ready_w, &c, 1) != 1)
			_exit(1);
		while (read(hold_r, &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pid < 0 ? -saved : pid;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// IDMap maps Size IDs from ContainerID inside a user namespace to HostID
// outside it, as one line of /proc/PID/uid_map.
type IDMap struct {
	// ContainerID is the first ID inside the namespace.
	ContainerID uint32
	// HostID is the first ID outside it.
	HostID uint32
	// Size is the number of IDs mapped.
	Size uint32
}

// NewUserNS returns a new user namespace with the given mappings as an open
// nsfs file, usable for idmapped mounts. No process stays in it: the file
// keeps it alive until it is closed.
func NewUserNS(uids, gids []IDMap) (*os.File, error) {
	if len(uids) == 0 || len(gids) == 0 {
		return nil, errors.New("user namespace: uid and gid mappings are required")
	}
	var ready, hold [2]int
	if err := unix.Pipe2(ready[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	defer unix.Close(ready[0])
	if err := unix.Pipe2(hold[:], unix.O_CLOEXEC); err != nil {
		unix.Close(ready[1])
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	r := C.spawn_userns(C.int(ready[0]), C.int(ready[1]), C.int(hold[0]), C.int(hold[1]))
	unix.Close(ready[1])
	unix.Close(hold[0])
	if r < 0 {
		unix.Close(hold[1])
		return nil, fmt.Errorf("user namespace: fork: %w", unix.Errno(-r))
	}
	pid := int(r)
	defer func() {
		unix.Close(hold[1]) // lets the child exit
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
				return
			}
		}
	}()
	var b [1]byte
	if n, err := readRetry(ready[0], b[:]); n != 1 {
		return nil, fmt.Errorf("user namespace: the child could not unshare one (%v)", err)
	}
	proc := "/proc/" + strconv.Itoa(pid)
	if err := os.WriteFile(proc+"/uid_map", []byte(mapLines(uids)), 0); err != nil {
		return nil, fmt.Errorf("user namespace: uid map: %w", err)
	}
	if err := os.WriteFile(proc+"/gid_map", []byte(mapLines(gids)), 0); err != nil {
		return nil, fmt.Errorf("user namespace: gid map: %w", err)
	}
	f, err := os.Open(proc + "/ns/user")
	if err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	return f, nil
}

func readRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func mapLines(m []IDMap) string {
	var b strings.Builder
	for _, l := range m {
		fmt.Fprintf(&b, "%d %d %d\n", l.ContainerID, l.HostID, l.Size)
	}
	return b.String()
}
