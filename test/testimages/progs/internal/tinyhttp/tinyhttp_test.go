package tinyhttp

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	var (
		mu   sync.Mutex
		logs []Request
	)
	body := []byte("<h1>hello</h1>\n")
	go func() {
		_ = Serve(ln, "test/1.0", "text/html", body, func(r Request) {
			mu.Lock()
			logs = append(logs, r)
			mu.Unlock()
		})
	}()
	url := "http://" + ln.Addr().String() + "/some/path?q=1"

	// Several requests over one keep-alive connection, as Go's client does.
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := 0; i < 3; i++ {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || string(got) != string(body) || resp.Header.Get("Server") != "test/1.0" {
			t.Fatalf("GET: %d %q %v", resp.StatusCode, got, resp.Header)
		}
	}

	resp, err := client.Head(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(body)) {
		t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}

	resp, err = client.Post(url, "text/plain", strings.NewReader("some request body"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != string(body) {
		t.Fatalf("POST: %d %q", resp.StatusCode, got)
	}

	// HTTP/1.0 without keep-alive: the server closes after the response.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(string(raw), string(body)) {
		t.Fatalf("HTTP/1.0 response %q", raw)
	}

	// Garbage gets a 400.
	conn2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if _, err := io.WriteString(conn2, "hello\r\n"); err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(conn2)
	if !strings.HasPrefix(string(raw), "HTTP/1.1 400 ") {
		t.Fatalf("bad request response %q", raw)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(logs) != 6 || logs[0].Method != "GET" || logs[0].URI != "/some/path?q=1" {
		t.Fatalf("access log %+v", logs)
	}
}
