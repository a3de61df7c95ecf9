// Package errdefs defines the error kinds the domain packages return, so that
// the CRI layer can map them to gRPC status codes without knowing their causes.
//
// Domain code wraps a kind with the object it concerns:
//
//	fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
package errdefs

import (
	"context"
	"errors"
)

// Error kinds. Each maps to one gRPC status code in pkg/cri.
var (
	// ErrNotFound: the named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: an object with that name or ID exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidArgument: the request is malformed or asks for something impossible.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrFailedPrecondition: the object is not in a state that allows the call.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnavailable: a dependency (registry, CNI plugin) cannot be reached now.
	ErrUnavailable = errors.New("unavailable")
	// ErrNotImplemented: the runtime does not support the call or option.
	ErrNotImplemented = errors.New("not implemented")
	// ErrResourceExhausted: a limit was reached (disk, size or count bounds).
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrPermissionDenied: the caller or the host forbids the operation.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrDeadlineExceeded: an operation ran out of time (pull progress, exec timeout).
	ErrDeadlineExceeded = errors.New("deadline exceeded")
)

// IsNotFound reports whether err is of kind ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsAlreadyExists reports whether err is of kind ErrAlreadyExists.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsInvalidArgument reports whether err is of kind ErrInvalidArgument.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// IsDeadlineExceeded reports whether err is of kind ErrDeadlineExceeded or a
// context deadline.
func IsDeadlineExceeded(err error) bool {
	return errors.Is(err, ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}
