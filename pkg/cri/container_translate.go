package cri

import (
	"fmt"
	"path/filepath"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// containerInput translates a CRI container config into the domain's spec
// input. Pod, host and image facts are filled in by the container manager.
func containerInput(cfg *runtimeapi.ContainerConfig, pod *runtimeapi.PodSandboxConfig) (spec.Input, error) {
	in := spec.Input{
		Name:        cfg.GetMetadata().GetName(),
		ImageName:   cfg.GetImage().GetImage(),
		Command:     cfg.GetCommand(),
		Args:        cfg.GetArgs(),
		WorkingDir:  cfg.GetWorkingDir(),
		TTY:         cfg.GetTty(),
		Stdin:       cfg.GetStdin(),
		StdinOnce:   cfg.GetStdinOnce(),
		Labels:      cfg.GetLabels(),
		Annotations: cfg.GetAnnotations(),
	}
	if s := cfg.GetStopSignal(); s != runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		in.StopSignal = strings.TrimPrefix(s.String(), "SIGNAL_")
	}
	for _, kv := range cfg.GetEnvs() {
		in.Env = append(in.Env, spec.EnvVar{Key: kv.GetKey(), Value: string(kv.GetValue())})
	}
	for _, m := range cfg.GetMounts() {
		mt, err := mount(in.Name, m)
		if err != nil {
			return in, err
		}
		in.Mounts = append(in.Mounts, mt)
	}
	for _, d := range cfg.GetDevices() {
		in.Devices = append(in.Devices, spec.Device{ContainerPath: d.GetContainerPath(), HostPath: d.GetHostPath(), Permissions: d.GetPermissions()})
	}
	in.Resources = resources(cfg.GetLinux().GetResources())
	sc, err := securityContext(in.Name, cfg.GetLinux().GetSecurityContext())
	if err != nil {
		return in, err
	}
	in.Security = sc
	return in, nil
}

// mount translates one mount: a host path bind mount, or an image volume
// (which must be read-only and name no host path).
func mount(name string, m *runtimeapi.Mount) (spec.Mount, error) {
	mt := spec.Mount{
		ContainerPath:     m.GetContainerPath(),
		HostPath:          m.GetHostPath(),
		Readonly:          m.GetReadonly(),
		RecursiveReadOnly: m.GetRecursiveReadOnly(),
		SelinuxRelabel:    m.GetSelinuxRelabel(),
		UIDMappings:       idMappings(m.GetUidMappings()),
		GIDMappings:       idMappings(m.GetGidMappings()),
	}
	switch m.GetPropagation() {
	case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		mt.Propagation = spec.PropagationHostToContainer
	case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		mt.Propagation = spec.PropagationBidirectional
	}
	if !filepath.IsAbs(mt.ContainerPath) {
		return mt, fmt.Errorf("container %q: mount container path %q is not absolute: %w", name, mt.ContainerPath, errdefs.ErrInvalidArgument)
	}
	img := m.GetImage()
	if img.GetImage() == "" {
		if mt.HostPath == "" {
			return mt, fmt.Errorf("container %q: mount %q needs a host path or an image: %w", name, mt.ContainerPath, errdefs.ErrInvalidArgument)
		}
		if m.GetImageSubPath() != "" {
			return mt, fmt.Errorf("container %q: mount %q has an image sub path but no image: %w", name, mt.ContainerPath, errdefs.ErrInvalidArgument)
		}
		return mt, nil
	}
	switch {
	case mt.HostPath != "":
		return mt, fmt.Errorf("container %q: image volume %q at %q also names host path %q: %w", name, img.GetImage(), mt.ContainerPath, mt.HostPath, errdefs.ErrInvalidArgument)
	case !mt.Readonly:
		return mt, fmt.Errorf("container %q: image volume %q at %q must be read-only: %w", name, img.GetImage(), mt.ContainerPath, errdefs.ErrInvalidArgument)
	}
	mt.Image = img.GetImage()
	mt.ImageUserSpecified = img.GetUserSpecifiedImage()
	mt.ImageSubPath = m.GetImageSubPath()
	// The layers are idmapped when the volume is mounted, not the bind mount.
	mt.UIDMappings, mt.GIDMappings = nil, nil
	return mt, nil
}

