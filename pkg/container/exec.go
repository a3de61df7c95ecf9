package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/monitor"
	"github.com/cri-shim/cri-shim/pkg/oci"
)

// MaxExecOutput bounds the output of ExecSync, both streams together, so
// that a response fits in the kubelet's 16 MiB message limit.
const MaxExecOutput = 16<<20 - 64<<10

// ExecResult is the outcome of ExecSync.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int
	// Truncated is true when the output went past MaxExecOutput: the
	// command was killed then (exit code 137) and the rest dropped.
	Truncated bool
}

// ExecSync runs cmd in a running container and collects its output. A
// positive timeout kills the process when it runs out (an error of kind
// errdefs.ErrDeadlineExceeded).
func (m *Manager) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (*ExecResult, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// Output past the bound ends the command: nobody can receive it, and
	// a command printing without end would otherwise run until its
	// timeout, or for ever without one.
	full, stop := context.WithCancel(ctx)
	defer stop()
	budget := &execBudget{left: MaxExecOutput, full: stop}
	stdout, stderr := &cappedBuffer{budget: budget}, &cappedBuffer{budget: budget}
	code, err := m.Exec(full, id, cmd, oci.ExecIO{Stdout: stdout, Stderr: stderr})
	truncated := budget.exceeded()
	if errors.Is(err, context.DeadlineExceeded) && timeout > 0 && !truncated {
		return nil, fmt.Errorf("container %s: command %q timed out after %s: %w", id, cmd, timeout, errdefs.ErrDeadlineExceeded)
	}
	if err != nil && !(truncated && errors.Is(err, context.Canceled) && ctx.Err() == nil) {
		return nil, err
	}
	res := &ExecResult{Stdout: stdout.bytes(), Stderr: stderr.bytes(), ExitCode: code, Truncated: truncated}
	if res.Truncated {
		res.ExitCode = 128 + 9 // killed
		klog.Warningf("container %s: output of %q went past %d bytes: truncated, command killed", id, cmd, MaxExecOutput)
		res.Stderr = append(res.Stderr, fmt.Sprintf("\n[cri-shim: output truncated at %d bytes; the command was killed]\n", MaxExecOutput)...)
	}
	return res, nil
}

// Exec runs cmd in a running container with the given stdio and returns its exit code.
func (m *Manager) Exec(ctx context.Context, id string, cmd []string, eio oci.ExecIO) (int, error) {
	c, err := m.lookup(id)
	if err != nil {
		return -1, err
	}
	c.mu.Lock()
	state, cid := c.rec.State, c.rec.ID
	c.mu.Unlock()
	if state != StateRunning {
		return -1, fmt.Errorf("container %s is %s, not running: %w", id, state, errdefs.ErrFailedPrecondition)
	}
	return m.rt.Exec(ctx, cid, m.paths(cid).bundle, cmd, eio)
}

// Attach connects stdio to a running container's own process through its
// monitor, until the container exits, the client's output fails or ctx ends.
func (m *Manager) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan oci.TermSize) error {
	c, err := m.lookup(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	state, cid, once, open := c.rec.State, c.rec.ID, c.rec.Once, c.rec.Stdin
	c.mu.Unlock()
	if state != StateRunning {
		return fmt.Errorf("container %s is %s, not running: %w", id, state, errdefs.ErrFailedPrecondition)
	}
	conn, err := monitor.Dial(ctx, m.paths(cid).socket)
	if err != nil {
		return fmt.Errorf("container %s: attach: %w", id, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if stdin != nil && open {
		go func() {
			_, _ = io.Copy(conn.Stdin(), stdin)
			if once {
				_ = conn.Stdin().Close()
			}
		}()
	}
	if resize != nil {
		go func() {
			for sz := range resize {
				if conn.Resize(sz.Height, sz.Width) != nil {
					return
				}
			}
		}()
	}
	_, err = conn.Copy(stdout, stderr)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("container %s: attach: %w", id, err)
	}
	return nil
}

// execBudget is the room left for an exec's output, shared by its streams;
// full is called once when a write finds no room.
type execBudget struct {
	mu      sync.Mutex
	left    int
	dropped bool
	full    func()
}

// take returns how many of n bytes fit, and calls full the first time some do not.
func (b *execBudget) take(n int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := min(n, b.left)
	b.left -= k
	if k < n && !b.dropped {
		b.dropped = true
		b.full()
	}
	return k
}

func (b *execBudget) exceeded() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

// cappedBuffer keeps what its budget lets through of what is written to it.
type cappedBuffer struct {
	mu     sync.Mutex
	buf    []byte
	budget *execBudget
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	k := b.budget.take(len(p))
	b.mu.Lock()
	b.buf = append(b.buf, p[:k]...)
	b.mu.Unlock()
	return len(p), nil
}

func (b *cappedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf
}
