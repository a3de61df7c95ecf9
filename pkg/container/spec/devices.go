package spec

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// devices adds the requested host devices with their cgroup rules. A host
// path that is a symlink is resolved; a directory adds every device in it.
func (b *builder) devices() error {
	in := b.in
	for _, d := range in.Devices {
		if !filepath.IsAbs(d.HostPath) {
			return in.errorf(errdefs.ErrInvalidArgument, "device host path %q is not absolute", d.HostPath)
		}
		if d.ContainerPath != "" && !filepath.IsAbs(d.ContainerPath) {
			return in.errorf(errdefs.ErrInvalidArgument, "device container path %q is not absolute", d.ContainerPath)
		}
		perms := d.Permissions
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return in.errorf(errdefs.ErrInvalidArgument, "device %q: invalid permissions %q", d.HostPath, d.Permissions)
		}
		src, err := filepath.EvalSymlinks(d.HostPath)
		if errors.Is(err, fs.ErrNotExist) {
			return in.errorf(errdefs.ErrNotFound, "device %q does not exist", d.HostPath)
		}
		if err != nil {
			return in.wrap(err, "resolve device "+d.HostPath)
		}
		dst := d.ContainerPath
		if dst == "" {
			dst = d.HostPath
		}
		if err := b.apply(oci.WithDevices(src, dst, perms)); err != nil {
			if errors.Is(err, oci.ErrNotADevice) {
				return in.errorf(errdefs.ErrInvalidArgument, "%q is not a device", d.HostPath)
			}
			return in.wrap(err, "add device "+d.HostPath)
		}
	}
	return nil
}
