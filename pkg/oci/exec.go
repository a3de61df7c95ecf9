package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// TermSize is a terminal size.
type TermSize struct{ Width, Height uint16 }

// ExecIO is the stdio of a process run in a container.
type ExecIO struct {
	// Stdin, if set, is copied to the process.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output (Stderr is unused with a TTY).
	Stdout, Stderr io.Writer
	// TTY gives the process a terminal.
	TTY bool
	// Resize delivers terminal size changes.
	Resize <-chan TermSize
}

// Exec runs args inside a running container, as the container's own process
// would run (user, env, capabilities, security settings), and returns its
// exit code. When ctx ends the process is killed and ctx's error returned.
func (r *Runtime) Exec(ctx context.Context, id, bundle string, args []string, eio ExecIO) (int, error) {
	if len(args) == 0 {
		return -1, fmt.Errorf("container %s: exec: no command: %w", id, errdefs.ErrInvalidArgument)
	}
	c, err := r.load(id)
	if err != nil {
		return -1, err
	}
	if st, err := c.Status(); err != nil || st != libcontainer.Running {
		return -1, fmt.Errorf("container %s is not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	raw, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return -1, fmt.Errorf("container %s: %w", id, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil || spec.Process == nil {
		return -1, fmt.Errorf("container %s: config.json: %v", id, err)
	}
	sp := *spec.Process
	sp.Args = args
	sp.Terminal = eio.TTY
	p, err := process(&sp)
	if err != nil {
		return -1, fmt.Errorf("container %s: %w", id, err)
	}
	var copies sync.WaitGroup
	var master *os.File
	if eio.TTY {
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		parent, child := os.NewFile(uintptr(pair[0]), "console-parent"), os.NewFile(uintptr(pair[1]), "console-child")
		defer parent.Close()
		defer child.Close()
		p.ConsoleSocket = child
		if err := c.Run(p); err != nil {
			return -1, fmt.Errorf("container %s: exec %v: %w", id, args, err)
		}
		if master, err = recvFile(parent); err != nil {
			_ = p.Signal(unix.SIGKILL)
			_, _ = p.Wait()
			return -1, fmt.Errorf("container %s: exec terminal: %w", id, err)
		}
		defer master.Close()
		if eio.Stdin != nil {
			go func() { _, _ = io.Copy(master, eio.Stdin) }()
		}
		if eio.Stdout != nil {
			copies.Add(1)
			go func() {
				defer copies.Done()
				_, _ = io.Copy(eio.Stdout, master)
			}()
		}
		if eio.Resize != nil {
			go func() {
				for sz := range eio.Resize {
					_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: sz.Height, Col: sz.Width})
				}
			}()
		}
	} else {
		p.Stdin, p.Stdout, p.Stderr = eio.Stdin, eio.Stdout, eio.Stderr
		if p.Stdout == nil {
			p.Stdout = io.Discard
		}
		if p.Stderr == nil {
			p.Stderr = io.Discard
		}
		if err := c.Run(p); err != nil {
			return -1, fmt.Errorf("container %s: exec %v: %w", id, args, err)
		}
	}
	type result struct {
		st  *os.ProcessState
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := p.Wait()
		done <- result{st, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		_ = p.Signal(unix.SIGKILL)
		<-done
		if master != nil {
			master.Close()
		}
		copies.Wait()
		return -1, fmt.Errorf("container %s: exec %v: %w", id, args, ctx.Err())
	}
	if master != nil {
		// The terminal drains once the process is gone.
		copies.Wait()
	}
	return exitCode(res.st, res.err)
}

// exitCode is the shell's view of how a process ended: its code, or 128+N
// for a signal N. libcontainer returns the state even with a wait error.
func exitCode(st *os.ProcessState, err error) (int, error) {
	if st == nil {
		return -1, err
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return st.ExitCode(), nil
}

// recvFile receives one file descriptor sent with SCM_RIGHTS.
func recvFile(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no file received (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no file received (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}
