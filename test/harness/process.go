package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a child a harness started; it is stopped by its PID only.
type Process struct {
	Cmd     *exec.Cmd
	LogPath string
	done    chan struct{}
	err     error
}

// StartProcess starts bin with args, its output going to logPath. The child
// is killed if the harness dies (Pdeathsig).
func StartProcess(logPath, bin string, args ...string) (*Process, error) {
	return Start(exec.Command(bin, args...), logPath)
}

// Start starts cmd with its stdout and stderr going to logPath. It sets
// Pdeathsig, keeping any other SysProcAttr field cmd already has.
func Start(cmd *exec.Cmd, logPath string) (*Process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", cmd.Path, err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Process{Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the child's process ID.
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// Exited reports whether the child has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and, after 30 s, SIGKILL. It reports a child that had
// already exited, was killed, or exited with a failure status.
func (p *Process) Stop() error {
	if p.Exited() {
		return fmt.Errorf("%s had already exited: %v", p.Cmd.Path, p.err)
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return errors.New("killed after 30 s")
	}
	var exitErr *exec.ExitError
	if errors.As(p.err, &exitErr) {
		return p.err
	}
	return nil
}
