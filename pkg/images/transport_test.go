package images

import (
	"errors"
	"net/http"
	"testing"

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
