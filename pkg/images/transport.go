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
	once     sync.Once
	insecure http.RoundTripper
}

func newTransports(base http.RoundTripper) *transports {
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 8
		base = t
	}
	return &transports{base: base}
}

// forEndpoint returns the transport for ep: TLS verification skipped only
// when ep says so, plain http refused unless ep says so (go-containerregistry
// would otherwise fall back to http for localhost and private addresses),
// and ep's path prefix put before /v2/.
func (t *transports) forEndpoint(ep config.Endpoint) http.RoundTripper {
	rt := t.base
	if ep.SkipTLSVerify {
		t.once.Do(func() {
			if ht, ok := t.base.(*http.Transport); ok {
				c := ht.Clone()
				if c.TLSClientConfig == nil {
					c.TLSClientConfig = &tls.Config{}
				}
				c.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // only for registries configured insecure
				t.insecure = c
			} else {
				t.insecure = t.base
			}
		})
		rt = t.insecure
	}
	return &endpointTransport{base: rt, ep: ep}
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
