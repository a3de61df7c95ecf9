package cri

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/websocket"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"
)

// The websocket protocols clients of Kubernetes 1.30 and later speak, which
// k8s.io/cri-streaming does not serve: remote command v5 (v4 with a
// half-close of stdin) and port forwarding as SPDY tunneled through a
// websocket. The API server translates both for kubelets; a runtime that
// is reached directly (crictl, critest --websocket-*) serves them itself.
const (
	remoteCommandV5 = "v5.channel.k8s.io"
	portForwardSPDY = "portforward.k8s.io"
	spdyTunnelV1    = "SPDY/3.1+" + portForwardSPDY
)

// Remote command channels.
const (
	stdinChannel = iota
	stdoutChannel
	stderrChannel
	errorChannel
	resizeChannel
)

// tokenTTL is how long an exec or attach URL stays valid, as in cri-streaming.
const tokenTTL = time.Minute

// maxTokens bounds the URLs handed out and not used yet.
const maxTokens = 1000

// tokenCache remembers the exec and attach requests behind the URLs handed
// out, for the v5 websocket sessions served here.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]tokenEntry
}

type tokenEntry struct {
	req     any // *runtimeapi.ExecRequest or *runtimeapi.AttachRequest
	expires time.Time
}

func newTokenCache() *tokenCache { return &tokenCache{entries: map[string]tokenEntry{}} }

// put remembers req under the token of the URL rawURL.
func (c *tokenCache) put(rawURL string, req any) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, e := range c.entries {
		if now.After(e.expires) {
			delete(c.entries, t)
		}
	}
	if len(c.entries) >= maxTokens {
		return // cri-streaming refuses more as well
	}
	c.entries[path.Base(u.Path)] = tokenEntry{req: req, expires: now.Add(tokenTTL)}
}

// take returns and forgets the request under token.
func (c *tokenCache) take(token string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[token]
	delete(c.entries, token)
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	return e.req, true
}

// GetExec returns the URL of an exec session.
func (s *StreamServer) GetExec(req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	resp, err := s.Server.GetExec(req)
	if err == nil {
		s.tokens.put(resp.GetUrl(), req)
	}
	return resp, err
}

// GetAttach returns the URL of an attach session.
func (s *StreamServer) GetAttach(req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	resp, err := s.Server.GetAttach(req)
	if err == nil {
		s.tokens.put(resp.GetUrl(), req)
	}
	return resp, err
}

// ServeHTTP serves v5 websocket exec and attach and tunneled port
// forwarding here, and everything else through cri-streaming.
func (s *StreamServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dir, token := path.Split(r.URL.Path)
	switch {
	case (dir == "/exec/" || dir == "/attach/") && wsstream.IsWebSocketRequestWithStreamCloseProtocol(r):
		s.serveRemoteCommandV5(w, r, token)
	case dir == "/portforward/" && wsstream.IsWebSocketRequestWithTunnelingProtocol(r):
		s.servePortForwardTunnel(w, r)
	default:
		s.Server.ServeHTTP(w, r)
	}
}

// serveRemoteCommandV5 runs an exec or attach session over a v5 websocket.
func (s *StreamServer) serveRemoteCommandV5(w http.ResponseWriter, r *http.Request, token string) {
	cached, ok := s.tokens.take(token)
	if !ok {
		http.NotFound(w, r)
		return
	}
	// run runs the session's process with the session's streams.
	type runFunc func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, resize <-chan remotecommandserver.TerminalSize) error
	var (
		id                         string
		stdin, stdout, stderr, tty bool
		run                        runFunc
		adapter                    = streamAdapter{s.rt}
	)
	switch req := cached.(type) {
	case *runtimeapi.ExecRequest:
		if !strings.HasPrefix(r.URL.Path, "/exec/") {
			http.NotFound(w, r)
			return
		}
		id, stdin, stdout, stderr, tty = req.GetContainerId(), req.GetStdin(), req.GetStdout(), req.GetStderr(), req.GetTty()
		run = func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, resize <-chan remotecommandserver.TerminalSize) error {
			return adapter.Exec(ctx, id, req.GetCmd(), in, out, errw, tty, resize)
		}
	case *runtimeapi.AttachRequest:
		if !strings.HasPrefix(r.URL.Path, "/attach/") {
			http.NotFound(w, r)
			return
		}
		id, stdin, stdout, stderr, tty = req.GetContainerId(), req.GetStdin(), req.GetStdout(), req.GetStderr(), req.GetTty()
		run = func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, resize <-chan remotecommandserver.TerminalSize) error {
			return adapter.Attach(ctx, id, in, out, errw, tty, resize)
		}
	default:
		http.NotFound(w, r)
		return
	}
	if tty {
		stderr = false // a terminal has one output
	}
	channels := make([]wsstream.ChannelType, 5)
	channels[stdinChannel] = channelType(stdin, wsstream.ReadChannel)
	channels[stdoutChannel] = channelType(stdout, wsstream.WriteChannel)
	channels[stderrChannel] = channelType(stderr, wsstream.WriteChannel)
	channels[errorChannel] = wsstream.WriteChannel
	channels[resizeChannel] = wsstream.ReadChannel
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{remoteCommandV5: {Binary: true, Channels: channels}})
	conn.SetIdleTimeout(streaming.DefaultConfig.StreamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		klog.Errorf("stream %s of container %s: websocket: %v", r.URL.Path, id, err)
		return
	}
	defer conn.Close()
	// An empty message on the first output channel tells the client the
	// session is up.
	switch {
	case stdout:
		_, _ = streams[stdoutChannel].Write(nil)
	case stderr:
		_, _ = streams[stderrChannel].Write(nil)
	default:
		_, _ = streams[errorChannel].Write(nil)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var resize chan remotecommandserver.TerminalSize
	if tty {
		resize = make(chan remotecommandserver.TerminalSize)
		go readResizes(ctx, streams[resizeChannel], resize)
	}
	var in io.Reader
	var out, errw io.WriteCloser
	if stdin {
		in = streams[stdinChannel]
	}
	if stdout {
		out = streams[stdoutChannel]
	}
	if stderr {
		errw = streams[stderrChannel]
	}
	err = run(ctx, in, out, errw, resize)
	if werr := writeStatus(streams[errorChannel], err); werr != nil {
		klog.V(4).Infof("stream %s of container %s: status: %v", r.URL.Path, id, werr)
	}
}

