package spec

import (
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// namespaces sets the container's namespaces: network, IPC and UTS are the
// pod's (or the host's), PID follows the requested mode, mount is always new,
// and cgroup is new on cgroup v2 for unprivileged containers (as containerd).
func (b *builder) namespaces() error {
	in := b.in
	opts := in.Security.Namespaces
	var out []specs.LinuxNamespace
	add := func(t specs.LinuxNamespaceType, what string, ns NamespacePath) error {
		switch {
		case ns.Host:
			return nil
		case ns.Path == "":
			return in.errorf(errdefs.ErrInvalidArgument, "the pod's %s namespace is neither the host's nor a path", what)
		case !filepath.IsAbs(ns.Path):
			return in.errorf(errdefs.ErrInvalidArgument, "%s namespace path %q is not absolute", what, ns.Path)
		}
		out = append(out, specs.LinuxNamespace{Type: t, Path: ns.Path})
		return nil
	}

	network := in.Sandbox.NetNS
	if opts.Network == NamespaceNode {
		network = NamespacePath{Host: true}
	}
	if err := add(specs.NetworkNamespace, "network", network); err != nil {
		return err
	}
	if err := add(specs.IPCNamespace, "IPC", in.ipcNamespace()); err != nil {
		return err
	}
	if err := add(specs.UTSNamespace, "UTS", in.Sandbox.UTSNS); err != nil {
		return err
	}

	switch opts.PID {
	case NamespacePod:
		if err := add(specs.PIDNamespace, "PID", in.Sandbox.PIDNS); err != nil {
			return err
		}
	case NamespaceContainer:
		out = append(out, specs.LinuxNamespace{Type: specs.PIDNamespace})
	case NamespaceNode:
	case NamespaceTarget:
		if opts.TargetID == "" {
			return in.errorf(errdefs.ErrInvalidArgument, "PID namespace mode TARGET without a target container")
		}
		if in.Sandbox.TargetPIDNS == "" || !filepath.IsAbs(in.Sandbox.TargetPIDNS) {
			return in.errorf(errdefs.ErrInvalidArgument, "no PID namespace path for target container %q", opts.TargetID)
		}
		out = append(out, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: in.Sandbox.TargetPIDNS})
	default:
		return in.errorf(errdefs.ErrInvalidArgument, "unknown PID namespace mode %d", opts.PID)
	}

	out = append(out, specs.LinuxNamespace{Type: specs.MountNamespace})
	if in.Host.CgroupV2 && !in.Security.Privileged {
		out = append(out, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	b.s.Linux.Namespaces = out
	return nil
}

// ipcNamespace is the pod's IPC namespace, or the host's for mode NODE.
func (in *Input) ipcNamespace() NamespacePath {
	if in.Security.Namespaces.IPC == NamespaceNode {
		return NamespacePath{Host: true}
	}
	return in.Sandbox.IPCNS
}
