// Package monitor starts and talks to container monitors.
//
// A monitor is the cri-shim binary re-executed as "cri-shim __monitor": a C
// constructor (monitor.c) takes over before the Go runtime starts. In its own
// session it runs a create command that starts the container's init and
// writes the init's PID to fd 7; the monitor adopts the init as its subreaper,
// owns its stdio, writes the CRI log file, serves attach and control
// connections on a unix socket, and at the init's exit writes the exit status
// file atomically, then exits. It outlives a daemon restart or crash.
//
// The create command finds the container's stdin, stdout and stderr on fds 3,
// 4 and 5, the console socket (tty) on fd 6, and the result pipe on fd 7. It
// must mark them close-on-exec before starting anything else.
//
// Socket protocol: frames of a 1-byte type, a 4-byte big-endian length and
// the payload. The monitor sends stdout, stderr and exit frames to every
// client; clients send stdin, resize, close-stdin and reopen-log frames.
package monitor

/*
#cgo CFLAGS: -Wall -O2
*/
import "C"

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Arg is the argv[1] that turns the cri-shim binary into a monitor.
const Arg = "__monitor"

// Fds of the create command.
const (
	CreateStdinFd   = 3
	CreateStdoutFd  = 4
	CreateStderrFd  = 5
	CreateConsoleFd = 6
	CreateResultFd  = 7
)

// Frame types of the socket protocol (see monitor.c).
const (
	FrameStdin      = 0
	FrameStdout     = 1
	FrameStderr     = 2
	FrameResize     = 3
	FrameCloseStdin = 4
	FrameReopenLog  = 5
	FrameExit       = 6
)

// Options describe one monitor.
type Options struct {
	// Binary is the cri-shim binary to re-execute; "" means /proc/self/exe.
	Binary string
	// LogPath is the container's CRI log file; "" writes no log.
	LogPath string
	// LogDir is the pod's log directory LogPath lies under: below it the
	// monitor follows no symlink when it opens (or reopens) the log.
	LogDir string
	// ExitFile receives the exit status as JSON.
	ExitFile string
	// Socket is the attach and control socket.
	Socket string
	// OOMFile is the memory cgroup file with the oom_kill counter
	// (memory.oom_control on cgroup v1, memory.events on v2); "" skips OOM detection.
	OOMFile string
	// TTY gives the container a terminal (the create command passes the
	// console socket on fd 6 to the init).
	TTY bool
	// Stdin keeps the container's stdin open for attach; StdinOnce closes it
	// when the first attach session ends.
	Stdin, StdinOnce bool
	// MaxLine is the longest log record before it is split into partial records (default 16 KiB).
	MaxLine int
	// DebugLog receives the monitor's own diagnostics; "" discards them.
	DebugLog string
	// Create is the argv of the create command.
	Create []string
}

// Monitor is a started monitor.
type Monitor struct {
	// PID is the monitor's process ID.
	PID int
	// InitPID is the container init's process ID.
	InitPID int
	proc    *os.Process
}

// args are the monitor's options as command-line arguments, without the
// sync fd and the create command.
func (o *Options) args() []string {
	args := []string{"--exit-file=" + o.ExitFile, "--socket=" + o.Socket}
	if o.LogPath != "" {
		args = append(args, "--log="+o.LogPath)
		if o.LogDir != "" {
			args = append(args, "--log-dir="+o.LogDir)
		}
	}
	if o.OOMFile != "" {
		args = append(args, "--oom-file="+o.OOMFile)
	}
	if o.TTY {
		args = append(args, "--tty")
	}
	if o.Stdin {
		args = append(args, "--stdin")
	}
	if o.StdinOnce {
		args = append(args, "--stdin-once")
	}
	if o.MaxLine > 0 {
		args = append(args, "--max-line="+strconv.Itoa(o.MaxLine))
	}
	return args
}

