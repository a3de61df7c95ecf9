// Package tinyhttp is a minimal HTTP/1.x server for the test image programs:
// every request gets "200 OK" and the same page. It avoids net/http, which
// would make the first (cold cache) build of the programs several times
// slower.
package tinyhttp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Request is what the access log callback gets.
type Request struct {
	RemoteAddr, Method, URI, Proto, UserAgent string
	Bytes                                     int
}

const (
	idleTimeout  = 75 * time.Second
	maxHeaderLen = 64 << 10
)

// Serve answers every request on ln with 200 and body until ln fails.
func Serve(ln net.Listener, server, contentType string, body []byte, logf func(Request)) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		go handle(conn, server, contentType, body, logf)
	}
}

func handle(conn net.Conn, server, contentType string, body []byte, logf func(Request)) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	bw := bufio.NewWriter(conn)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(idleTimeout))
		line, err := readLine(br)
		if err != nil {
			return
		}
		if line == "" { // tolerate stray CRLF between requests
			continue
		}
		parts := strings.Fields(line)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/1.") {
			_, _ = bw.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			_ = bw.Flush()
			return
		}
		method, uri, proto := parts[0], parts[1], parts[2]

		headers := map[string]string{}
		size := len(line)
		for {
			h, err := readLine(br)
			if err != nil {
				return
			}
			if h == "" {
				break
			}
			if size += len(h); size > maxHeaderLen {
				return
			}
			k, v, ok := strings.Cut(h, ":")
			if ok {
				headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}

		keepAlive := proto == "HTTP/1.1"
		switch strings.ToLower(headers["connection"]) {
		case "close":
			keepAlive = false
		case "keep-alive":
			keepAlive = true
		}
		if te := headers["transfer-encoding"]; te != "" && !strings.EqualFold(te, "identity") {
			keepAlive = false // we do not parse chunked request bodies
		} else if cl := headers["content-length"]; cl != "" {
			n, err := strconv.ParseInt(cl, 10, 64)
			if err != nil || n < 0 {
				return
			}
			if _, err := io.CopyN(io.Discard, br, n); err != nil {
				return
			}
		}

		_ = conn.SetReadDeadline(time.Time{})
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nServer: %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n",
			server, time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"), contentType, len(body))
		if keepAlive {
			_, _ = bw.WriteString("Connection: keep-alive\r\n\r\n")
		} else {
			_, _ = bw.WriteString("Connection: close\r\n\r\n")
		}
		if method != "HEAD" {
			_, _ = bw.Write(body)
		}
		if err := bw.Flush(); err != nil {
			return
		}
		if logf != nil {
			logf(Request{RemoteAddr: conn.RemoteAddr().String(), Method: method, URI: uri, Proto: proto,
				UserAgent: headers["user-agent"], Bytes: len(body)})
		}
		if !keepAlive {
			return
		}
	}
}

func readLine(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		sb.Write(chunk)
		if sb.Len() > maxHeaderLen {
			return "", errors.New("header line too long")
		}
		if !isPrefix {
			return sb.String(), nil
		}
	}
}
