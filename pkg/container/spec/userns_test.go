package spec

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

const testUserNS = "/run/cri-shim/sandboxes/pod1/userns"

var testMapping = []IDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}

// usernsInput is newInput in a pod with a user namespace of its own.
func usernsInput(t *testing.T) *Input {
	in := newInput(t)
	in.Sandbox.UserNS = NamespacePath{Path: testUserNS}
	in.Sandbox.UIDMappings, in.Sandbox.GIDMappings = testMapping, testMapping
	return in
}

func TestUserNamespace(t *testing.T) {
	s := mustBuild(t, usernsInput(t))
	if got := nsMap(s)[specs.UserNamespace]; got != testUserNS {
		t.Errorf("user namespace %q, want the pod's %q", got, testUserNS)
	}
	if len(s.Linux.UIDMappings) != 0 || len(s.Linux.GIDMappings) != 0 {
		t.Errorf("mappings written with a namespace path: %v %v", s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
	for _, m := range s.Mounts {
		if m.Type == "devpts" && !slices.Contains(m.Options, "gid=5") {
			t.Errorf("devpts lost gid=5 though group 5 is mapped: %v", m.Options)
		}
	}

	// Without a user namespace nothing changes; the NODE request agrees.
	in := newInput(t)
	in.Security.Namespaces.User = &UserNamespaceRequest{Mode: NamespaceNode}
	if _, ok := nsMap(mustBuild(t, in))[specs.UserNamespace]; ok {
		t.Error("a user namespace without the pod having one")
	}

	// A POD request with the pod's mappings is fine.
	in = usernsInput(t)
	in.Security.Namespaces.User = &UserNamespaceRequest{Mode: NamespacePod, UIDs: testMapping, GIDs: testMapping}
	mustBuild(t, in)

	// A one-ID mapping: devpts cannot use group 5.
	in = usernsInput(t)
	one := []IDMapping{{ContainerID: 0, HostID: 100000, Size: 1}}
	in.Sandbox.UIDMappings, in.Sandbox.GIDMappings = one, one
	in.Security.SupplementalGroupsPolicy = SupplementalGroupsStrict // root's wheel (10) is not mapped
	for _, m := range mustBuild(t, in).Mounts {
		if m.Type == "devpts" && slices.Contains(m.Options, "gid=5") {
			t.Errorf("devpts keeps gid=5 though group 5 is not mapped: %v", m.Options)
		}
	}
}

func TestUserNamespaceRefused(t *testing.T) {
	uid := int64(70000)
	other := []IDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
	for name, tc := range map[string]struct {
		edit  func(in *Input)
		words []string
	}{
		"node request in a userns pod": {func(in *Input) { in.Security.Namespaces.User = &UserNamespaceRequest{Mode: NamespaceNode} }, []string{"host's user namespace"}},
		"pod request without one": {func(in *Input) {
			in.Sandbox.UserNS = NamespacePath{Host: true}
			in.Security.Namespaces.User = &UserNamespaceRequest{Mode: NamespacePod}
		}, []string{"pod has none"}},
		"other mappings": {func(in *Input) {
			in.Security.Namespaces.User = &UserNamespaceRequest{Mode: NamespacePod, UIDs: other, GIDs: other}
		}, []string{"differ"}},
		"container mode":          {func(in *Input) { in.Security.Namespaces.User = &UserNamespaceRequest{Mode: NamespaceContainer} }, []string{"not supported"}},
		"host network":            {func(in *Input) { in.Security.Namespaces.Network = NamespaceNode }, []string{"host's network"}},
		"host PID":                {func(in *Input) { in.Security.Namespaces.PID = NamespaceNode }, []string{"host's network, IPC or PID"}},
		"pod on the host network": {func(in *Input) { in.Sandbox.NetNS = NamespacePath{Host: true} }, []string{"host's network"}},
		"unmapped user":           {func(in *Input) { in.Security.RunAsUser = &uid }, []string{"user 70000 is not mapped"}},
		"unmapped group":          {func(in *Input) { in.Security.SupplementalGroups = []int64{70001} }, []string{"group 70001 is not mapped"}},
		"relative path":           {func(in *Input) { in.Sandbox.UserNS.Path = "userns" }, []string{"not absolute"}},
		"no pod mappings":         {func(in *Input) { in.Sandbox.GIDMappings = nil }, []string{"no ID mappings"}},
	} {
		t.Run(name, func(t *testing.T) {
			in := usernsInput(t)
			tc.edit(in)
			wantErr(t, in, errdefs.ErrInvalidArgument, tc.words...)
		})
	}
}

func TestIDMappedBindMount(t *testing.T) {
	in := newInput(t)
	src := t.TempDir()
	in.Mounts = []Mount{{ContainerPath: "/data", HostPath: src, UIDMappings: testMapping, GIDMappings: testMapping}}
	s := mustBuild(t, in)
	var found bool
	for _, m := range s.Mounts {
		if m.Destination == "/data" {
			found = true
			want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			if !slices.Equal(m.UIDMappings, want) || !slices.Equal(m.GIDMappings, want) {
				t.Errorf("idmapped mount %+v", m)
			}
		}
	}
	if !found {
		t.Fatal("no /data mount")
	}
	in.Mounts[0].GIDMappings = nil
	wantErr(t, in, errdefs.ErrInvalidArgument, "both uid and gid")
}

func TestMappedAndToHost(t *testing.T) {
	m := []IDMapping{{ContainerID: 10, HostID: 1000, Size: 5}}
	for id, want := range map[uint32]bool{9: false, 10: true, 14: true, 15: false} {
		if Mapped(m, id) != want {
			t.Errorf("Mapped(%d) != %v", id, want)
		}
	}
	if h, ok := ToHost(m, 12); !ok || h != 1002 {
		t.Errorf("ToHost(12) = %d %v", h, ok)
	}
	if _, ok := ToHost(m, 0); ok {
		t.Error("ToHost(0) mapped")
	}
}
