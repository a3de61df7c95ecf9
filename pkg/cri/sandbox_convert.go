package cri

import (
	"fmt"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// sandboxConfig translates a RunPodSandbox request into the domain config.
func sandboxConfig(req *runtimeapi.RunPodSandboxRequest) (sandbox.Config, error) {
	c := req.GetConfig()
	md := c.GetMetadata()
	out := sandbox.Config{
		Name:           md.GetName(),
		Namespace:      md.GetNamespace(),
		UID:            md.GetUid(),
		Attempt:        md.GetAttempt(),
		Hostname:       c.GetHostname(),
		LogDirectory:   c.GetLogDirectory(),
		Labels:         c.GetLabels(),
		Annotations:    c.GetAnnotations(),
		RuntimeHandler: req.GetRuntimeHandler(),
	}
	if d := c.GetDnsConfig(); d != nil {
		out.DNS = &sandbox.DNSConfig{Servers: d.GetServers(), Searches: d.GetSearches(), Options: d.GetOptions()}
	}
	for _, pm := range c.GetPortMappings() {
		proto := strings.ToLower(pm.GetProtocol().String())
		out.PortMappings = append(out.PortMappings, sandbox.PortMapping{
			Protocol: proto, ContainerPort: pm.GetContainerPort(), HostPort: pm.GetHostPort(), HostIP: pm.GetHostIp(),
		})
	}
	lx := c.GetLinux()
	out.CgroupParent = lx.GetCgroupParent()
	out.Sysctls = lx.GetSysctls()
	out.Resources = podResources(lx.GetOverhead(), lx.GetResources())
	sc := lx.GetSecurityContext()
	ns := sc.GetNamespaceOptions()
	out.Namespaces = sandbox.NamespaceOptions{
		Network: sandbox.NamespaceMode(ns.GetNetwork()),
		PID:     sandbox.NamespaceMode(ns.GetPid()),
		IPC:     sandbox.NamespaceMode(ns.GetIpc()),
	}
	userns, err := podUserNS(ns.GetUsernsOptions())
	if err != nil {
		return out, fmt.Errorf("pod %s/%s: %w", md.GetNamespace(), md.GetName(), err)
	}
	out.UserNS = userns
	out.Security = sandbox.SecurityOptions{
		Privileged:               sc.GetPrivileged(),
		ReadonlyRootfs:           sc.GetReadonlyRootfs(),
		SupplementalGroups:       sc.GetSupplementalGroups(),
		SupplementalGroupsPolicy: supplementalGroupsPolicy(sc.GetSupplementalGroupsPolicy()),
		Seccomp:                  securityProfile(sc.GetSeccomp()),
		Apparmor:                 securityProfile(sc.GetApparmor()),
	}
	if v := sc.GetRunAsUser(); v != nil {
		u := v.GetValue()
		out.Security.RunAsUser = &u
	}
	if v := sc.GetRunAsGroup(); v != nil {
		g := v.GetValue()
		out.Security.RunAsGroup = &g
	}
	if se := sc.GetSelinuxOptions(); se != nil {
		out.Security.SELinux = &sandbox.SELinuxOptions{User: se.GetUser(), Role: se.GetRole(), Type: se.GetType(), Level: se.GetLevel()}
	}
	return out, nil
}

// podUserNS translates the pod's user namespace: NODE (or none) is the
// host's, POD one of the pod's own with its mappings (sandbox validation
// checks them); CONTAINER and TARGET do not exist for user namespaces.
func podUserNS(u *runtimeapi.UserNamespace) (*sandbox.UserNamespace, error) {
	if u == nil {
		return nil, nil // an older kubelet: the host's
	}
	switch u.GetMode() {
	case runtimeapi.NamespaceMode_NODE:
		if len(u.GetUids()) > 0 || len(u.GetGids()) > 0 {
			return nil, fmt.Errorf("user namespace mode NODE takes no ID mappings: %w", errdefs.ErrInvalidArgument)
		}
		return nil, nil
	case runtimeapi.NamespaceMode_POD:
		out := &sandbox.UserNamespace{}
		for _, m := range u.GetUids() {
			out.UIDs = append(out.UIDs, sandbox.IDMapping{ContainerID: m.GetContainerId(), HostID: m.GetHostId(), Size: m.GetLength()})
		}
		for _, m := range u.GetGids() {
			out.GIDs = append(out.GIDs, sandbox.IDMapping{ContainerID: m.GetContainerId(), HostID: m.GetHostId(), Size: m.GetLength()})
		}
		return out, nil
	}
	return nil, fmt.Errorf("user namespace mode %s is not supported (NODE or POD): %w", u.GetMode(), errdefs.ErrInvalidArgument)
}

// criUserNS is the inverse of podUserNS, for the pod status.
func criUserNS(u *sandbox.UserNamespace) *runtimeapi.UserNamespace {
	if u == nil {
		return &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}
	}
	out := &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}
	for _, m := range u.UIDs {
		out.Uids = append(out.Uids, &runtimeapi.IDMapping{ContainerId: m.ContainerID, HostId: m.HostID, Length: m.Size})
	}
	for _, m := range u.GIDs {
		out.Gids = append(out.Gids, &runtimeapi.IDMapping{ContainerId: m.ContainerID, HostId: m.HostID, Length: m.Size})
	}
	return out
}

