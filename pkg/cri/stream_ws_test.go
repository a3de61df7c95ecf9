package cri

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/streaming/pkg/httpstream/spdy"

	"github.com/cri-shim/cri-shim/pkg/oci"
)

// echoRuntime echoes stdin to stdout in exec and attach (exit code 3 for
// exec of "fail"), and echoes port-forwarded bytes with a prefix.
type echoRuntime struct{}

func (echoRuntime) Exec(ctx context.Context, id string, cmd []string, eio oci.ExecIO) (int, error) {
	if eio.Stdin != nil && eio.Stdout != nil {
		if _, err := io.Copy(eio.Stdout, eio.Stdin); err != nil {
			return 0, err
		}
	}
	if len(cmd) > 0 && cmd[0] == "fail" {
		return 3, nil
	}
	return 0, nil
}

func (echoRuntime) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan oci.TermSize) error {
	_, err := io.Copy(stdout, stdin)
	return err
}

func (echoRuntime) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	buf := make([]byte, 64)
	n, err := stream.Read(buf)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stream, "pod %s port %d got %s", podID, port, buf[:n])
	return err
}

func startStreamServer(t *testing.T) *StreamServer {
	t.Helper()
	s, err := NewStreamServer("127.0.0.1:0", echoRuntime{})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve() }()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func dialWS(t *testing.T, rawURL, protocol string) *websocket.Conn {
	t.Helper()
	cfg, err := websocket.NewConfig(strings.Replace(rawURL, "http://", "ws://", 1), "http://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = []string{protocol}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatalf("dial %s (%s): %v", rawURL, protocol, err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// readChannels reads frames until the error channel's status and returns
// the bytes per channel.
func readChannels(t *testing.T, ws *websocket.Conn) map[byte][]byte {
	t.Helper()
	out := map[byte][]byte{}
	_ = ws.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("receive: %v", err)
		}
		if len(msg) == 0 {
			continue
		}
		out[msg[0]] = append(out[msg[0]], msg[1:]...)
		if msg[0] == errorChannel && len(msg) > 1 {
			return out
		}
	}
}

func TestExecOverWebsocketV5(t *testing.T) {
	s := startStreamServer(t)
	for _, tc := range []struct {
		cmd    string
		status string
		exit   string
	}{{"cat", "Success", ""}, {"fail", "Failure", "3"}} {
		resp, err := s.GetExec(&runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{tc.cmd}, Stdin: true, Stdout: true})
		if err != nil {
			t.Fatal(err)
		}
		ws := dialWS(t, resp.GetUrl(), remoteCommandV5)
		if err := websocket.Message.Send(ws, append([]byte{stdinChannel}, "hello"...)); err != nil {
			t.Fatal(err)
		}
		// v5: the client half-closes stdin; the command sees EOF and ends.
		if err := websocket.Message.Send(ws, []byte{255, stdinChannel}); err != nil {
			t.Fatal(err)
		}
		got := readChannels(t, ws)
		if string(got[stdoutChannel]) != "hello" {
			t.Errorf("%s: stdout %q", tc.cmd, got[stdoutChannel])
		}
		var st sessionStatus
		if err := json.Unmarshal(got[errorChannel], &st); err != nil {
			t.Fatalf("status %q: %v", got[errorChannel], err)
		}
		if st.Status != tc.status || (tc.exit != "" && (st.Details == nil || st.Details.Causes[0].Message != tc.exit)) {
			t.Errorf("%s: status %+v", tc.cmd, st)
		}
		// The URL is single-use.
		cfg, _ := websocket.NewConfig(strings.Replace(resp.GetUrl(), "http://", "ws://", 1), "http://127.0.0.1/")
		cfg.Protocol = []string{remoteCommandV5}
		if ws, err := websocket.DialConfig(cfg); err == nil {
			ws.Close()
			t.Errorf("%s: URL used twice", tc.cmd)
		}
	}
}

func TestAttachOverWebsocketV5(t *testing.T) {
	s := startStreamServer(t)
	resp, err := s.GetAttach(&runtimeapi.AttachRequest{ContainerId: "c1", Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	// An attach URL is no exec URL.
	execURL := strings.Replace(resp.GetUrl(), "/attach/", "/exec/", 1)
	cfg, _ := websocket.NewConfig(strings.Replace(execURL, "http://", "ws://", 1), "http://127.0.0.1/")
	cfg.Protocol = []string{remoteCommandV5}
	if ws, err := websocket.DialConfig(cfg); err == nil {
		ws.Close()
		t.Fatal("attach token served an exec")
	}
	resp, err = s.GetAttach(&runtimeapi.AttachRequest{ContainerId: "c1", Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	ws := dialWS(t, resp.GetUrl(), remoteCommandV5)
	_ = websocket.Message.Send(ws, append([]byte{stdinChannel}, "hi"...))
	_ = websocket.Message.Send(ws, []byte{255, stdinChannel})
	if got := readChannels(t, ws); string(got[stdoutChannel]) != "hi" || !bytes.Contains(got[errorChannel], []byte(`"Success"`)) {
		t.Fatalf("got %q", got)
	}
}

func TestOlderWebsocketProtocolsStillServed(t *testing.T) {
	s := startStreamServer(t)
	resp, err := s.GetExec(&runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"true"}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	ws := dialWS(t, resp.GetUrl(), "v4.channel.k8s.io")
	if got := readChannels(t, ws); !bytes.Contains(got[errorChannel], []byte(`"Success"`)) {
		t.Fatalf("v4 session: %q", got)
	}
}

func TestPortForwardThroughWebsocketTunnel(t *testing.T) {
	s := startStreamServer(t)
	resp, err := s.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: "pod1"})
	if err != nil {
		t.Fatal(err)
	}
	ws := dialWS(t, resp.GetUrl(), spdyTunnelV1)
	ws.PayloadType = websocket.BinaryFrame
	conn, err := spdy.NewClientConnection(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	headers := http.Header{}
	headers.Set(portforward.StreamType, portforward.StreamTypeError)
	headers.Set(portforward.PortHeader, "8080")
	headers.Set(portforward.PortForwardRequestIDHeader, "0")
	errStream, err := conn.CreateStream(headers)
	if err != nil {
		t.Fatal(err)
	}
	defer errStream.Reset()
	headers.Set(portforward.StreamType, portforward.StreamTypeData)
	data, err := conn.CreateStream(headers)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := data.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(data)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "pod pod1 port 8080 got ping" {
		t.Fatalf("got %q", got)
	}
}

func TestTokenCacheExpiresAndBounds(t *testing.T) {
	c := newTokenCache()
	c.put("http://h/exec/tok1", 1)
	if v, ok := c.take("tok1"); !ok || v != 1 {
		t.Fatalf("take: %v %v", v, ok)
	}
	if _, ok := c.take("tok1"); ok {
		t.Fatal("taken twice")
	}
	c.put("http://h/exec/old", 2)
	c.mu.Lock()
	e := c.entries["old"]
	e.expires = time.Now().Add(-time.Second)
	c.entries["old"] = e
	c.mu.Unlock()
	if _, ok := c.take("old"); ok {
		t.Fatal("expired token served")
	}
	for i := range maxTokens + 10 {
		c.put(fmt.Sprintf("http://h/exec/t%d", i), i)
	}
	if n := len(c.entries); n > maxTokens {
		t.Fatalf("%d tokens kept", n)
	}
}