func idMappings(in []*runtimeapi.IDMapping) []spec.IDMapping {
	var out []spec.IDMapping
	for _, m := range in {
		out = append(out, spec.IDMapping{ContainerID: m.GetContainerId(), HostID: m.GetHostId(), Size: m.GetLength()})
	}
	return out
}

// userNamespace translates a container's user namespace request; nil
// follows the pod.
func userNamespace(name string, u *runtimeapi.UserNamespace) (*spec.UserNamespaceRequest, error) {
	if u == nil {
		return nil, nil
	}
	switch u.GetMode() {
	case runtimeapi.NamespaceMode_NODE, runtimeapi.NamespaceMode_POD:
	default:
		return nil, fmt.Errorf("container %q: user namespace mode %s is not supported (NODE or POD): %w", name, u.GetMode(), errdefs.ErrInvalidArgument)
	}
	return &spec.UserNamespaceRequest{
		Mode: namespaceMode(u.GetMode()),
		UIDs: idMappings(u.GetUids()),
		GIDs: idMappings(u.GetGids()),
	}, nil
}

func resources(r *runtimeapi.LinuxContainerResources) *spec.Resources {
	if r == nil {
		return nil
	}
	out := &spec.Resources{
		CPUPeriod:       r.GetCpuPeriod(),
		CPUQuota:        r.GetCpuQuota(),
		CPUShares:       r.GetCpuShares(),
		MemoryLimit:     r.GetMemoryLimitInBytes(),
		MemorySwapLimit: r.GetMemorySwapLimitInBytes(),
		OOMScoreAdj:     r.GetOomScoreAdj(),
		CpusetCPUs:      r.GetCpusetCpus(),
		CpusetMems:      r.GetCpusetMems(),
		Unified:         r.GetUnified(),
	}
	for _, h := range r.GetHugepageLimits() {
		out.HugepageLimits = append(out.HugepageLimits, spec.HugepageLimit{PageSize: h.GetPageSize(), Limit: h.GetLimit()})
	}
	return out
}

// criResources is the inverse of resources, for the container status.
func criResources(r *spec.Resources) *runtimeapi.ContainerResources {
	if r == nil {
		return nil
	}
	out := &runtimeapi.LinuxContainerResources{
		CpuPeriod: r.CPUPeriod, CpuQuota: r.CPUQuota, CpuShares: r.CPUShares,
		MemoryLimitInBytes: r.MemoryLimit, MemorySwapLimitInBytes: r.MemorySwapLimit,
		OomScoreAdj: r.OOMScoreAdj, CpusetCpus: r.CpusetCPUs, CpusetMems: r.CpusetMems, Unified: r.Unified,
	}
	for _, h := range r.HugepageLimits {
		out.HugepageLimits = append(out.HugepageLimits, &runtimeapi.HugepageLimit{PageSize: h.PageSize, Limit: h.Limit})
	}
	return &runtimeapi.ContainerResources{Linux: out}
}

