package sandbox

import (
	"fmt"
	"time"

	"github.com/cri-shim/cri-shim/pkg/network"
)

// State is where a pod is in its life. Only Ready and NotReady are seen
// from outside; the others mark work in progress, so that a restart after a
// crash knows what to finish or undo.
type State string

// Pod states.
const (
	// StateCreating: RunPodSandbox is making the pod (rolled back at start-up).
	StateCreating State = "creating"
	// StateReady: the pod runs.
	StateReady State = "ready"
	// StateStopping: StopPodSandbox is at work (finished at start-up).
	StateStopping State = "stopping"
	// StateNotReady: stopped; namespaces, files and cgroup remain until removal.
	StateNotReady State = "notready"
	// StateRemoving: RemovePodSandbox is at work (finished at start-up).
	StateRemoving State = "removing"
)

// NamespaceMode says whose namespace of one kind a pod's containers use.
type NamespaceMode int

// Namespace modes, with the values of the CRI NamespaceMode.
const (
	// NamespacePod: one namespace for the whole pod.
	NamespacePod NamespaceMode = 0
	// NamespaceContainer: each container its own (PID only).
	NamespaceContainer NamespaceMode = 1
	// NamespaceNode: the host's.
	NamespaceNode NamespaceMode = 2
)

// String names the mode as the CRI does.
func (m NamespaceMode) String() string {
	switch m {
	case NamespacePod:
		return "POD"
	case NamespaceContainer:
		return "CONTAINER"
	case NamespaceNode:
		return "NODE"
	}
	return fmt.Sprintf("NamespaceMode(%d)", int(m))
}

// NamespaceOptions are the pod's namespace modes.
type NamespaceOptions struct {
	Network NamespaceMode `json:"network"`
	PID     NamespaceMode `json:"pid"`
	IPC     NamespaceMode `json:"ipc"`
}

// DNSConfig is the pod's resolver configuration.
type DNSConfig struct {
	Servers  []string `json:"servers,omitempty"`
	Searches []string `json:"searches,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// PortMapping forwards a host port to a pod port.
type PortMapping struct {
	// Protocol is "tcp", "udp" or "sctp".
	Protocol      string `json:"protocol"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
}

// SecurityProfile names a seccomp or AppArmor profile.
type SecurityProfile struct {
	// Type is "RuntimeDefault", "Unconfined" or "Localhost".
	Type string `json:"type"`
	// LocalhostRef is the profile of a Localhost type.
	LocalhostRef string `json:"localhostRef,omitempty"`
}

// SELinuxOptions is an SELinux label.
type SELinuxOptions struct {
	User  string `json:"user,omitempty"`
	Role  string `json:"role,omitempty"`
	Type  string `json:"type,omitempty"`
	Level string `json:"level,omitempty"`
}

// SecurityOptions are the pod-level security settings its containers
// inherit. The runtime records them; containers apply them.
type SecurityOptions struct {
	Privileged     bool   `json:"privileged,omitempty"`
	ReadonlyRootfs bool   `json:"readonlyRootfs,omitempty"`
	RunAsUser      *int64 `json:"runAsUser,omitempty"`
	RunAsGroup     *int64 `json:"runAsGroup,omitempty"`
	// SupplementalGroups are added to every container process.
	SupplementalGroups []int64 `json:"supplementalGroups,omitempty"`
	// SupplementalGroupsPolicy is "Merge" or "Strict".
	SupplementalGroupsPolicy string           `json:"supplementalGroupsPolicy,omitempty"`
	Seccomp                  *SecurityProfile `json:"seccomp,omitempty"`
	Apparmor                 *SecurityProfile `json:"apparmor,omitempty"`
	SELinux                  *SELinuxOptions  `json:"selinux,omitempty"`
}

