package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/network"
)

// Dir is the directory of pod state under the state dir.
const Dir = "sandboxes"

// rollbackTimeout bounds undoing a failed creation when the caller has gone.
const rollbackTimeout = 2 * time.Minute

// Run makes a pod and returns its ID. A pod with the same namespace, name,
// UID and attempt, even one still being made, gives errdefs.ErrAlreadyExists.
// If any step fails, the steps done are undone.
func (m *Manager) Run(ctx context.Context, cfg Config) (string, error) {
	if err := validate(&cfg); err != nil {
		return "", err
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	p := &pod{sb: Sandbox{ID: id, Config: cfg, State: StateCreating}}
	p.op.Lock()
	defer p.op.Unlock()
	if err := m.reserve(nameKey(&cfg), id, p, &cfg); err != nil {
		return "", err
	}
	timer := newStepTimer()
	sb, err := m.plan(id, cfg)
	if err != nil {
		m.forget(id, &cfg)
		return "", err
	}
	p.update(func(s *Sandbox) { *s = sb })
	timer.mark("plan")
	if err := m.put(ctx, sb); err != nil {
		m.cgroups.release(id, sb.Resources.Cgroup)
		m.forget(id, &cfg)
		return "", err
	}
	timer.mark("record")
	defer timer.log("made", id)
	if err := m.make(ctx, p, timer); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		if rerr := m.teardown(rctx, p, false); rerr != nil {
			// The record stays "creating": start-up finishes the rollback.
			klog.Errorf("pod %s: rollback after failed creation incomplete, left for start-up: %v", id, rerr)
		} else if derr := m.drop(rctx, id); derr != nil {
			klog.Errorf("pod %s: %v", id, derr)
		}
		m.forget(id, &cfg)
		return "", err
	}
	m.emit(p, EventCreated)
	m.emit(p, EventStarted)
	m.watchInit(p)
	return id, nil
}

// plan works out every resource of the pod before any is made.
func (m *Manager) plan(id string, cfg Config) (Sandbox, error) {
	conf := m.cfg()
	dir := filepath.Join(conf.StateDir, Dir, id)
	sb := Sandbox{ID: id, Config: cfg, State: StateCreating, CreatedAt: time.Now()}
	r := &sb.Resources
	r.Dir = dir
	r.HostnamePath = filepath.Join(dir, "hostname")
	r.HostsPath = filepath.Join(dir, "hosts")
	r.ResolvPath = filepath.Join(dir, "resolv.conf")
	hostNet := cfg.Namespaces.Network == NamespaceNode
	if !hostNet {
		r.NetNS = filepath.Join(dir, "netns")
		r.UTSNS = filepath.Join(dir, "utsns")
	}
	if cfg.Namespaces.IPC == NamespaceNode {
		r.ShmPath = HostShm
	} else {
		r.IPCNS = filepath.Join(dir, "ipcns")
		r.ShmPath = filepath.Join(dir, "shm")
	}
	r.WantPodInit = cfg.Namespaces.PID == NamespacePod
	if cfg.UserNS != nil {
		r.UserNS = filepath.Join(dir, "userns")
	}
	r.Hostname = cfg.Hostname
	if r.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return Sandbox{}, fmt.Errorf("pod %s: host name: %w", id, err)
		}
		r.Hostname = h
	}
	if !hostNet {
		caps, err := capabilities(&cfg)
		if err != nil {
			return Sandbox{}, fmt.Errorf("pod %s: %w", id, err)
		}
		meta := network.PodMeta{Namespace: cfg.Namespace, Name: cfg.Name, UID: cfg.UID}
		if r.Network, err = m.net.Plan(id, r.NetNS, meta, caps); err != nil {
			return Sandbox{}, err
		}
	}
	cgPath := cfg.CgroupParent
	if cgPath == "" {
		cgPath = defaultCgroupPath(conf.CgroupParent, id)
	}
	cg, err := m.cgroups.plan(id, cgPath)
	if err != nil {
		return Sandbox{}, fmt.Errorf("pod %s: %w", id, err)
	}
	r.Cgroup = cg
	return sb, nil
}

// capabilities are the CNI capability arguments of the pod: host ports,
// bandwidth annotations and DNS.
func capabilities(cfg *Config) (network.Capabilities, error) {
	var caps network.Capabilities
	for _, pm := range cfg.PortMappings {
		if pm.HostPort <= 0 {
			continue // nothing to map: the port is reached on the pod IP
		}
		caps.PortMappings = append(caps.PortMappings, network.PortMapping{
			HostPort: pm.HostPort, ContainerPort: pm.ContainerPort, Protocol: pm.Protocol, HostIP: pm.HostIP,
		})
	}
	bw, err := network.BandwidthFromAnnotations(cfg.Annotations)
	if err != nil {
		return caps, invalid("%v", err)
	}
	caps.Bandwidth = bw
	if d := cfg.DNS; d != nil && len(d.Servers)+len(d.Searches)+len(d.Options) > 0 {
		caps.DNS = &network.DNS{Servers: d.Servers, Searches: d.Searches, Options: d.Options}
	}
	return caps, nil
}
