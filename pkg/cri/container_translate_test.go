package cri

import (
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

func TestImageVolumeTranslation(t *testing.T) {
	img := &runtimeapi.ImageSpec{Image: "sha256:abc", UserSpecifiedImage: "busybox"}
	maps := []*runtimeapi.IDMapping{{ContainerId: 0, HostId: 1000, Length: 10}}
	good := &runtimeapi.Mount{ContainerPath: "/iv", Readonly: true, Image: img, ImageSubPath: "etc", UidMappings: maps, GidMappings: maps}
	m, err := mount("c", good)
	if err != nil {
		t.Fatal(err)
	}
	if m.Image != "sha256:abc" || m.ImageUserSpecified != "busybox" || m.ImageSubPath != "etc" || m.HostPath != "" || !m.Readonly {
		t.Errorf("image volume %+v", m)
	}
	if m.UIDMappings != nil || m.GIDMappings != nil {
		t.Errorf("image volume keeps bind mount idmaps: %+v", m)
	}
	for name, bad := range map[string]*runtimeapi.Mount{
		"read-write":          {ContainerPath: "/iv", Image: img},
		"host path too":       {ContainerPath: "/iv", Readonly: true, Image: img, HostPath: "/etc"},
		"no container path":   {Readonly: true, Image: img},
		"relative path":       {ContainerPath: "../../etc", HostPath: "/"},
		"relative image path": {ContainerPath: "iv", Readonly: true, Image: img},
		"no host path":        {ContainerPath: "/x"},
		"sub path, no image":  {ContainerPath: "/x", HostPath: "/etc", ImageSubPath: "a"},
		"container path only": {ContainerPath: "/x", Readonly: true},
	} {
		if _, err := mount("c", bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	bind, err := mount("c", &runtimeapi.Mount{ContainerPath: "/d", HostPath: "/data", UidMappings: maps, GidMappings: maps})
	if err != nil || len(bind.UIDMappings) != 1 || bind.UIDMappings[0] != (spec.IDMapping{ContainerID: 0, HostID: 1000, Size: 10}) {
		t.Errorf("idmapped bind mount %+v %v", bind, err)
	}
}

func TestImageVolumeStatus(t *testing.T) {
	rec := &container.Record{ID: "c", Mounts: []spec.Mount{
		{ContainerPath: "/iv", Readonly: true, Image: "img:1", ImageUserSpecified: "img", ImageSubPath: "etc", ImageID: "sha256:abc"},
		{ContainerPath: "/d", HostPath: "/data", Propagation: spec.PropagationHostToContainer},
	}}
	st := criContainerStatus(rec)
	if len(st.Mounts) != 2 {
		t.Fatalf("mounts %v", st.Mounts)
	}
	iv := st.Mounts[0]
	if iv.GetImage().GetImageRef() != "sha256:abc" || iv.GetImage().GetImage() != "img:1" || iv.GetImage().GetUserSpecifiedImage() != "img" || iv.GetImageSubPath() != "etc" || iv.GetHostPath() != "" {
		t.Errorf("image volume status %v", iv)
	}
	if d := st.Mounts[1]; d.GetImage() != nil || d.GetPropagation() != runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER {
		t.Errorf("bind mount status %v", d)
	}
}

func TestUserNamespaceTranslation(t *testing.T) {
	maps := []*runtimeapi.IDMapping{{ContainerId: 0, HostId: 1000, Length: 65536}}
	pod := func(u *runtimeapi.UserNamespace) *runtimeapi.RunPodSandboxRequest {
		return &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
			Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"},
			Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{UsernsOptions: u},
			}},
		}}
	}
	cfg, err := sandboxConfig(pod(&runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: maps, Gids: maps}))
	want := []sandbox.IDMapping{{ContainerID: 0, HostID: 1000, Size: 65536}}
	if err != nil || cfg.UserNS == nil || !slices.Equal(cfg.UserNS.UIDs, want) || !slices.Equal(cfg.UserNS.GIDs, want) {
		t.Fatalf("POD: %+v %v", cfg.UserNS, err)
	}
	if u := criUserNS(cfg.UserNS); u.GetMode() != runtimeapi.NamespaceMode_POD || u.GetUids()[0].GetLength() != 65536 {
		t.Errorf("status %v", u)
	}
	for _, u := range []*runtimeapi.UserNamespace{nil, {Mode: runtimeapi.NamespaceMode_NODE}} {
		if cfg, err := sandboxConfig(pod(u)); err != nil || cfg.UserNS != nil {
			t.Errorf("%v: %+v %v, want the host's", u, cfg.UserNS, err)
		}
	}
	for _, u := range []*runtimeapi.UserNamespace{
		{Mode: runtimeapi.NamespaceMode_CONTAINER},
		{Mode: runtimeapi.NamespaceMode_TARGET},
		{Mode: runtimeapi.NamespaceMode_NODE, Uids: maps, Gids: maps},
	} {
		if _, err := sandboxConfig(pod(u)); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%v: %v, want InvalidArgument", u, err)
		}
	}

	sc := func(u *runtimeapi.UserNamespace) *runtimeapi.LinuxContainerSecurityContext {
		return &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{UsernsOptions: u}}
	}
	out, err := securityContext("c", sc(&runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: maps, Gids: maps}))
	if err != nil || out.Namespaces.User == nil || out.Namespaces.User.Mode != spec.NamespacePod || len(out.Namespaces.User.UIDs) != 1 {
		t.Errorf("container POD request %+v %v", out.Namespaces.User, err)
	}
	if out, err := securityContext("c", sc(nil)); err != nil || out.Namespaces.User != nil {
		t.Errorf("no request: %+v %v", out.Namespaces.User, err)
	}
	if _, err := securityContext("c", sc(&runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_TARGET})); !errdefs.IsInvalidArgument(err) {
		t.Errorf("TARGET: %v", err)
	}
}