func supplementalGroupsPolicy(p runtimeapi.SupplementalGroupsPolicy) string {
	if p == runtimeapi.SupplementalGroupsPolicy_Strict {
		return "Strict"
	}
	return "Merge"
}

// securityProfile translates a profile. The deprecated profile path
// fields are not read: kubelets since 1.30 send profiles.
func securityProfile(p *runtimeapi.SecurityProfile) *sandbox.SecurityProfile {
	if p == nil {
		return nil
	}
	switch p.GetProfileType() {
	case runtimeapi.SecurityProfile_Unconfined:
		return &sandbox.SecurityProfile{Type: "Unconfined"}
	case runtimeapi.SecurityProfile_Localhost:
		return &sandbox.SecurityProfile{Type: "Localhost", LocalhostRef: p.GetLocalhostRef()}
	default:
		return &sandbox.SecurityProfile{Type: "RuntimeDefault"}
	}
}

// podState is the CRI state of a pod.
func podState(sb *sandbox.Sandbox) runtimeapi.PodSandboxState {
	if sb.Ready() {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

func podMetadata(sb *sandbox.Sandbox) *runtimeapi.PodSandboxMetadata {
	c := &sb.Config
	return &runtimeapi.PodSandboxMetadata{Name: c.Name, Uid: c.UID, Namespace: c.Namespace, Attempt: c.Attempt}
}

// podSandboxStatus translates a pod into its CRI status.
func podSandboxStatus(sb *sandbox.Sandbox) *runtimeapi.PodSandboxStatus {
	st := &runtimeapi.PodSandboxStatus{
		Id:        sb.ID,
		Metadata:  podMetadata(sb),
		State:     podState(sb),
		CreatedAt: sb.CreatedAt.UnixNano(),
		Network:   &runtimeapi.PodSandboxNetworkStatus{},
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: &runtimeapi.NamespaceOption{
			Network:       runtimeapi.NamespaceMode(sb.Config.Namespaces.Network),
			Pid:           runtimeapi.NamespaceMode(sb.Config.Namespaces.PID),
			Ipc:           runtimeapi.NamespaceMode(sb.Config.Namespaces.IPC),
			UsernsOptions: criUserNS(sb.Config.UserNS),
		}}},
		Labels:         sb.Config.Labels,
		Annotations:    sb.Config.Annotations,
		RuntimeHandler: sb.Config.RuntimeHandler,
	}
	if len(sb.IPs) > 0 {
		st.Network.Ip = sb.IPs[0]
		for _, ip := range sb.IPs[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	return st
}

// podSandbox translates a pod into its CRI list entry.
func podSandbox(sb *sandbox.Sandbox) *runtimeapi.PodSandbox {
	return &runtimeapi.PodSandbox{
		Id:             sb.ID,
		Metadata:       podMetadata(sb),
		State:          podState(sb),
		CreatedAt:      sb.CreatedAt.UnixNano(),
		Labels:         sb.Config.Labels,
		Annotations:    sb.Config.Annotations,
		RuntimeHandler: sb.Config.RuntimeHandler,
	}
}
