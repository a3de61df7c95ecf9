package monitor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// spareRoom is the room a spare keeps in its command line for the one it
// takes with its container (recovery and operators find a monitor by its
// command line). Options whose command line is longer get a monitor
// started for them instead.
const spareRoom = 8192

// Spare is a monitor started before its container is known, its create
// command already running and waiting (so the create command's start-up,
// the Go runtime of the cri-shim binary, is paid ahead). Give it a
// container with Start, or let it go with Close.
type Spare struct {
	proc *os.Process
	sock *os.File // the sync socket: the job goes out, the report comes back
}

// StartSpare starts a spare monitor whose create command is create (argv,
// a program that waits for its arguments and fds on fd 3: "cri-shim
// __create --spare"). owner names what the spare is for in its command line.
func StartSpare(bin string, create []string, owner string) (*Spare, error) {
	if bin == "" {
		bin = "/proc/self/exe"
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("spare monitor: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "spare"), os.NewFile(uintptr(fds[1]), "spare")
	defer theirs.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		ours.Close()
		return nil, err
	}
	defer devnull.Close()
	args := []string{"cri-shim", Arg, "--spare", "--spare-of=" + owner, "--sync-fd=3",
		"--pad=" + strings.Repeat(" ", spareRoom), "--"}
	proc, err := os.StartProcess(bin, append(args, create...), &os.ProcAttr{
		Files: []*os.File{devnull, devnull, devnull, theirs},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		ours.Close()
		return nil, fmt.Errorf("start spare monitor: %w", err)
	}
	return &Spare{proc: proc, sock: ours}, nil
}

// PID is the spare monitor's process ID.
func (s *Spare) PID() int { return s.proc.Pid }

// Start gives the spare its container: o as for the package's Start (its
// Binary is not used: the spare runs already). It waits until the create
// command has started the container's init, or failed. An error wrapping
// ErrSpareGone means the spare made nothing: start a monitor with Start.
// The spare is used up either way.
func (s *Spare) Start(ctx context.Context, o Options) (*Monitor, error) {
	if len(o.Create) == 0 {
		s.Close()
		return nil, errors.New("monitor: no create command")
	}
	args := o.args()
	if o.DebugLog != "" {
		args = append(args, "--debug-log="+o.DebugLog)
	}
	args = append(append(args, "--"), o.Create...)
	for _, a := range args {
		if strings.ContainsRune(a, 0) {
			s.Close()
			return nil, fmt.Errorf("monitor: NUL in an argument: %w", ErrSpareGone)
		}
	}
	if _, err := s.sock.Write([]byte(strings.Join(args, "\x00") + "\x00")); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: %v", ErrSpareGone, err)
	}
	defer s.sock.Close()
	return awaitReport(ctx, s.proc, s.sock)
}

// Close lets an unused spare go: it ends with its create command. It waits
// for the spare to exit.
func (s *Spare) Close() {
	_ = s.sock.Close()
	_, _ = s.proc.Wait()
}
