package spec

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Container paths of the files and directories the pod provides.
const (
	etcHosts     = "/etc/hosts"
	etcHostname  = "/etc/hostname"
	etcResolv    = "/etc/resolv.conf"
	devShm       = "/dev/shm"
	hostShm      = "/dev/shm"
	cgroupMount  = "/sys/fs/cgroup"
	devDirPrefix = "/dev/"
)

// lookupMount finds the mount a host path lives on; tests replace it.
var lookupMount = mount.Lookup

// mounts adds the default mounts (less those the request replaces), the
// pod's files and the request's bind mounts, parents before children.
func (b *builder) mounts() error {
	in := b.in
	binds := slices.Clone(in.Mounts)
	for _, m := range binds {
		if !filepath.IsAbs(m.ContainerPath) {
			return in.errorf(errdefs.ErrInvalidArgument, "mount destination %q is not an absolute path", m.ContainerPath)
		}
	}
	requested := make(map[string]bool, len(binds))
	for _, m := range binds {
		requested[filepath.Clean(m.ContainerPath)] = true
	}
	for _, m := range in.sandboxMounts() {
		if !requested[m.ContainerPath] {
			binds = append(binds, m)
		}
	}
	sort.SliceStable(binds, func(i, j int) bool { return depth(binds[i].ContainerPath) < depth(binds[j].ContainerPath) })

	dests := make(map[string]bool, len(binds))
	for _, m := range binds {
		dests[filepath.Clean(m.ContainerPath)] = true
	}
	defaults := append(b.s.Mounts, specs.Mount{
		Destination: cgroupMount,
		Type:        "cgroup",
		Source:      "cgroup",
		Options:     []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
	})
	var out []specs.Mount
	for _, m := range defaults {
		dst := filepath.Clean(m.Destination)
		if dests[dst] || (dests["/dev"] && strings.HasPrefix(dst, devDirPrefix)) {
			continue
		}
		out = append(out, m)
	}
	for _, m := range binds {
		om, err := b.bindMount(m)
		if err != nil {
			return err
		}
		out = append(out, om)
	}
	b.s.Mounts = out
	return nil
}

// sandboxMounts are the pod's /etc/hostname, /etc/hosts, /etc/resolv.conf
// (read-only with a read-only rootfs) and /dev/shm.
func (in *Input) sandboxMounts() []Mount {
	ro := in.Security.ReadonlyRootfs
	var out []Mount
	for _, f := range []struct{ dst, src string }{
		{etcHostname, in.Sandbox.HostnamePath},
		{etcHosts, in.Sandbox.HostsPath},
		{etcResolv, in.Sandbox.ResolvConfPath},
	} {
		if f.src != "" {
			out = append(out, Mount{ContainerPath: f.dst, HostPath: f.src, Readonly: ro})
		}
	}
	shm := in.Sandbox.ShmPath
	if in.ipcNamespace().Host {
		shm = hostShm
	}
	if shm != "" {
		out = append(out, Mount{ContainerPath: devShm, HostPath: shm})
	}
	return out
}

// depth counts a container path's components, to sort parents first.
func depth(p string) int {
	return strings.Count(filepath.Clean(p), string(filepath.Separator))
}

// bindMount turns one bind mount into its OCI form, checking its source and
// setting the rootfs propagation that its own propagation needs.
func (b *builder) bindMount(m Mount) (specs.Mount, error) {
	in := b.in
	if !filepath.IsAbs(m.HostPath) {
		return specs.Mount{}, in.errorf(errdefs.ErrInvalidArgument, "host path %q of mount %q is not absolute", m.HostPath, m.ContainerPath)
	}
	if m.RecursiveReadOnly {
		if !m.Readonly {
			return specs.Mount{}, in.errorf(errdefs.ErrInvalidArgument, "recursive read-only mount of %q conflicts with a read-write mount", m.HostPath)
		}
		if m.Propagation != PropagationPrivate {
			return specs.Mount{}, in.errorf(errdefs.ErrInvalidArgument, "recursive read-only mount of %q needs private propagation", m.HostPath)
		}
	}
	src, err := filepath.EvalSymlinks(m.HostPath)
	if errors.Is(err, fs.ErrNotExist) {
		return specs.Mount{}, in.errorf(errdefs.ErrNotFound, "host path %q of mount %q does not exist", m.HostPath, m.ContainerPath)
	}
	if err != nil {
		return specs.Mount{}, in.wrap(err, "resolve host path of mount "+m.ContainerPath)
	}

	options := []string{"rbind"}
	switch m.Propagation {
	case PropagationPrivate:
		options = append(options, "rprivate")
	case PropagationBidirectional:
		if err := in.checkPropagation(src, "shared:"); err != nil {
			return specs.Mount{}, err
		}
		options = append(options, "rshared")
		b.s.Linux.RootfsPropagation = "rshared"
	case PropagationHostToContainer:
		if err := in.checkPropagation(src, "shared:", "master:"); err != nil {
			return specs.Mount{}, err
		}
		options = append(options, "rslave")
		if b.s.Linux.RootfsPropagation != "rshared" {
			b.s.Linux.RootfsPropagation = "rslave"
		}
	default:
		return specs.Mount{}, in.errorf(errdefs.ErrInvalidArgument, "unknown propagation %d for mount %q", m.Propagation, m.ContainerPath)
	}
	switch {
	case m.RecursiveReadOnly:
		options = append(options, "rro")
	case m.Readonly:
		options = append(options, "ro")
	default:
		options = append(options, "rw")
	}
	if (len(m.UIDMappings) == 0) != (len(m.GIDMappings) == 0) {
		return specs.Mount{}, in.errorf(errdefs.ErrInvalidArgument, "idmapped mount %q needs both uid and gid mappings", m.ContainerPath)
	}
	return specs.Mount{
		Destination: filepath.Clean(m.ContainerPath),
		Type:        "bind",
		Source:      src,
		Options:     options,
		UIDMappings: ociMappings(m.UIDMappings),
		GIDMappings: ociMappings(m.GIDMappings),
	}, nil
}

// checkPropagation makes sure the mount holding src propagates as needed
// (its optional fields carry one of the tags), or the container would not
// see (or share) later mounts.
func (in *Input) checkPropagation(src string, tags ...string) error {
	info, err := lookupMount(src)
	if err != nil {
		return in.wrap(err, "find the mount of "+src)
	}
	for _, opt := range strings.Fields(info.Optional) {
		for _, tag := range tags {
			if strings.HasPrefix(opt, tag) {
				return nil
			}
		}
	}
	want := "shared"
	if len(tags) > 1 {
		want = "shared or slave"
	}
	return in.errorf(errdefs.ErrFailedPrecondition, "host path %q is on mount %q, which is not %s", src, info.Mountpoint, want)
}
