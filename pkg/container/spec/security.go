package spec

import (
	"maps"
	"slices"

	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// paths sets the masked and read-only paths: the request's when given (an
// empty non-nil slice clears them), else containerd's defaults already in
// the base spec. Privileged containers lose them later.
func (b *builder) paths() error {
	sc := b.in.Security
	if sc.MaskedPaths != nil {
		b.s.Linux.MaskedPaths = slices.Clone(sc.MaskedPaths)
	}
	if sc.ReadonlyPaths != nil {
		b.s.Linux.ReadonlyPaths = slices.Clone(sc.ReadonlyPaths)
	}
	return nil
}

// privileged lifts confinement for a privileged container in a privileged
// pod: every capability the daemon has, every host device, no masked or
// read-only paths, writable sysfs and cgroupfs. Seccomp and AppArmor are
// skipped by their own steps.
func (b *builder) privileged() error {
	in := b.in
	if !in.Security.Privileged {
		return nil
	}
	if !in.Sandbox.Privileged {
		return in.errorf(errdefs.ErrInvalidArgument, "privileged container in a pod that is not privileged")
	}
	host, err := b.daemonCaps()
	if err != nil {
		return err
	}
	b.setCaps(host)
	b.s.Linux.MaskedPaths = nil
	b.s.Linux.ReadonlyPaths = nil
	if err := b.apply(oci.WithWriteableSysfs, oci.WithWriteableCgroupfs, oci.WithHostDevices, oci.WithAllDevicesAllowed); err != nil {
		return in.wrap(err, "add host devices")
	}
	return nil
}

// restrictions sets no_new_privs, the read-only rootfs and the sysctls.
func (b *builder) restrictions() error {
	sc := b.in.Security
	b.s.Process.NoNewPrivileges = sc.NoNewPrivs
	b.s.Root.Readonly = sc.ReadonlyRootfs
	if len(b.in.Sysctls) > 0 {
		b.s.Linux.Sysctl = maps.Clone(b.in.Sysctls)
	}
	return nil
}
