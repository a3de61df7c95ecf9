package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/images"
)

// SocketName is the admin socket's name in the state dir.
const SocketName = "admin.sock"

// ImportPath is the URL path of the import call: POST the archive as the body.
const ImportPath = "/images/import"

// Importer stores the images of an archive (images.Service does).
type Importer interface {
	Import(ctx context.Context, r io.Reader) ([]images.ImportedImage, error)
}

// ImportResult is the import call's answer.
type ImportResult struct {
	Images []images.ImportedImage `json:"images,omitempty"`
	Error  string                 `json:"error,omitempty"`
}

// Server is the admin API on its socket.
type Server struct {
	srv *http.Server
	lis net.Listener
}

// Serve listens on the unix socket path (mode 0600, replacing a stale
// socket) and serves the admin API until Close.
func Serve(path string, imp Importer) (*Server, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("admin socket %s: exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("admin socket %s: remove stale: %w", path, err)
		}
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = lis.Close()
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ImportPath, func(w http.ResponseWriter, r *http.Request) {
		serveImport(w, r, imp)
	})
	s := &Server{lis: lis, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.Errorf("admin socket %s: %v", path, err)
		}
	}()
	return s, nil
}

// Close stops serving; calls in flight are cut.
func (s *Server) Close() error {
	return s.srv.Close()
}

func serveImport(w http.ResponseWriter, r *http.Request, imp Importer) {
	imgs, err := imp.Import(r.Context(), r.Body)
	res := ImportResult{Images: imgs}
	code := http.StatusOK
	if err != nil {
		klog.Errorf("import: %v", err)
		res.Error = err.Error()
		code = statusOf(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}

// statusOf maps error kinds to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errdefs.ErrInvalidArgument):
		return http.StatusBadRequest
	case errors.Is(err, errdefs.ErrResourceExhausted):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errdefs.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}
