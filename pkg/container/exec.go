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

// MaxExecOutput bounds each output stream of ExecSync.
const MaxExecOutput = 16 << 20

// ExecResult is the outcome of ExecSync.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int
	// Truncated is true when output beyond MaxExecOutput was dropped.
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
	stdout, stderr := &cappedBuffer{max: MaxExecOutput}, &cappedBuffer{max: MaxExecOutput}
	code, err := m.Exec(ctx, id, cmd, oci.ExecIO{Stdout: stdout, Stderr: stderr})
	if errors.Is(err, context.DeadlineExceeded) && timeout > 0 {
		return nil, fmt.Errorf("container %s: command %q timed out after %s: %w", id, cmd, timeout, errdefs.ErrDeadlineExceeded)
	}
	if err != nil {
		return nil, err
	}
	res := &ExecResult{Stdout: stdout.buf, Stderr: stderr.buf, ExitCode: code, Truncated: stdout.dropped || stderr.dropped}
	if res.Truncated {
		klog.Warningf("container %s: output of %q truncated at %d bytes per stream", id, cmd, MaxExecOutput)
		res.Stderr = append(res.Stderr, fmt.Sprintf("\n[cri-shim: output truncated at %d bytes per stream]\n", MaxExecOutput)...)
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

// cappedBuffer keeps the first max bytes written to it.
type cappedBuffer struct {
	mu      sync.Mutex
	buf     []byte
	max     int
	dropped bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if room < len(p) {
		b.dropped = true
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}
