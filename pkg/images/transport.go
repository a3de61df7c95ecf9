package images

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// transports hands out the HTTP transports endpoints use, sharing
// connections: one verifying TLS, one not (for insecure registries).
type transports struct {
	base     http.RoundTripper
	mu       sync.Mutex
	insecure http.RoundTripper // made on first use, under mu
}

func newTransports(base http.RoundTripper) *transports {
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 8
		base = t
	}
	return &transports{base: base}
}

// closeIdle closes the connections kept open for the next request: once
// pulls are done, nothing on a node may need them for hours, and each holds
// a socket, buffers and two goroutines. The next pull dials again.
func (t *transports) closeIdle() {
	type idleCloser interface{ CloseIdleConnections() }
	if c, ok := t.base.(idleCloser); ok {
		c.CloseIdleConnections()
	}
	t.mu.Lock()
	insecure := t.insecure
	t.mu.Unlock()
	if c, ok := insecure.(idleCloser); ok && insecure != t.base {
		c.CloseIdleConnections()
	}
}

// forEndpoint returns the transport for ep: TLS verification skipped only
// when ep says so, plain http refused unless ep says so (go-containerregistry
// would otherwise fall back to http for localhost and private addresses),
// and ep's path prefix put before /v2/.
func (t *transports) forEndpoint(ep config.Endpoint) http.RoundTripper {
	rt := t.base
	if ep.SkipTLSVerify {
		rt = t.insecureTransport()
	}
	return &endpointTransport{base: rt, ep: ep}
}

// insecureTransport is the base transport without TLS verification, made
// once.
func (t *transports) insecureTransport() http.RoundTripper {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.insecure == nil {
		t.insecure = t.base
		if ht, ok := t.base.(*http.Transport); ok {
			c := ht.Clone()
			if c.TLSClientConfig == nil {
				c.TLSClientConfig = &tls.Config{}
			}
			c.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // only for registries configured insecure
			t.insecure = c
		}
	}
	return t.insecure
}

// endpointTransport enforces an endpoint's scheme and adds its path prefix.
type endpointTransport struct {
	base http.RoundTripper
	ep   config.Endpoint
}

// errHTTPOnly refuses https to an endpoint written http://.
var errHTTPOnly = errors.New("the endpoint is configured http://")

func (t *endpointTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !t.ep.PlainHTTP {
		return nil, fmt.Errorf("refusing plain http to %s: endpoint %s is not configured for http: %w",
			req.URL.Host, t.ep.Host, errdefs.ErrFailedPrecondition)
	}
	// go-containerregistry pings a registry it may reach over http with
	// https and http at once. A mirror written http:// (PlainHTTP without
	// SkipTLSVerify, which an insecure registry has) is not tried over
	// https: that was a TLS handshake on every pull, its code and key
	// generation run for nothing. Other hosts (a token server) keep https.
	if req.URL.Scheme == "https" && t.ep.PlainHTTP && !t.ep.SkipTLSVerify && strings.EqualFold(req.URL.Host, t.ep.Host) {
		return nil, fmt.Errorf("refusing https to %s: %w", req.URL.Host, errHTTPOnly)
	}
	if t.ep.PathPrefix != "" && strings.EqualFold(req.URL.Host, t.ep.Host) && strings.HasPrefix(req.URL.Path, "/v2") {
		req = req.Clone(req.Context())
		req.URL.Path = t.ep.PathPrefix + req.URL.Path
		if req.URL.RawPath != "" {
			req.URL.RawPath = t.ep.PathPrefix + req.URL.RawPath
		}
	}
	return t.base.RoundTrip(req)
}
