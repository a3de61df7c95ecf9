package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/sandbox/podns"
)

// make makes the planned pod, step by step, and marks it ready.
func (m *Manager) make(ctx context.Context, p *pod, timer *stepTimer) error {
	sb := p.get()
	r := &sb.Resources
	id := sb.ID
	if err := m.faults.At("record"); err != nil {
		return err
	}
	if err := os.MkdirAll(r.Dir, 0o711); err != nil {
		return fmt.Errorf("pod %s: state dir: %w", id, err)
	}

	pins := map[podns.Kind]string{}
	for k, pin := range map[podns.Kind]string{podns.Net: r.NetNS, podns.IPC: r.IPCNS, podns.UTS: r.UTSNS} {
		if pin != "" {
			pins[k] = pin
		}
	}
	setup := func() error {
		if r.UTSNS != "" {
			if err := unix.Sethostname([]byte(r.Hostname)); err != nil {
				return fmt.Errorf("set hostname %q: %w", r.Hostname, err)
			}
		}
		if r.NetNS != "" {
			return loopbackUp()
		}
		return nil
	}
	if r.UserNS != "" {
		if err := m.makeUserNamespaces(p, &sb, setup); err != nil {
			return err
		}
		sb = p.get() // it may have started the pod's PID 1
	} else if err := podns.Create(pins, setup); err != nil {
		return fmt.Errorf("pod %s: namespaces: %w", id, err)
	}
	timer.mark("namespaces")
	if err := m.faults.At("namespaces"); err != nil {
		return err
	}

	// The network plugins run while the local steps are done.
	local := make(chan error, 1)
	var localTook time.Duration
	go func() {
		begin := time.Now()
		err := m.makeLocal(p, &sb)
		localTook = time.Since(begin)
		local <- err
	}()
	netErr := m.attach(ctx, p, &sb)
	timer.mark("cni-add")
	localErr := <-local
	timer.note("files+shm+cgroup+pod-init (alongside)", localTook)
	if err := errors.Join(netErr, localErr); err != nil {
		return err
	}

	if err := m.applySysctls(&sb); err != nil {
		return fmt.Errorf("pod %s: %w", id, err)
	}
	timer.mark("sysctls")

	if err := m.faults.At("ready"); err != nil {
		return err
	}
	// A plugin connecting meanwhile gets the pod in its synchronization or
	// as an event, never neither.
	unblockSync := m.nri.BlockSync()
	defer unblockSync()
	if err := m.nri.RunPod(ctx, p.get()); err != nil {
		// Plugins told of the pod before the one that refused it forget it.
		if rerr := m.nri.RemovePod(context.WithoutCancel(ctx), p.get()); rerr != nil {
			klog.Errorf("pod %s: %v", id, rerr)
		}
		return err
	}
	timer.mark("nri")
	// Ready once recorded: until then a crash rolls the pod back.
	ready := p.get()
	ready.State = StateReady
	if err := m.put(ctx, ready); err != nil {
		return err
	}
	p.update(func(s *Sandbox) { s.State = StateReady })
	timer.mark("record")
	return nil
}

// attach runs the CNI ADD of the pod, if it has a network of its own.
func (m *Manager) attach(ctx context.Context, p *pod, sb *Sandbox) error {
	a := sb.Resources.Network
	if a == nil {
		return nil
	}
	p.update(func(s *Sandbox) { s.Resources.NetworkAttached = true })
	res, err := m.net.Add(ctx, a)
	if err != nil {
		return err
	}
	p.update(func(s *Sandbox) { s.IPs = res.IPs })
	return m.faults.At("network")
}

// makeLocal makes the pod's files, /dev/shm, cgroup and PID 1.
func (m *Manager) makeLocal(p *pod, sb *Sandbox) error {
	r := &sb.Resources
	if err := writePodFiles(sb); err != nil {
		return fmt.Errorf("pod %s: %w", sb.ID, err)
	}
	if r.ShmPath != HostShm {
		if err := mountShm(r.ShmPath); err != nil {
			return fmt.Errorf("pod %s: %w", sb.ID, err)
		}
	}
	if err := m.faults.At("files"); err != nil {
		return err
	}
	if err := m.cgroups.create(r.Cgroup); err != nil {
		return fmt.Errorf("pod %s: %w", sb.ID, err)
	}
	if err := applyResources(sb); err != nil {
		return err
	}
	if err := m.faults.At("cgroup"); err != nil {
		return err
	}
	if !r.WantPodInit {
		return nil
	}
	if r.PodInit != nil {
		// Started with the pod's user namespace, before its cgroup existed.
		if err := m.cgroups.join(r.Cgroup, r.PodInit.PID); err != nil {
			return fmt.Errorf("pod %s: pod init %d: %w", sb.ID, r.PodInit.PID, err)
		}
		return m.faults.At("podinit")
	}
	proc, exited, err := m.startPodInit(sb)
	if err != nil {
		return fmt.Errorf("pod %s: %w", sb.ID, err)
	}
	p.mu.Lock()
	p.sb.Resources.PodInit, p.initExited = proc, exited
	p.mu.Unlock()
	return m.faults.At("podinit")
}

// applySysctls sets the pod's sysctls inside its namespaces.
func (m *Manager) applySysctls(sb *Sandbox) error {
	list, err := podSysctls(&sb.Config)
	if err != nil || len(list) == 0 {
		return err
	}
	paths := map[podns.Kind]string{}
	for _, s := range list {
		switch s.ns {
		case podns.Net:
			paths[podns.Net] = sb.Resources.NetNS
		case podns.IPC:
			paths[podns.IPC] = sb.Resources.IPCNS
		}
	}
	return podns.Do(paths, func() error {
		for _, s := range list {
			if err := s.write(); err != nil {
				return err
			}
		}
		return nil
	})
}

// loopbackUp brings up lo in the calling thread's network namespace, as
// the CNI loopback plugin does, without running a plugin for it.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}
