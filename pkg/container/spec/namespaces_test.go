package spec

import (
	"maps"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// nsMap maps each namespace type in the spec to its path ("" = new).
func nsMap(s *specs.Spec) map[specs.LinuxNamespaceType]string {
	out := map[specs.LinuxNamespaceType]string{}
	for _, ns := range s.Linux.Namespaces {
		out[ns.Type] = ns.Path
	}
	return out
}

func TestNamespaces(t *testing.T) {
	const (
		netns  = "/var/run/netns/pod1"
		ipcns  = "/run/cri-shim/ns/pod1/ipc"
		utsns  = "/run/cri-shim/ns/pod1/uts"
		podpid = "/proc/4242/ns/pid"
		target = "/proc/77/ns/pid"
	)
	for _, tc := range []struct {
		name       string
		opts       NamespaceOptions
		hostNet    bool
		hostIPC    bool
		hostPodPID bool
		cgroupV2   bool
		privileged bool
		want       map[specs.LinuxNamespaceType]string
	}{
		{name: "pod namespaces", want: map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: netns, specs.IPCNamespace: ipcns, specs.UTSNamespace: utsns, specs.PIDNamespace: podpid, specs.MountNamespace: ""}},
		{name: "container pid", opts: NamespaceOptions{PID: NamespaceContainer}, want: map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: netns, specs.IPCNamespace: ipcns, specs.UTSNamespace: utsns, specs.PIDNamespace: "", specs.MountNamespace: ""}},
		{name: "node pid", opts: NamespaceOptions{PID: NamespaceNode}, want: map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: netns, specs.IPCNamespace: ipcns, specs.UTSNamespace: utsns, specs.MountNamespace: ""}},
		{name: "target pid", opts: NamespaceOptions{PID: NamespaceTarget, TargetID: "c0"}, want: map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: netns, specs.IPCNamespace: ipcns, specs.UTSNamespace: utsns, specs.PIDNamespace: target, specs.MountNamespace: ""}},
		{name: "host pod pid", hostPodPID: true, want: map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: netns, specs.IPCNamespace: ipcns, specs.UTSNamespace: utsns, specs.MountNamespace: ""}},
		{name: "host network pod", hostNet: true, want: map[specs.LinuxNamespaceType]string{
			specs.IPCNamespace: ipcns, specs.PIDNamespace: podpid, specs.MountNamespace: ""}},
		{name: "container asks node network and ipc", opts: NamespaceOptions{Network: NamespaceNode, IPC: NamespaceNode}, want: map[specs.LinuxNamespaceType]string{
			specs.UTSNamespace: utsns, specs.PIDNamespace: podpid, specs.MountNamespace: ""}},
		{name: "host ipc pod", hostIPC: true, want: map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: netns, specs.UTSNamespace: utsns, specs.PIDNamespace: podpid, specs.MountNamespace: ""}},
		{name: "cgroup v2", cgroupV2: true, want: map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: netns, specs.IPCNamespace: ipcns, specs.UTSNamespace: utsns, specs.PIDNamespace: podpid, specs.MountNamespace: "", specs.CgroupNamespace: ""}},
		{name: "cgroup v2 privileged", cgroupV2: true, privileged: true, want: map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: netns, specs.IPCNamespace: ipcns, specs.UTSNamespace: utsns, specs.PIDNamespace: podpid, specs.MountNamespace: ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.Security.Namespaces = tc.opts
			in.Sandbox.TargetPIDNS = target
			if tc.hostNet {
				in.Sandbox.NetNS, in.Sandbox.UTSNS = NamespacePath{Host: true}, NamespacePath{Host: true}
				delete(tc.want, specs.UTSNamespace)
			}
			if tc.hostIPC {
				in.Sandbox.IPCNS = NamespacePath{Host: true}
			}
			if tc.hostPodPID {
				in.Sandbox.PIDNS = NamespacePath{Host: true}
			}
			in.Host.CgroupV2 = tc.cgroupV2
			in.Security.Privileged, in.Sandbox.Privileged = tc.privileged, tc.privileged
			if got := nsMap(mustBuild(t, in)); !maps.Equal(got, tc.want) {
				t.Errorf("namespaces %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNamespaceErrors(t *testing.T) {
	in := newInput(t)
	in.Sandbox.NetNS = NamespacePath{}
	wantErr(t, in, errdefs.ErrInvalidArgument, "network")

	in = newInput(t)
	in.Sandbox.IPCNS = NamespacePath{Path: "relative/ipc"}
	wantErr(t, in, errdefs.ErrInvalidArgument, "relative/ipc")

	in = newInput(t)
	in.Security.Namespaces = NamespaceOptions{PID: NamespaceTarget, TargetID: "c0"}
	wantErr(t, in, errdefs.ErrInvalidArgument, `"c0"`)

	in = newInput(t)
	in.Security.Namespaces = NamespaceOptions{PID: NamespaceTarget}
	wantErr(t, in, errdefs.ErrInvalidArgument, "target")

	in = newInput(t)
	in.Security.Namespaces = NamespaceOptions{PID: 9}
	wantErr(t, in, errdefs.ErrInvalidArgument, "PID")
}
