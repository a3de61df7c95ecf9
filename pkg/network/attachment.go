package network

import "encoding/json"

// DefaultIfName is the pod's interface on the pod network.
const DefaultIfName = "eth0"

// Attachment is one pod's attachment to the pod network: everything ADD was
// called with, kept in the pod's record so that CHECK and DEL repeat it
// exactly, even after the operator changed the configuration or the runtime
// restarted.
type Attachment struct {
	// PodID is the CNI container ID.
	PodID string `json:"podID"`
	// NetNS is the path of the pod's network namespace.
	NetNS string `json:"netns"`
	// IfName is the pod's interface.
	IfName string `json:"ifName"`
	// Args are the CNI_ARGS pairs.
	Args [][2]string `json:"args"`
	// Capabilities are the runtime capability arguments.
	Capabilities Capabilities `json:"capabilities"`
	// Network is the network's name.
	Network string `json:"network"`
	// Source is the file the configuration came from, or BuiltinSource.
	Source string `json:"source"`
	// ConfList is the configuration list ADD ran with.
	ConfList json.RawMessage `json:"confList"`
}

// PodMeta names the pod to the plugins (CNI_ARGS).
type PodMeta struct {
	Namespace string
	Name      string
	UID       string
}

// Capabilities are the runtime capability arguments a pod asks for; each
// reaches only the plugins that declare the capability.
type Capabilities struct {
	PortMappings []PortMapping `json:"portMappings,omitempty"`
	Bandwidth    *Bandwidth    `json:"bandwidth,omitempty"`
	DNS          *DNS          `json:"dns,omitempty"`
	// IPRanges are the pod CIDR's ranges, for IPAM plugins that take them.
	IPRanges [][]IPRange `json:"ipRanges,omitempty"`
}

// PortMapping is the portMappings capability entry: a host port forwarded
// to a pod port.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Bandwidth is the bandwidth capability: rates and bursts in bits per second.
type Bandwidth struct {
	IngressRate  uint64 `json:"ingressRate,omitempty"`
	IngressBurst uint64 `json:"ingressBurst,omitempty"`
	EgressRate   uint64 `json:"egressRate,omitempty"`
	EgressBurst  uint64 `json:"egressBurst,omitempty"`
}

// DNS is the dns capability.
type DNS struct {
	Servers  []string `json:"servers,omitempty"`
	Searches []string `json:"searches,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// Result is what the pod got from ADD.
type Result struct {
	// IPs are the pod's addresses, IPv4 first.
	IPs []string
}

// podArgs are the CNI_ARGS every plugin gets; IgnoreUnknown lets plugins
// that do not know the K8S_ keys accept them.
func podArgs(podID string, meta PodMeta) [][2]string {
	return [][2]string{
		{"IgnoreUnknown", "1"},
		{"K8S_POD_NAMESPACE", meta.Namespace},
		{"K8S_POD_NAME", meta.Name},
		{"K8S_POD_INFRA_CONTAINER_ID", podID},
		{"K8S_POD_UID", meta.UID},
	}
}

// capabilityArgs is the map libcni hands to the plugins that declare each key.
func (c Capabilities) capabilityArgs() map[string]any {
	m := map[string]any{}
	if len(c.PortMappings) > 0 {
		m["portMappings"] = c.PortMappings
	}
	if c.Bandwidth != nil {
		m["bandwidth"] = c.Bandwidth
	}
	if c.DNS != nil {
		m["dns"] = c.DNS
	}
	if len(c.IPRanges) > 0 {
		m["ipRanges"] = c.IPRanges
	}
	return m
}
