package images

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cri-shim/cri-shim/pkg/config"
)

// recordingTransport answers 200 and records the URLs it was asked for.
type recordingTransport struct{ urls []string }

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.urls = append(r.urls, req.URL.String())
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

// TestEndpointSchemes: an endpoint written http:// is never tried over
// https (go-containerregistry's ping would), an insecure registry is, a
// token server elsewhere keeps https, and plain http is refused where the
// endpoint did not ask for it.
func TestEndpointSchemes(t *testing.T) {
	for _, tc := range []struct {
		name string
		ep   config.Endpoint
		url  string
		sent bool
	}{
		{"http mirror over https", config.Endpoint{Host: "mirror:5000", PlainHTTP: true}, "https://mirror:5000/v2/", false},
		{"http mirror over http", config.Endpoint{Host: "mirror:5000", PlainHTTP: true}, "http://mirror:5000/v2/", true},
		{"http mirror's token server", config.Endpoint{Host: "mirror:5000", PlainHTTP: true}, "https://auth.example/token", true},
		{"insecure registry over https", config.Endpoint{Host: "reg:5000", PlainHTTP: true, SkipTLSVerify: true}, "https://reg:5000/v2/", true},
		{"insecure registry over http", config.Endpoint{Host: "reg:5000", PlainHTTP: true, SkipTLSVerify: true}, "http://reg:5000/v2/", true},
		{"https registry over http", config.Endpoint{Host: "reg.example"}, "http://reg.example/v2/", false},
		{"https registry over https", config.Endpoint{Host: "reg.example"}, "https://reg.example/v2/", true},
	} {
		base := &recordingTransport{}
		rt := newTransports(base).forEndpoint(tc.ep)
		req, err := http.NewRequest(http.MethodGet, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rt.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		if sent := len(base.urls) == 1; sent != tc.sent || (err == nil) != tc.sent {
			t.Errorf("%s: sent %v (%v), err %v; want sent %v", tc.name, sent, base.urls, err, tc.sent)
		}
		if tc.ep.PlainHTTP && !tc.ep.SkipTLSVerify && !tc.sent && !errors.Is(err, errHTTPOnly) {
			t.Errorf("%s: %v, want errHTTPOnly", tc.name, err)
		}
	}
}

// TestCloseIdleClosesRegistryConnections: the connections a pull left open
// for the next request (of the verifying transport and of the insecure one)
// are closed by closeIdle, which the idle trim calls once pulls are done,
// and the transports still work afterwards.
func TestCloseIdleClosesRegistryConnections(t *testing.T) {
	var mu sync.Mutex
	states := map[net.Conn]http.ConnState{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		states[c] = s
		mu.Unlock()
	}
	defer srv.Close()
	count := func(want http.ConnState) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range states {
			if s == want {
				n++
			}
		}
		return n
	}
	waitFor := func(what string, want http.ConnState, n int) {
		t.Helper()
		for i := 0; count(want) != n; i++ {
			if i == 500 {
				t.Fatalf("%s: %d connections %v, want %d", what, count(want), want, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ts := newTransports(nil)
	host := strings.TrimPrefix(srv.URL, "http://")
	get := func(ep config.Endpoint) {
		t.Helper()
		resp, err := (&http.Client{Transport: ts.forEndpoint(ep)}).Get(srv.URL + "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get(config.Endpoint{Host: host, PlainHTTP: true})
	get(config.Endpoint{Host: host, PlainHTTP: true, SkipTLSVerify: true})
	waitFor("after two pulls", http.StateIdle, 2)
	ts.closeIdle()
	waitFor("after closeIdle", http.StateClosed, 2)
	get(config.Endpoint{Host: host, PlainHTTP: true})
	waitFor("after another pull", http.StateIdle, 1)
	ts.closeIdle()
	waitFor("after the second closeIdle", http.StateClosed, 3)
}

// TestIdleTrimReleases: the trim lets go of what pulls kept before it
// returns the heap.
func TestIdleTrimReleases(t *testing.T) {
	released := 0
	tr := idleTrim{release: func() { released++ }}
	tr.begin()
	tr.fire() // a pull is in flight: nothing happens
	tr.end()
	tr.timer.Stop()
	tr.fire()
	if released != 1 {
		t.Fatalf("released %d times, want once (after the pull)", released)
	}
}
