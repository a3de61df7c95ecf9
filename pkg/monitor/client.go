package monitor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// maxFrame bounds a frame a client accepts.
const maxFrame = 1 << 20

// Conn is a connection to a monitor's socket.
type Conn struct {
	c  net.Conn
	wm sync.Mutex
}

// Dial connects to a monitor's socket.
func Dial(ctx context.Context, socket string) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("monitor socket %s: %w", socket, err)
	}
	return &Conn{c: c}, nil
}

// Close closes the connection; with StdinOnce it ends the container's stdin.
func (c *Conn) Close() error { return c.c.Close() }

// WriteFrame sends one frame.
func (c *Conn) WriteFrame(typ byte, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(payload), maxFrame)
	}
	hdr := [5]byte{typ}
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	c.wm.Lock()
	defer c.wm.Unlock()
	if _, err := c.c.Write(hdr[:]); err != nil {
		return err
	}
	_, err := c.c.Write(payload)
	return err
}

// ReadFrame reads one frame.
func (c *Conn) ReadFrame() (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(c.c, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds %d", n, maxFrame)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.c, p); err != nil {
		return 0, nil, err
	}
	return hdr[0], p, nil
}

// Resize sets the terminal size of a tty container.
func (c *Conn) Resize(rows, cols uint16) error {
	var p [4]byte
	binary.BigEndian.PutUint16(p[:2], rows)
	binary.BigEndian.PutUint16(p[2:], cols)
	return c.WriteFrame(FrameResize, p[:])
}

// Stdin returns a writer that sends to the container's stdin; closing it
// closes the container's stdin.
func (c *Conn) Stdin() io.WriteCloser { return stdinWriter{c} }

type stdinWriter struct{ c *Conn }

func (w stdinWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += 32 << 10 {
		end := min(off+32<<10, len(p))
		if err := w.c.WriteFrame(FrameStdin, p[off:end]); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

func (w stdinWriter) Close() error { return w.c.WriteFrame(FrameCloseStdin, nil) }

// Copy copies the container's output to stdout and stderr (either may be nil)
// until the container exits, returning its exit code, or until the connection ends.
func (c *Conn) Copy(stdout, stderr io.Writer) (exitCode int, err error) {
	for {
		typ, p, err := c.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return -1, io.ErrUnexpectedEOF
			}
			return -1, err
		}
		switch typ {
		case FrameStdout:
			if stdout != nil {
				if _, err := stdout.Write(p); err != nil {
					return -1, err
				}
			}
		case FrameStderr:
			if stderr != nil {
				if _, err := stderr.Write(p); err != nil {
					return -1, err
				}
			}
		case FrameExit:
			if len(p) == 4 {
				return int(int32(binary.BigEndian.Uint32(p))), nil
			}
			return -1, errors.New("bad exit frame")
		}
	}
}

// ReopenLog asks the monitor at socket to reopen its log file (after the
// kubelet rotated it) and waits for its answer.
func ReopenLog(ctx context.Context, socket string) error {
	c, err := Dial(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.c.SetDeadline(dl)
	}
	if err := c.WriteFrame(FrameReopenLog, nil); err != nil {
		return err
	}
	for {
		typ, p, err := c.ReadFrame()
		if err != nil {
			return fmt.Errorf("reopen log: %w", err)
		}
		if typ == FrameReopenLog {
			if len(p) > 0 {
				// The file could not be opened (a symlink where it was,
				// a directory gone): the old file stays in use.
				return fmt.Errorf("reopen log: %s: %w", p, errdefs.ErrFailedPrecondition)
			}
			return nil
		}
	}
}
