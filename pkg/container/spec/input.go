package spec

import (
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Input is everything Build needs to know about one container. It mirrors the
// CRI ContainerConfig (and the parts of PodSandboxConfig a container uses),
// plus the facts the caller looked up about the sandbox and the host.
type Input struct {
	// ID is the container's ID.
	ID string
	// Name is the container's name from its CRI metadata; errors name it.
	Name string
	// ImageName is the image reference the client asked for (an annotation).
	ImageName string
	// ImageConfig is the config of the container's image.
	ImageConfig ocispec.ImageConfig
	// Rootfs is the absolute path of the container's mounted root filesystem.
	// Its /etc/passwd and /etc/group resolve user and group names.
	Rootfs string

	// Command overrides the image's Entrypoint (and then the image's Cmd is dropped).
	Command []string
	// Args override the image's Cmd.
	Args []string
	// Env is added after the image's Env; a key given here wins.
	Env []EnvVar
	// WorkingDir overrides the image's WorkingDir.
	WorkingDir string
	// TTY gives the process a terminal (and TERM=xterm).
	TTY bool
	// Stdin and StdinOnce do not change the spec; they ride along for the caller.
	Stdin, StdinOnce bool
	// StopSignal is the request's stop signal name ("" = unset); see StopSignal.
	StopSignal string

	// Mounts are the request's host-path mounts.
	Mounts []Mount
	// Devices are the host devices to expose.
	Devices []Device
	// Labels are the container's labels; they do not reach the spec.
	Labels map[string]string
	// Annotations are the container's annotations; only keys matching
	// Host.AnnotationPassthrough reach the spec.
	Annotations map[string]string

	// Resources are the container's cgroup limits; nil leaves them all unset.
	Resources *Resources
	// Security is the container's Linux security context.
	Security SecurityContext
	// Sysctls are namespaced sysctls to set (the pod's, as the caller chooses).
	Sysctls map[string]string

	// CgroupsPath is the container's cgroup (the caller computes <pod cgroup>/<id>).
	CgroupsPath string

	// Sandbox holds the facts about the container's pod.
	Sandbox Sandbox
	// Host holds the facts about this machine and daemon.
	Host Host
}

// EnvVar is one environment variable.
type EnvVar struct {
	// Key is the variable's name.
	Key string
	// Value is the variable's value.
	Value string
}

// Propagation is a mount's propagation mode.
type Propagation int

const (
	// PropagationPrivate is rprivate: nothing propagates (the default).
	PropagationPrivate Propagation = iota
	// PropagationHostToContainer is rslave: host mounts appear in the container.
	PropagationHostToContainer
	// PropagationBidirectional is rshared: mounts propagate both ways.
	PropagationBidirectional
)

// Mount is a host path bind-mounted into the container.
type Mount struct {
	// ContainerPath is the absolute destination inside the container.
	ContainerPath string
	// HostPath is the absolute source on the host; it must exist. Symlinks are resolved.
	HostPath string
	// Readonly mounts it read-only.
	Readonly bool
	// RecursiveReadOnly makes every submount read-only too ("rro"); it needs
	// Readonly and private propagation.
	RecursiveReadOnly bool
	// Propagation is the mount's propagation mode.
	Propagation Propagation
	// SelinuxRelabel is ignored: SELinux is not supported.
	SelinuxRelabel bool
	// UIDMappings and GIDMappings, when set, make the bind mount idmapped.
	UIDMappings, GIDMappings []IDMapping

	// Image, when set, makes this an image volume: that image (as the
	// request names it) mounted read-only. The caller mounts it and sets
	// HostPath before Build.
	Image string
	// ImageUserSpecified is the image as the user wrote it, for the status.
	ImageUserSpecified string
	// ImageSubPath is the directory inside the image to mount ("" = its root).
	ImageSubPath string
	// ImageID is the image the volume resolved to, for the status.
	ImageID string
}

// IDMapping maps Size IDs from ContainerID inside a user namespace to
// HostID outside it.
type IDMapping struct {
	// ContainerID is the first ID inside the namespace.
	ContainerID uint32
	// HostID is the first ID on the host.
	HostID uint32
	// Size is how many IDs are mapped.
	Size uint32
}

// UserNamespaceRequest is a container's user namespace request, as the CRI
// UserNamespace: it must agree with the pod's.
type UserNamespaceRequest struct {
	// Mode is NamespaceNode (the host's) or NamespacePod (the pod's own).
	Mode NamespaceMode
	// UIDs and GIDs, when given, must be the pod's mappings.
	UIDs, GIDs []IDMapping
}

// Device is a host device exposed to the container.
type Device struct {
	// ContainerPath is the device's path in the container ("" = HostPath).
	ContainerPath string
	// HostPath is the device node (or a directory of them) on the host.
	HostPath string
	// Permissions is the cgroup access, a combination of r, w and m ("" = "rwm").
	Permissions string
}

// Resources are the container's cgroup limits, as in CRI LinuxContainerResources.
// A zero value leaves that limit unset.
type Resources struct {
	// CPUPeriod is the CFS period in microseconds.
	CPUPeriod int64
	// CPUQuota is the CFS quota in microseconds.
	CPUQuota int64
	// CPUShares is the relative CPU weight.
	CPUShares int64
	// MemoryLimit is the memory limit in bytes.
	MemoryLimit int64
	// MemorySwapLimit is the memory+swap limit in bytes.
	MemorySwapLimit int64
	// OOMScoreAdj is the process's oom_score_adj; it is raised to Host.OOMScoreAdjFloor.
	OOMScoreAdj int64
	// CpusetCPUs is the cpuset.cpus list.
	CpusetCPUs string
	// CpusetMems is the cpuset.mems list.
	CpusetMems string
	// HugepageLimits limit hugetlb usage per page size.
	HugepageLimits []HugepageLimit
	// Unified is raw cgroup v2 key/values.
	Unified map[string]string
}

// HugepageLimit limits one huge page size.
type HugepageLimit struct {
	// PageSize is the size in the cgroup file's format, e.g. "2MB" or "1GB".
	PageSize string
	// Limit is the limit in bytes.
	Limit uint64
}

// SupplementalGroupsPolicy says where supplementary groups come from.
type SupplementalGroupsPolicy int

const (
	// SupplementalGroupsMerge adds the user's groups from the image's /etc/group.
	SupplementalGroupsMerge SupplementalGroupsPolicy = iota
	// SupplementalGroupsStrict uses only the requested supplementary groups.
	SupplementalGroupsStrict
)

// ProfileType is the kind of a seccomp or AppArmor profile.
type ProfileType int

const (
	// ProfileRuntimeDefault is the runtime's default profile.
	ProfileRuntimeDefault ProfileType = iota
	// ProfileUnconfined applies no profile.
	ProfileUnconfined
	// ProfileLocalhost is a profile on the host named by LocalhostRef.
	ProfileLocalhost
)

// SecurityProfile is a seccomp or AppArmor profile choice.
type SecurityProfile struct {
	// Type is the profile's kind.
	Type ProfileType
	// LocalhostRef is, for ProfileLocalhost, the absolute path of a seccomp
	// JSON file or the name of a loaded AppArmor profile.
	LocalhostRef string
}

// NamespaceMode is where a container's namespace comes from.
type NamespaceMode int

const (
	// NamespacePod shares the pod's namespace.
	NamespacePod NamespaceMode = iota
	// NamespaceContainer gives the container a namespace of its own.
	NamespaceContainer
	// NamespaceNode uses the host's namespace.
	NamespaceNode
	// NamespaceTarget joins another container's namespace (PID only).
	NamespaceTarget
)

// NamespaceOptions are the container's namespace modes, as in CRI NamespaceOption.
type NamespaceOptions struct {
	// Network is the network namespace mode (POD follows the sandbox, NODE is the host's).
	Network NamespaceMode
	// PID is the PID namespace mode.
	PID NamespaceMode
	// IPC is the IPC namespace mode (POD follows the sandbox, NODE is the host's).
	IPC NamespaceMode
	// TargetID is the container whose PID namespace a TARGET container joins.
	TargetID string
	// User is the container's user namespace request; nil follows the pod.
	User *UserNamespaceRequest
}

// Capabilities are capability names to add and drop; "ALL" means every one.
// Names may carry the CAP_ prefix or not, in any case.
type Capabilities struct {
	// Add lists capabilities to add.
	Add []string
	// Drop lists capabilities to drop.
	Drop []string
}

// SecurityContext is the container's Linux security context.
type SecurityContext struct {
	// Privileged gives all capabilities and host devices and lifts confinement.
	Privileged bool
	// Capabilities adjust the default capability set.
	Capabilities Capabilities
	// RunAsUser is the uid to run as (nil = image user).
	RunAsUser *int64
	// RunAsUsername is a user name from the image's /etc/passwd; it wins over RunAsUser.
	RunAsUsername string
	// RunAsGroup is the primary gid; it needs RunAsUser or RunAsUsername.
	RunAsGroup *int64
	// SupplementalGroups are added to the process's groups.
	SupplementalGroups []int64
	// SupplementalGroupsPolicy says whether the image's groups are merged in.
	SupplementalGroupsPolicy SupplementalGroupsPolicy
	// NoNewPrivs sets no_new_privs.
	NoNewPrivs bool
	// ReadonlyRootfs mounts the rootfs (and the pod's /etc files) read-only.
	ReadonlyRootfs bool
	// MaskedPaths are masked in the container. nil means the runtime's
	// defaults; an empty non-nil slice means none.
	MaskedPaths []string
	// ReadonlyPaths are made read-only. nil means the runtime's defaults; an
	// empty non-nil slice means none.
	ReadonlyPaths []string
	// Seccomp is the seccomp profile; nil is unconfined.
	Seccomp *SecurityProfile
	// AppArmor is the AppArmor profile; nil is the runtime default when
	// AppArmor is enabled.
	AppArmor *SecurityProfile
	// Namespaces are the container's namespace modes.
	Namespaces NamespaceOptions
}

// NamespacePath says how to get a namespace the sandbox owns: the host's, or
// an existing one to join by path. The zero value is neither and is refused.
type NamespacePath struct {
	// Host selects the host's namespace.
	Host bool
	// Path is a namespace file to join, e.g. a pinned netns or /proc/<pid>/ns/pid.
	Path string
}

// Sandbox holds the facts about the container's pod that the caller looked up.
type Sandbox struct {
	// ID is the pod sandbox's ID.
	ID string
	// Name, Namespace and UID are the pod's metadata.
	Name, Namespace, UID string
	// Hostname is the pod's hostname (the HOSTNAME variable); "" uses the host's.
	Hostname string
	// Privileged is true when the pod may run privileged containers.
	Privileged bool
	// Annotations are the pod's annotations; only keys matching
	// Host.AnnotationPassthrough reach the spec.
	Annotations map[string]string
	// NetNS, IPCNS and UTSNS are the pod's namespaces.
	NetNS, IPCNS, UTSNS NamespacePath
	// PIDNS is the pod's PID namespace, joined by containers in PID mode POD.
	PIDNS NamespacePath
	// TargetPIDNS is the PID namespace path of Security.Namespaces.TargetID.
	TargetPIDNS string
	// UserNS is the pod's user namespace: the host's, or the pod's own by
	// path (which owns the pod's other namespaces). The zero value is the host's.
	UserNS NamespacePath
	// UIDMappings and GIDMappings are the mappings of the pod's own user namespace.
	UIDMappings, GIDMappings []IDMapping
	// HostsPath, HostnamePath and ResolvConfPath are the pod's /etc/hosts,
	// /etc/hostname and /etc/resolv.conf ("" = none); each is bind-mounted
	// unless the request mounts that path itself.
	HostsPath, HostnamePath, ResolvConfPath string
	// ShmPath is the pod's /dev/shm ("" = a private tmpfs). A container in the
	// host IPC namespace gets the host's /dev/shm instead.
	ShmPath string
}

// Host holds the facts about this machine and daemon.
type Host struct {
	// AppArmorEnabled is true when the kernel has AppArmor; when false any
	// profile but Unconfined is refused.
	AppArmorEnabled bool
	// AppArmorDefaultProfile is the loaded profile used for RuntimeDefault.
	AppArmorDefaultProfile string
	// OOMScoreAdjFloor is the daemon's own oom_score_adj: without
	// CAP_SYS_RESOURCE nothing lower can be set, so lower requests are raised to it.
	OOMScoreAdjFloor int
	// CgroupV2 is true on a unified (v2-only) hierarchy: containers get a cgroup namespace.
	CgroupV2 bool
	// SwapAccounting is true when swap limits can be set (memory.memsw or memory.swap.max).
	SwapAccounting bool
	// HugetlbController is true when the hugetlb controller is usable; when
	// false, hugepage limits are dropped (containerd's tolerate_missing_hugetlb_controller).
	HugetlbController bool
	// Capabilities are the daemon's capabilities, granted for privileged and
	// "ALL"; nil reads them from /proc/self/status.
	Capabilities []string
	// AnnotationPassthrough are path.Match patterns of pod and container
	// annotation keys copied into the spec.
	AnnotationPassthrough []string
}
