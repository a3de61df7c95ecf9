package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// TestDiskFullStopsEndpoints: a blob that cannot be written because the
// local disk is full is of kind ErrResourceExhausted and ends the tries
// (another endpoint would fill the same disk), whatever the endpoint.
func TestDiskFullStopsEndpoints(t *testing.T) {
	var a attemptErrors
	full := fmt.Errorf("blob b: after 10 bytes: %w", &os.PathError{Op: "write", Path: "/root/images/tmp/blob-1", Err: syscall.ENOSPC})
	if !a.add(context.Background(), "http://127.0.0.1:5000 (mirror)", full) {
		t.Error("a full disk did not stop the tries")
	}
	err := a.err("image i: blob b")
	if !errors.Is(err, errdefs.ErrResourceExhausted) || errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("kind of %v: want resource exhausted only", err)
	}
	var b attemptErrors
	if b.add(context.Background(), "http://127.0.0.1:5000 (mirror)", errors.New("connection refused")) {
		t.Error("a network error stopped the tries")
	}
}
