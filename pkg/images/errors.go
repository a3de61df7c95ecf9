package images

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// ggcrVerifyErrors are the messages of go-containerregistry's own content
// checks (it has no error values for them): the content was wrong, not the
// network.
var ggcrVerifyErrors = []string{"does not match requested digest", "error verifying sha256 checksum", "error verifying size"}

// diskFull reports whether err is this host running out of disk space or
// quota: no other endpoint can help with that.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// classify gives a registry failure its errdefs kind: not found, denied,
// or (network errors, server errors, rate limits) unavailable.
func classify(err error) error {
	if err == nil || hasKind(err) {
		return err
	}
	if diskFull(err) {
		return fmt.Errorf("%w: %w", err, errdefs.ErrResourceExhausted)
	}
	msg := err.Error()
	for _, s := range ggcrVerifyErrors {
		if strings.Contains(msg, s) {
			return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%w: %w", err, errdefs.ErrPermissionDenied)
			}
		}
		switch terr.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %w", err, errdefs.ErrPermissionDenied)
		}
	}
	return fmt.Errorf("%w: %w", err, errdefs.ErrUnavailable)
}
