package cri

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"k8s.io/cri-streaming/pkg/streaming"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/cri-shim/cri-shim/pkg/oci"
)

// StreamRuntime is what the streaming server drives: exec, attach and
// port-forward in the domain packages.
type StreamRuntime interface {
	// Exec runs cmd in a container and returns its exit code.
	Exec(ctx context.Context, id string, cmd []string, eio oci.ExecIO) (int, error)
	// Attach connects to a container's own process.
	Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan oci.TermSize) error
	// PortForward connects stream to a port in a pod's network namespace.
	PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error
}

// StreamServer serves exec, attach and port-forward sessions over SPDY and
// websockets (k8s.io/cri-streaming; stream_ws.go adds the v5 and tunneled
// websocket protocols). URLs carry single-use tokens that expire.
type StreamServer struct {
	streaming.Server
	lis    net.Listener
	http   *http.Server
	rt     StreamRuntime
	tokens *tokenCache
}

// NewStreamServer listens on addr (host:port, port 0 picks one).
func NewStreamServer(addr string, rt StreamRuntime) (*StreamServer, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stream server on %s: %w", addr, err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = lis.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: lis.Addr().String()}
	srv, err := streaming.NewServer(cfg, streamAdapter{rt})
	if err != nil {
		lis.Close()
		return nil, err
	}
	s := &StreamServer{Server: srv, lis: lis, rt: rt, tokens: newTokenCache()}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	return s, nil
}

// Addr is the address the server listens on.
func (s *StreamServer) Addr() string { return s.lis.Addr().String() }

// Serve serves until Close.
func (s *StreamServer) Serve() error {
	if err := s.http.Serve(s.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the server and its sessions.
func (s *StreamServer) Close() error { return s.http.Close() }

type streamAdapter struct{ rt StreamRuntime }

func (a streamAdapter) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	eio := oci.ExecIO{Stdin: in, TTY: tty, Resize: termSizes(ctx, resize)}
	if out != nil {
		eio.Stdout = out
	}
	if errw != nil {
		eio.Stderr = errw
	}
	code, err := a.rt.Exec(ctx, id, cmd, eio)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command %q exited with %d", cmd, code), Code: code}
	}
	return nil
}

func (a streamAdapter) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	var stdout, stderr io.Writer
	if out != nil {
		stdout = out
	}
	if errw != nil {
		stderr = errw
	}
	return a.rt.Attach(ctx, id, in, stdout, stderr, termSizes(ctx, resize))
}

func (a streamAdapter) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	return a.rt.PortForward(ctx, podID, port, stream)
}

// termSizes converts the library's resize events to the domain's.
func termSizes(ctx context.Context, in <-chan remotecommandserver.TerminalSize) <-chan oci.TermSize {
	if in == nil {
		return nil
	}
	out := make(chan oci.TermSize, 1)
	go func() {
		defer close(out)
		for {
			select {
			case sz, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- oci.TermSize{Width: sz.Width, Height: sz.Height}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
