package spec

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// ociNamespace is the containerd namespace oci.GenerateSpec requires; it only
// shapes the default cgroups path, which Build replaces.
const ociNamespace = "k8s.io"

// Build returns the OCI spec for one container. in.Rootfs is the mounted
// overlay (its /etc/passwd and /etc/group are read through securejoin to
// resolve user names and groups). Errors name the container and wrap an
// errdefs kind.
func Build(ctx context.Context, in *Input) (*specs.Spec, error) {
	if in == nil {
		return nil, fmt.Errorf("build container spec: nil input: %w", errdefs.ErrInvalidArgument)
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	s, err := in.baseSpec(ctx)
	if err != nil {
		return nil, err
	}
	b := &builder{in: in, ctx: ctx, s: s}
	steps := []func() error{
		b.process,
		b.user,
		b.namespaces,
		b.mounts,
		b.userNamespace,
		b.paths,
		b.devices,
		b.capabilities,
		b.privileged,
		b.restrictions,
		b.resources,
		b.seccomp,
		b.apparmor,
		b.annotations,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// builder carries one Build call's state between its steps.
type builder struct {
	in  *Input
	ctx context.Context
	s   *specs.Spec

	hostCaps []string // the daemon's capabilities, read once on demand
}

// apply runs containerd oci.SpecOpts against the spec under construction.
func (b *builder) apply(opts ...oci.SpecOpts) error {
	return oci.ApplyOpts(b.ctx, nil, &containers.Container{ID: b.in.ID}, b.s, opts...)
}

// validate checks the fields every step relies on.
func (in *Input) validate() error {
	if in.ID == "" {
		return fmt.Errorf("build container spec: empty container ID: %w", errdefs.ErrInvalidArgument)
	}
	if in.Rootfs == "" || !filepath.IsAbs(in.Rootfs) {
		return in.errorf(errdefs.ErrInvalidArgument, "rootfs %q is not an absolute path", in.Rootfs)
	}
	if in.CgroupsPath == "" {
		return in.errorf(errdefs.ErrInvalidArgument, "no cgroups path")
	}
	return nil
}

// baseSpec is containerd's default Linux spec less what its CRI plugin
// removes: the /run tmpfs, the rlimits (containers inherit the daemon's),
// no_new_privs (set from the request) and any default LSM profile.
func (in *Input) baseSpec(ctx context.Context) (*specs.Spec, error) {
	ctx = namespaces.WithNamespace(ctx, ociNamespace)
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: in.ID}, oci.WithoutRunMount)
	if err != nil {
		return nil, in.wrap(err, "generate default spec")
	}
	s.Root = &specs.Root{Path: in.Rootfs}
	s.Process.Rlimits = nil
	s.Process.NoNewPrivileges = false
	s.Process.ApparmorProfile = ""
	s.Linux.Seccomp = nil
	s.Linux.CgroupsPath = in.CgroupsPath
	return s, nil
}

// displayName is how errors name the container.
func (in *Input) displayName() string {
	if in.Name != "" {
		return in.Name
	}
	return in.ID
}

// errorf returns an error of the given errdefs kind naming the container.
// format may wrap a cause with %w too.
func (in *Input) errorf(kind error, format string, args ...any) error {
	all := make([]any, 0, len(args)+2)
	all = append(all, in.displayName())
	all = append(all, args...)
	return fmt.Errorf("container %q: "+format+": %w", append(all, kind)...)
}

// wrap wraps err with what was being done and the container's name.
func (in *Input) wrap(err error, what string) error {
	return fmt.Errorf("container %q: %s: %w", in.displayName(), what, err)
}
