package spec

import (
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Real-time signal range on Linux as libc reports it (glibc reserves 32 and 33).
const (
	sigRTMin = 34
	sigRTMax = 64
)

// StopSignal returns the signal that stops the container: the request's
// StopSignal, else the image's STOPSIGNAL, else SIGTERM. Names may omit the
// SIG prefix; numbers and SIGRTMIN+n / SIGRTMAX-n are accepted.
func StopSignal(in *Input) (syscall.Signal, error) {
	name := in.StopSignal
	if name == "" {
		name = in.ImageConfig.StopSignal
	}
	if name == "" {
		return syscall.SIGTERM, nil
	}
	sig, ok := parseSignal(name)
	if !ok {
		return 0, in.errorf(errdefs.ErrInvalidArgument, "invalid stop signal %q", name)
	}
	return sig, nil
}

// parseSignal parses a signal name or number.
func parseSignal(s string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return syscall.Signal(n), n > 0 && n <= sigRTMax
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	for _, rt := range []struct {
		prefix string
		base   int
		sign   int
	}{{"SIGRTMIN+", sigRTMin, 1}, {"SIGRTMAX-", sigRTMax, -1}} {
		if rest, ok := strings.CutPrefix(name, rt.prefix); ok {
			n, err := strconv.Atoi(rest)
			v := rt.base + rt.sign*n
			return syscall.Signal(v), err == nil && n >= 0 && v >= sigRTMin && v <= sigRTMax
		}
	}
	switch name {
	case "SIGRTMIN":
		return sigRTMin, true
	case "SIGRTMAX":
		return sigRTMax, true
	}
	sig := unix.SignalNum(name)
	return sig, sig != 0
}
