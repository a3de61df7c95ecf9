package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server serves /metrics on a TCP address.
type Server struct {
	lis  net.Listener
	http *http.Server
}

// Serve listens on addr (host:port; port 0 picks one) and serves h at
// /metrics in the background until Close.
func Serve(addr string, h http.Handler) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics server on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	s := &Server{lis: lis, http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.http.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			// The listener failed under us: nothing to do but stop serving.
			_ = lis.Close()
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops serving.
func (s *Server) Close() error { return s.http.Close() }