// Config is what a pod is asked to be.
type Config struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
	Attempt   uint32 `json:"attempt"`
	// Hostname is the requested hostname ("" picks the host's).
	Hostname string `json:"hostname,omitempty"`
	// LogDirectory is where the kubelet wants container logs.
	LogDirectory string            `json:"logDirectory,omitempty"`
	DNS          *DNSConfig        `json:"dns,omitempty"`
	PortMappings []PortMapping     `json:"portMappings,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// CgroupParent is the kubelet's pod cgroup (cgroupfs path), or "".
	CgroupParent string            `json:"cgroupParent,omitempty"`
	Sysctls      map[string]string `json:"sysctls,omitempty"`
	Namespaces   NamespaceOptions  `json:"namespaces"`
	// UserNS is the pod's own user namespace; nil uses the host's.
	UserNS   *UserNamespace  `json:"userns,omitempty"`
	Security SecurityOptions `json:"security"`
	// RuntimeHandler is the requested handler; only "" exists.
	RuntimeHandler string `json:"runtimeHandler,omitempty"`
	// Resources are the pod-level resources, as requested or last updated.
	Resources *PodResources `json:"resources,omitempty"`
}

// Process identifies a process across PID reuse.
type Process struct {
	PID int `json:"pid"`
	// StartTime is the start time in clock ticks since boot (/proc/PID/stat field 22).
	StartTime uint64 `json:"startTime"`
}

// Cgroup is the pod's cgroup.
type Cgroup struct {
	// Path is the cgroupfs path of the pod cgroup ("/cri-shim/<id>" or the
	// kubelet's); containers go under it.
	Path string `json:"path"`
	// Dirs are its directories, by controller ("" is the unified hierarchy).
	Dirs map[string]string `json:"dirs"`
	// Created are the directories this runtime made for the pod and removes.
	Created []string `json:"created,omitempty"`
	// Ancestors are parent directories the runtime made and shares among
	// pods; the last pod under one removes it.
	Ancestors []string `json:"ancestors,omitempty"`
}

// Resources are what the pod is made of. They are planned, and recorded,
// before anything is made, so that an interrupted creation can be undone.
type Resources struct {
	// Dir holds the pod's files and pins.
	Dir string `json:"dir"`
	// NetNS, IPCNS and UTSNS are the namespace pins; "" where the pod uses the host's.
	NetNS string `json:"netns,omitempty"`
	IPCNS string `json:"ipcns,omitempty"`
	UTSNS string `json:"utsns,omitempty"`
	// UserNS is the pin of the pod's user namespace, which owns the others; "" is the host's.
	UserNS string `json:"userns,omitempty"`
	// Hostname is the pod's hostname.
	Hostname     string `json:"hostname"`
	HostnamePath string `json:"hostnamePath"`
	HostsPath    string `json:"hostsPath"`
	ResolvPath   string `json:"resolvPath"`
	// ShmPath is the pod's /dev/shm: a tmpfs in Dir, or the host's /dev/shm with host IPC.
	ShmPath string `json:"shmPath"`
	// Cgroup is the pod cgroup.
	Cgroup Cgroup `json:"cgroup"`
	// Network is the CNI attachment; nil with host network.
	Network *network.Attachment `json:"network,omitempty"`
	// NetworkAttached is true from the moment ADD may have run until DEL succeeded.
	NetworkAttached bool `json:"networkAttached,omitempty"`
	// PodInit is the PID 1 of the pod's PID namespace; nil without one.
	PodInit *Process `json:"podInit,omitempty"`
	// WantPodInit is true when the pod has its own PID namespace.
	WantPodInit bool `json:"wantPodInit,omitempty"`
}

// Sandbox is a pod as recorded: its config, its state and its resources.
// Values handed out are copies; their maps and slices are shared and must
// not be modified.
type Sandbox struct {
	ID        string    `json:"id"`
	Config    Config    `json:"config"`
	State     State     `json:"state"`
	CreatedAt time.Time `json:"createdAt"`
	Resources Resources `json:"resources"`
	// IPs are the pod's addresses, IPv4 first.
	IPs []string `json:"ips,omitempty"`
	// NetworkError is the last network teardown failure, if the network is still attached.
	NetworkError string `json:"networkError,omitempty"`
}

// Ready reports whether the pod runs.
func (s *Sandbox) Ready() bool { return s.State == StateReady }

// PIDNamespacePath is the PID namespace containers of the pod join, or ""
// when the pod has no PID namespace of its own.
func (s *Sandbox) PIDNamespacePath() string {
	if s.Resources.PodInit == nil {
		return ""
	}
	return fmt.Sprintf("/proc/%d/ns/pid", s.Resources.PodInit.PID)
}

// NamespacePaths are the paths of the pod's own namespaces by kind ("net",
// "ipc", "uts", "pid", "user"), for the container spec; a kind the pod
// shares with the host is absent.
func (s *Sandbox) NamespacePaths() map[string]string {
	out := map[string]string{}
	r := &s.Resources
	for k, p := range map[string]string{"net": r.NetNS, "ipc": r.IPCNS, "uts": r.UTSNS, "pid": s.PIDNamespacePath(), "user": r.UserNS} {
		if p != "" {
			out[k] = p
		}
	}
	return out
}

func (s *Sandbox) clone() Sandbox {
	c := *s
	c.IPs = append([]string(nil), s.IPs...)
	if s.Resources.PodInit != nil {
		p := *s.Resources.PodInit
		c.Resources.PodInit = &p
	}
	return c
}