func securityContext(name string, sc *runtimeapi.LinuxContainerSecurityContext) (spec.SecurityContext, error) {
	out := spec.SecurityContext{}
	if sc == nil {
		return out, nil
	}
	out.Privileged = sc.GetPrivileged()
	out.Capabilities = spec.Capabilities{Add: sc.GetCapabilities().GetAddCapabilities(), Drop: sc.GetCapabilities().GetDropCapabilities()}
	if sc.GetRunAsUser() != nil {
		v := sc.GetRunAsUser().GetValue()
		out.RunAsUser = &v
	}
	if sc.GetRunAsGroup() != nil {
		v := sc.GetRunAsGroup().GetValue()
		out.RunAsGroup = &v
	}
	out.RunAsUsername = sc.GetRunAsUsername()
	out.SupplementalGroups = sc.GetSupplementalGroups()
	if sc.GetSupplementalGroupsPolicy() == runtimeapi.SupplementalGroupsPolicy_Strict {
		out.SupplementalGroupsPolicy = spec.SupplementalGroupsStrict
	}
	out.NoNewPrivs = sc.GetNoNewPrivs()
	out.ReadonlyRootfs = sc.GetReadonlyRootfs()
	// The kubelet sends the default masked and read-only paths itself; nil
	// (not sent) means the runtime's defaults.
	out.MaskedPaths = sc.GetMaskedPaths()
	out.ReadonlyPaths = sc.GetReadonlyPaths()
	var err error
	//lint:ignore SA1019 the kubelet and critest still send the deprecated string
	if out.Seccomp, err = profile(name, "seccomp", sc.GetSeccomp(), sc.GetSeccompProfilePath()); err != nil {
		return out, err
	}
	//lint:ignore SA1019 the kubelet and critest still send the deprecated string
	if out.AppArmor, err = profile(name, "apparmor", sc.GetApparmor(), sc.GetApparmorProfile()); err != nil {
		return out, err
	}
	ns := sc.GetNamespaceOptions()
	out.Namespaces = spec.NamespaceOptions{
		Network:  namespaceMode(ns.GetNetwork()),
		PID:      namespaceMode(ns.GetPid()),
		IPC:      namespaceMode(ns.GetIpc()),
		TargetID: ns.GetTargetId(),
	}
	if out.Namespaces.User, err = userNamespace(name, ns.GetUsernsOptions()); err != nil {
		return out, err
	}
	if out.Namespaces.PID == spec.NamespaceTarget && out.Namespaces.TargetID == "" {
		return out, fmt.Errorf("container %q: PID namespace mode TARGET needs a target ID: %w", name, errdefs.ErrInvalidArgument)
	}
	return out, nil
}

func namespaceMode(m runtimeapi.NamespaceMode) spec.NamespaceMode {
	switch m {
	case runtimeapi.NamespaceMode_CONTAINER:
		return spec.NamespaceContainer
	case runtimeapi.NamespaceMode_NODE:
		return spec.NamespaceNode
	case runtimeapi.NamespaceMode_TARGET:
		return spec.NamespaceTarget
	}
	return spec.NamespacePod
}

// profile reads a seccomp or AppArmor choice from the structured field, or
// else from the deprecated string ("runtime/default", "unconfined",
// "localhost/<ref>").
func profile(name, kind string, p *runtimeapi.SecurityProfile, legacy string) (*spec.SecurityProfile, error) {
	if p != nil {
		switch p.GetProfileType() {
		case runtimeapi.SecurityProfile_RuntimeDefault:
			return &spec.SecurityProfile{Type: spec.ProfileRuntimeDefault}, nil
		case runtimeapi.SecurityProfile_Unconfined:
			return &spec.SecurityProfile{Type: spec.ProfileUnconfined}, nil
		case runtimeapi.SecurityProfile_Localhost:
			return &spec.SecurityProfile{Type: spec.ProfileLocalhost, LocalhostRef: p.GetLocalhostRef()}, nil
		}
	}
	switch {
	case legacy == "":
		return nil, nil
	case legacy == "runtime/default" || legacy == "docker/default":
		return &spec.SecurityProfile{Type: spec.ProfileRuntimeDefault}, nil
	case legacy == "unconfined":
		return &spec.SecurityProfile{Type: spec.ProfileUnconfined}, nil
	case strings.HasPrefix(legacy, "localhost/"):
		return &spec.SecurityProfile{Type: spec.ProfileLocalhost, LocalhostRef: strings.TrimPrefix(legacy, "localhost/")}, nil
	}
	return nil, fmt.Errorf("container %q: unknown %s profile %q: %w", name, kind, legacy, errdefs.ErrInvalidArgument)
}
