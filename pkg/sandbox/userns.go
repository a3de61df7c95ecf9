package sandbox

import (
	"fmt"
	"math"
	"syscall"

	"github.com/cri-shim/cri-shim/pkg/sandbox/podns"
)

// IDMapping maps Size IDs from ContainerID inside the pod's user namespace
// to HostID on the host.
type IDMapping struct {
	ContainerID uint32 `json:"containerID"`
	HostID      uint32 `json:"hostID"`
	Size        uint32 `json:"size"`
}

// UserNamespace is a pod's own user namespace (CRI mode POD). The pod's
// network, IPC, UTS and PID namespaces are made inside it, so that its
// containers own them.
type UserNamespace struct {
	// UIDs and GIDs hold one mapping each, of container ID 0.
	UIDs []IDMapping `json:"uids"`
	GIDs []IDMapping `json:"gids"`
}

// validUserNS checks a pod's user namespace request, after the namespace
// modes have their defaults.
func validUserNS(c *Config) error {
	u := c.UserNS
	if u == nil {
		return nil
	}
	for _, m := range []struct {
		kind string
		maps []IDMapping
	}{{"uid", u.UIDs}, {"gid", u.GIDs}} {
		if len(m.maps) != 1 {
			return invalid("pod user namespace: exactly one %s mapping is supported, got %d", m.kind, len(m.maps))
		}
		x := m.maps[0]
		switch {
		case x.Size == 0:
			return invalid("pod user namespace: %s mapping %+v has size 0", m.kind, x)
		case x.ContainerID != 0:
			return invalid("pod user namespace: %s mapping %+v does not map container ID 0", m.kind, x)
		case uint64(x.HostID)+uint64(x.Size) > math.MaxUint32, uint64(x.ContainerID)+uint64(x.Size) > math.MaxUint32:
			return invalid("pod user namespace: %s mapping %+v overflows the ID range", m.kind, x)
		}
	}
	if ns := c.Namespaces; ns.Network == NamespaceNode || ns.IPC == NamespaceNode || ns.PID == NamespaceNode {
		return invalid("pod user namespace: the pod cannot also use the host's network, IPC or PID namespace (%+v)", ns)
	}
	return nil
}

// usernsFlags are the namespaces the holder of a user-namespaced pod's
// namespaces makes, all owned by its new user namespace.
func usernsFlags(r *Resources) uintptr {
	flags := uintptr(syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS)
	if r.WantPodInit {
		flags |= syscall.CLONE_NEWPID
	}
	return flags
}

// makeUserNamespaces makes a user-namespaced pod's namespaces: a pod init
// process is started in a new user namespace with new network, IPC and UTS
// (and PID) namespaces, they are pinned, and setup runs inside them. The
// process stays as the pod's PID 1 when the pod has a PID namespace, and is
// ended otherwise.
func (m *Manager) makeUserNamespaces(p *pod, sb *Sandbox, setup func() error) error {
	r := &sb.Resources
	proc, exited, err := m.spawnPodInit(sb, usernsFlags(r))
	if err != nil {
		return fmt.Errorf("pod %s: user namespace: %w", sb.ID, err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = kill(proc)
			<-exited
		}
	}()
	pins := map[podns.Kind]string{podns.User: r.UserNS, podns.Net: r.NetNS, podns.IPC: r.IPCNS, podns.UTS: r.UTSNS}
	if err := podns.PinProcess(proc.PID, pins); err != nil {
		return fmt.Errorf("pod %s: %w", sb.ID, err)
	}
	delete(pins, podns.User)
	if err := podns.Do(pins, setup); err != nil {
		return fmt.Errorf("pod %s: namespaces: %w", sb.ID, err)
	}
	if r.WantPodInit {
		keep = true
		p.mu.Lock()
		p.sb.Resources.PodInit, p.initExited = proc, exited
		p.mu.Unlock()
	}
	return nil
}

// mappedID is the ID inside maps of want, or of root when want is not mapped.
func mappedID(maps []IDMapping, want uint32) uint32 {
	for _, m := range maps {
		if want >= m.ContainerID && want-m.ContainerID < m.Size {
			return want
		}
	}
	return 0
}
