package spec

import (
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// ptsGID is the group devpts gives new terminals ("gid=5", tty).
const ptsGID = 5

// HasUserNS reports whether the pod has a user namespace of its own.
func (s *Sandbox) HasUserNS() bool { return !s.UserNS.Host && s.UserNS.Path != "" }

// userNamespace puts the container into its pod's user namespace, when the
// pod has one: the request must agree, no host namespace may be mixed in,
// and the process's user and groups must be mapped. The mappings are not
// written: runc reads them from the namespace it joins.
func (b *builder) userNamespace() error {
	in := b.in
	own := in.Sandbox.HasUserNS()
	if req := in.Security.Namespaces.User; req != nil {
		switch req.Mode {
		case NamespaceNode:
			if own {
				return in.errorf(errdefs.ErrInvalidArgument, "the container asks for the host's user namespace, but its pod has one of its own")
			}
		case NamespacePod:
			if !own {
				return in.errorf(errdefs.ErrInvalidArgument, "the container asks for its pod's user namespace, but the pod has none")
			}
			if (len(req.UIDs) > 0 || len(req.GIDs) > 0) &&
				(!slices.Equal(req.UIDs, in.Sandbox.UIDMappings) || !slices.Equal(req.GIDs, in.Sandbox.GIDMappings)) {
				return in.errorf(errdefs.ErrInvalidArgument, "the container's user namespace mappings differ from its pod's")
			}
		default:
			return in.errorf(errdefs.ErrInvalidArgument, "user namespace mode %d is not supported (NODE or POD)", req.Mode)
		}
	}
	if !own {
		return nil
	}
	if !filepath.IsAbs(in.Sandbox.UserNS.Path) {
		return in.errorf(errdefs.ErrInvalidArgument, "user namespace path %q is not absolute", in.Sandbox.UserNS.Path)
	}
	if len(in.Sandbox.UIDMappings) == 0 || len(in.Sandbox.GIDMappings) == 0 {
		return in.errorf(errdefs.ErrInvalidArgument, "the pod's user namespace has no ID mappings")
	}
	ns := in.Security.Namespaces
	hostNet := ns.Network == NamespaceNode || in.Sandbox.NetNS.Host
	hostPID := ns.PID == NamespaceNode || (ns.PID == NamespacePod && in.Sandbox.PIDNS.Host)
	if hostNet || in.ipcNamespace().Host || hostPID || in.Sandbox.UTSNS.Host {
		return in.errorf(errdefs.ErrInvalidArgument, "a container in a user namespace cannot use the host's network, IPC or PID namespace")
	}
	u := b.s.Process.User
	if !Mapped(in.Sandbox.UIDMappings, u.UID) {
		return in.errorf(errdefs.ErrInvalidArgument, "user %d is not mapped in the pod's user namespace", u.UID)
	}
	for _, g := range append([]uint32{u.GID}, u.AdditionalGids...) {
		if !Mapped(in.Sandbox.GIDMappings, g) {
			return in.errorf(errdefs.ErrInvalidArgument, "group %d is not mapped in the pod's user namespace", g)
		}
	}
	b.s.Linux.Namespaces = append(b.s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: in.Sandbox.UserNS.Path})
	if !Mapped(in.Sandbox.GIDMappings, ptsGID) {
		for i := range b.s.Mounts {
			if b.s.Mounts[i].Type == "devpts" {
				b.s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(b.s.Mounts[i].Options), func(o string) bool { return o == "gid=5" })
			}
		}
	}
	return nil
}

// Mapped reports whether id (inside the namespace) is in one of maps.
func Mapped(maps []IDMapping, id uint32) bool {
	for _, m := range maps {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return true
		}
	}
	return false
}

// ToHost returns the host ID of id inside the namespace of maps.
func ToHost(maps []IDMapping, id uint32) (uint32, bool) {
	for _, m := range maps {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return m.HostID + (id - m.ContainerID), true
		}
	}
	return 0, false
}

// ociMappings converts mappings to their OCI form.
func ociMappings(maps []IDMapping) []specs.LinuxIDMapping {
	var out []specs.LinuxIDMapping
	for _, m := range maps {
		out = append(out, specs.LinuxIDMapping{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	return out
}