// Start runs a monitor and waits until its create command has started the
// container's init (or failed, whose error it returns).
func Start(ctx context.Context, o Options) (*Monitor, error) {
	if len(o.Create) == 0 {
		return nil, errors.New("monitor: no create command")
	}
	bin := o.Binary
	if bin == "" {
		bin = "/proc/self/exe"
	}
	args := append([]string{"cri-shim", Arg}, o.args()...)
	args = append(append(args, "--sync-fd=3", "--"), o.Create...)

	syncR, syncW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer syncR.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		syncW.Close()
		return nil, err
	}
	defer devnull.Close()
	stderr := devnull
	if o.DebugLog != "" {
		if f, err := os.OpenFile(o.DebugLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
			defer f.Close()
			stderr = f
		}
	}
	proc, err := os.StartProcess(bin, args, &os.ProcAttr{
		Files: []*os.File{devnull, devnull, stderr, syncW},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	syncW.Close()
	if err != nil {
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	return awaitReport(ctx, proc, syncR)
}

// ErrSpareGone is the error of a spare that could not take its container
// (its create command died, or the container's arguments do not fit): the
// caller starts a monitor with Start instead. The spare made nothing.
var ErrSpareGone = errors.New("monitor: spare gone")

// awaitReport reads a starting monitor's report from r: the init's PID, or
// the create command's error.
func awaitReport(ctx context.Context, proc *os.Process, r io.Reader) (*Monitor, error) {
	m := &Monitor{PID: proc.Pid, proc: proc}
	type result struct {
		line string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		got <- result{strings.TrimSpace(line), err}
	}()
	var res result
	select {
	case res = <-got:
	case <-ctx.Done():
		_ = proc.Kill()
		_, _ = proc.Wait()
		return nil, fmt.Errorf("monitor start: %w", ctx.Err())
	}
	switch {
	case strings.HasPrefix(res.line, "ok "):
		pid, err := strconv.Atoi(strings.TrimPrefix(res.line, "ok "))
		if err != nil || pid <= 0 {
			_ = proc.Kill()
			_, _ = proc.Wait()
			return nil, fmt.Errorf("monitor: bad report %q", res.line)
		}
		m.InitPID = pid
		return m, nil
	case strings.HasPrefix(res.line, "retry "):
		_, _ = proc.Wait()
		return nil, fmt.Errorf("%w: %s", ErrSpareGone, strings.TrimPrefix(res.line, "retry "))
	case strings.HasPrefix(res.line, "error "):
		_, _ = proc.Wait()
		return nil, errors.New(strings.TrimPrefix(res.line, "error "))
	default:
		_ = proc.Kill()
		_, _ = proc.Wait()
		return nil, fmt.Errorf("monitor exited without a report (%v)", res.err)
	}
}

// Wait waits for a monitor this process started to exit (and reaps it).
func (m *Monitor) Wait() error {
	_, err := m.proc.Wait()
	return err
}

// Exit is the exit status a monitor records.
type Exit struct {
	// ExitCode is the init's exit code, 128+N for a signal N.
	ExitCode int `json:"exit_code"`
	// Signal is the signal that killed the init, or 0.
	Signal int `json:"signal"`
	// FinishedAt is the exit time in Unix nanoseconds.
	FinishedAt int64 `json:"finished_at"`
	// OOMKilled is true when the container's cgroup saw an OOM kill.
	OOMKilled bool `json:"oom_killed"`
}

// ReadExit reads an exit file; an error satisfying errors.Is(err,
// os.ErrNotExist) means the container has not exited (or the monitor died
// before recording it).
func ReadExit(path string) (*Exit, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var e Exit
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("exit file %s: %w", path, err)
	}
	return &e, nil
}

// WaitPID waits until the process pid exits, whether or not it is a child of
// this process, using a pidfd. It returns at once if pid does not exist.
func WaitPID(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return err
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		done <- rc.Read(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 0)
			return err == nil && n > 0
		})
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// Unblock the reader.
		_ = f.SetReadDeadline(time.Now())
		<-done
		return ctx.Err()
	}
}
