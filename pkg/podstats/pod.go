package podstats

import (
	"github.com/cri-shim/cri-shim/pkg/network"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// DefaultInterface is the pod's interface on the pod network.
const DefaultInterface = network.DefaultIfName

// PodKey is the Reader key of pod id's cgroup.
func PodKey(id string) string { return "pod/" + id }

// ContainerKey is the Reader key of container id's cgroup.
func ContainerKey(id string) string { return "container/" + id }

// Pod is one reading of a pod: its cgroup and the interfaces of its
// network namespace.
type Pod struct {
	// Cgroup is the pod cgroup, its containers and PID 1 included.
	Cgroup *Sample
	// Interfaces are the pod's network interfaces but loopback; empty with
	// the host network or once the pod's namespace is gone.
	Interfaces []network.LinkStats
}

// Pod reads pod sb's cgroup and, when it has a network namespace of its
// own, its interfaces' counters. With procs it also counts threads,
// descriptors and sockets.
func (r *Reader) Pod(sb *sandbox.Sandbox, procs bool) (*Pod, error) {
	cg, err := r.Cgroup(PodKey(sb.ID), sb.Resources.Cgroup.Dirs, procs)
	if err != nil {
		return nil, err
	}
	p := &Pod{Cgroup: cg}
	if ns := sb.Resources.NetNS; ns != "" && sb.State != sandbox.StateRemoving {
		// A namespace pin that cannot be read (being removed) leaves the
		// network out rather than failing the whole reading.
		if ifs, err := network.InterfaceStats(ns); err == nil {
			p.Interfaces = ifs
		}
	}
	return p, nil
}

// Default returns the interface named DefaultInterface, else the first
// one, else nil.
func (p *Pod) Default() *network.LinkStats {
	for i := range p.Interfaces {
		if p.Interfaces[i].Name == DefaultInterface {
			return &p.Interfaces[i]
		}
	}
	if len(p.Interfaces) > 0 {
		return &p.Interfaces[0]
	}
	return nil
}
