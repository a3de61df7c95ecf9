package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	var outs *outputPipes
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
		// Pipes of our own, not exec.Cmd's: its Wait waits for the output
		// to end, which never happens while a child the process left
		// behind ("cmd &") holds it. Here the copies end with the output
		// or, when ctx ends, by closing the read ends.
		outs, err = newOutputPipes(eio.Stdout, eio.Stderr)
		if err != nil {
			return -1, fmt.Errorf("container %s: exec %v: %w", id, args, err)
		}
		defer outs.close()
		if err := chownForUserNS(c, &spec, outs.w[:]...); err != nil {
			return -1, fmt.Errorf("container %s: exec %v: %w", id, args, err)
		}
		p.Stdin, p.Stdout, p.Stderr = eio.Stdin, outs.w[0], outs.w[1]
		if err := c.Run(p); err != nil {
			return -1, fmt.Errorf("container %s: exec %v: %w", id, args, err)
		}
		outs.start(&copies)
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
	// cut ends the output copies: a process still holding the output
	// gets EPIPE.
	cut := func() {
		if master != nil {
			master.Close()
		}
		if outs != nil {
			outs.close()
		}
		copies.Wait()
	}
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		_ = p.Signal(unix.SIGKILL)
		<-done
		cut()
		return -1, fmt.Errorf("container %s: exec %v: %w", id, args, ctx.Err())
	}
	// The output ends once every process holding it is gone; a child left
	// behind may hold it until ctx ends, which cuts it.
	drained := make(chan struct{})
	go func() { copies.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		cut()
		<-drained
		return -1, fmt.Errorf("container %s: exec %v: output still open when the process ended: %w", id, args, ctx.Err())
	}
	return exitCode(res.st, res.err)
}

// outputPipes carry an exec's stdout and stderr to their writers.
type outputPipes struct {
	r, w [2]*os.File
	dst  [2]io.Writer
	once sync.Once
}

func newOutputPipes(stdout, stderr io.Writer) (*outputPipes, error) {
	o := &outputPipes{dst: [2]io.Writer{stdout, stderr}}
	for i := range o.r {
		if o.dst[i] == nil {
			o.dst[i] = io.Discard
		}
		r, w, err := os.Pipe()
		if err != nil {
			o.close()
			return nil, err
		}
		o.r[i], o.w[i] = r, w
	}
	return o, nil
}

// start closes the write ends the process now holds and copies the output.
func (o *outputPipes) start(copies *sync.WaitGroup) {
	for i := range o.w {
		_ = o.w[i].Close()
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(o.dst[i], o.r[i])
		}()
	}
}

// close closes every end (once): a copy in progress ends, and processes
// still writing get EPIPE.
func (o *outputPipes) close() {
	o.once.Do(func() {
		for i := range o.r {
			for _, f := range []*os.File{o.r[i], o.w[i]} {
				if f != nil {
					_ = f.Close()
				}
			}
		}
	})
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

// chownForUserNS gives pipes to the host user and group the process of
// spec s runs as, when container c has a user namespace: the process can
// then reopen them (/dev/stdout, /proc/self/fd/1), as it can on the host.
// The mappings are the container init's.
func chownForUserNS(c *libcontainer.Container, s *specs.Spec, files ...*os.File) error {
	if s.Linux == nil || s.Process == nil {
		return nil
	}
	userns := false
	for _, ns := range s.Linux.Namespaces {
		userns = userns || ns.Type == specs.UserNamespace
	}
	if !userns {
		return nil
	}
	st, err := c.State()
	if err != nil {
		return err
	}
	proc := "/proc/" + strconv.Itoa(st.InitProcessPid)
	uid, err := hostID(proc+"/uid_map", s.Process.User.UID)
	if err != nil {
		return err
	}
	gid, err := hostID(proc+"/gid_map", s.Process.User.GID)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := f.Chown(int(uid), int(gid)); err != nil {
			return fmt.Errorf("stdio pipe: %w", err)
		}
	}
	return nil
}

// hostID maps id through the ID map file at path ("inside outside count"
// lines).
func hostID(path string, id uint32) (uint32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		var inside, outside, count uint32
		if n, _ := fmt.Sscan(line, &inside, &outside, &count); n == 3 && id >= inside && id-inside < count {
			return outside + (id - inside), nil
		}
	}
	return 0, fmt.Errorf("id %d is not mapped in %s", id, path)
}
