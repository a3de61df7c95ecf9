package spec

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// localhostPrefix is the legacy "localhost/<ref>" profile prefix.
const localhostPrefix = "localhost/"

// maxSeccompProfileBytes bounds a Localhost seccomp profile file.
const maxSeccompProfileBytes = 16 << 20

// seccomp sets the seccomp filter: none when unset, unconfined or privileged;
// containerd's default profile (which depends on the capabilities, so this
// runs after them) for RuntimeDefault; the JSON file for Localhost.
func (b *builder) seccomp() error {
	in := b.in
	sp := in.Security.Seccomp
	if sp == nil || in.Security.Privileged {
		return nil
	}
	if sp.Type != ProfileLocalhost && sp.LocalhostRef != "" {
		return in.errorf(errdefs.ErrInvalidArgument, "seccomp localhost_ref %q is only allowed with a Localhost profile", sp.LocalhostRef)
	}
	switch sp.Type {
	case ProfileUnconfined:
		return nil
	case ProfileRuntimeDefault:
		b.s.Linux.Seccomp = seccomp.DefaultProfile(b.s)
		return nil
	case ProfileLocalhost:
		profile, err := in.loadSeccompProfile(strings.TrimPrefix(sp.LocalhostRef, localhostPrefix))
		if err != nil {
			return err
		}
		b.s.Linux.Seccomp = profile
		return nil
	default:
		return in.errorf(errdefs.ErrInvalidArgument, "unknown seccomp profile type %d", sp.Type)
	}
}

// loadSeccompProfile reads an OCI seccomp JSON profile from an absolute host path.
func (in *Input) loadSeccompProfile(path string) (*specs.LinuxSeccomp, error) {
	if path == "" || !filepath.IsAbs(path) {
		return nil, in.errorf(errdefs.ErrInvalidArgument, "seccomp profile path %q is not absolute", path)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, in.errorf(errdefs.ErrNotFound, "seccomp profile %q does not exist", path)
	}
	if err != nil {
		return nil, in.wrap(err, "stat seccomp profile")
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxSeccompProfileBytes {
		return nil, in.errorf(errdefs.ErrInvalidArgument, "seccomp profile %q is not a regular file of at most %d bytes", path, maxSeccompProfileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, in.wrap(err, "read seccomp profile")
	}
	var profile specs.LinuxSeccomp
	if err := json.Unmarshal(data, &profile); err != nil {
		return nil, in.errorf(errdefs.ErrInvalidArgument, "seccomp profile %q is not valid JSON: %w", path, err)
	}
	return &profile, nil
}