func channelType(open bool, t wsstream.ChannelType) wsstream.ChannelType {
	if open {
		return t
	}
	return wsstream.IgnoreChannel
}

// readResizes decodes terminal sizes (JSON) from the resize channel.
func readResizes(ctx context.Context, r io.Reader, out chan<- remotecommandserver.TerminalSize) {
	defer close(out)
	dec := json.NewDecoder(r)
	for {
		var size remotecommandserver.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case out <- size:
		case <-ctx.Done():
			return
		}
	}
}

// sessionStatus is the Kubernetes Status object v4 and v5 sessions end with.
type sessionStatus struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Details *struct {
		Causes []sessionStatusCause `json:"causes,omitempty"`
	} `json:"details,omitempty"`
	Code int32 `json:"code,omitempty"`
}

type sessionStatusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// writeStatus ends a session with its outcome: success, the command's
// non-zero exit code, or an internal error.
func writeStatus(w io.Writer, err error) error {
	st := sessionStatus{Status: "Success"}
	var exitErr utilexec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		st = sessionStatus{
			Status:  "Failure",
			Reason:  remotecommandserver.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", err),
		}
		st.Details = &struct {
			Causes []sessionStatusCause `json:"causes,omitempty"`
		}{Causes: []sessionStatusCause{{Type: remotecommandserver.ExitCodeCauseType, Message: fmt.Sprint(exitErr.ExitStatus())}}}
	default:
		st = sessionStatus{Status: "Failure", Reason: "InternalError", Code: http.StatusInternalServerError,
			Message: fmt.Sprintf("Internal error occurred: %v", err)}
	}
	raw, merr := json.Marshal(&st)
	if merr != nil {
		return merr
	}
	_, werr := w.Write(raw)
	return werr
}

// servePortForwardTunnel serves port forwarding whose SPDY connection is
// tunneled through a websocket: it completes the SPDY upgrade against
// cri-streaming's own handler on a loopback connection (the URL's token is
// still unused there) and relays the SPDY bytes both ways.
func (s *StreamServer) servePortForwardTunnel(w http.ResponseWriter, r *http.Request) {
	upstream, br, err := s.dialSPDY(r.Context(), r.URL.Path)
	if err != nil {
		klog.Errorf("port forward %s: %v", r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer upstream.Close()
	websocket.Server{
		Handshake: func(cfg *websocket.Config, _ *http.Request) error {
			for _, p := range cfg.Protocol {
				if p == spdyTunnelV1 {
					cfg.Protocol = []string{p}
					return nil
				}
			}
			return fmt.Errorf("requested protocols %v are not supported; supports %s", cfg.Protocol, spdyTunnelV1)
		},
		Handler: func(ws *websocket.Conn) {
			ws.PayloadType = websocket.BinaryFrame
			relay(ws, upstream, br)
		},
	}.ServeHTTP(w, r)
}

// dialSPDY opens a loopback connection to this server and upgrades it to
// SPDY port forwarding for path; br holds what the server sent past the
// upgrade response.
func (s *StreamServer) dialSPDY(ctx context.Context, urlPath string) (net.Conn, *bufio.Reader, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr())
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.Addr()+urlPath, nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	req.Header.Set("X-Stream-Protocol-Version", portForwardSPDY)
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, nil, fmt.Errorf("SPDY upgrade refused: %s", resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, br, nil
}

// relay copies websocket messages to upstream and upstream bytes (first
// those already buffered in br) to websocket messages, until either side ends.
func relay(ws *websocket.Conn, upstream net.Conn, br *bufio.Reader) {
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			var msg []byte
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			if _, err := upstream.Write(msg); err != nil {
				return
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := br.Read(buf)
			if n > 0 {
				if werr := websocket.Message.Send(ws, buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	<-done
	upstream.Close()
	ws.Close()
	<-done
}
