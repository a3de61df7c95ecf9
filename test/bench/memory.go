package main

import (
	"context"
	"fmt"
	"time"
)

// holdFor keeps what is named running for d (none when d is 0), so that it
// can be looked at; it returns the context's error if that ends first.
func holdFor(ctx context.Context, d time.Duration, what string) error {
	if d <= 0 {
		return nil
	}
	fmt.Printf("holding %s for %s\n", what, d)
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// settle is how long a runtime is left alone before its memory is read.
const settle = 3 * time.Second

// measureIdle records the daemon's resident memory with no pod.
func measureIdle(t *target, res *Results, key, name string) error {
	time.Sleep(settle)
	m, err := procMem(t.daemon.PID())
	if err != nil {
		return fmt.Errorf("%s memory: %w", t.name, err)
	}
	res.figure(key, "memory", name, "MiB", false, t.name, mib(m.RSS))
	res.figure(key+".pss", "memory", name+" (PSS)", "MiB", false, t.name, mib(m.PSS))
	return nil
}

// measureRunning records memory with n pods of one running container:
// the daemon's, and that of the runtime's helper processes (cri-shim: a
// monitor per container and a pod init per pod; containerd: a shim and a
// pause process per pod) per running container.
func measureRunning(t *target, res *Results, n int) error {
	time.Sleep(settle)
	dm, err := procMem(t.daemon.PID())
	if err != nil {
		return fmt.Errorf("%s memory: %w", t.name, err)
	}
	ps, err := listProcs()
	if err != nil {
		return err
	}
	perContainer, perPod := t.helpers(ps)
	if len(perContainer) == 0 {
		return fmt.Errorf("%s: no helper process found for %d running containers", t.name, n)
	}
	var ctr, pod memKiB
	for _, pid := range perContainer {
		m, err := procMem(pid)
		if err != nil {
			return fmt.Errorf("%s helper %d: %w", t.name, pid, err)
		}
		ctr.RSS += m.RSS
		ctr.PSS += m.PSS
	}
	for _, pid := range perPod {
		m, err := procMem(pid)
		if err != nil {
			return fmt.Errorf("%s pod process %d: %w", t.name, pid, err)
		}
		pod.RSS += m.RSS
		pod.PSS += m.PSS
	}
	fn := float64(n)
	res.figure(fmt.Sprintf("memory.daemon.pods%d", n), "memory", fmt.Sprintf("daemon RSS with %d running pods", n), "MiB", false, t.name, mib(dm.RSS))
	res.figure("memory.per_container", "memory", "runtime processes per running container (helper + pod process, RSS)", "MiB", false, t.name, mib(ctr.RSS+pod.RSS)/fn)
	res.figure("memory.per_container.pss", "memory", "runtime processes per running container (helper + pod process, PSS)", "MiB", false, t.name, mib(ctr.PSS+pod.PSS)/fn)
	res.figure("memory.helper.mean", "memory", "per-container helper, mean RSS (cri-shim monitor; containerd shim, one per pod)", "MiB", false, t.name, mib(ctr.RSS)/float64(len(perContainer)))
	if len(perPod) > 0 {
		res.figure("memory.podproc.mean", "memory", "pod process, mean RSS (cri-shim pod init; containerd pause)", "MiB", false, t.name, mib(pod.RSS)/float64(len(perPod)))
	}
	res.figure("memory.helpers.count", "memory", fmt.Sprintf("helper + pod processes for %d pods", n), "processes", false, t.name, float64(len(perContainer)+len(perPod)))
	if t.spares != nil {
		var sp memKiB
		pids := t.spares(ps)
		for _, pid := range pids {
			if m, err := procMem(pid); err == nil {
				sp.RSS += m.RSS
				sp.PSS += m.PSS
			}
		}
		res.figure("memory.spares", "memory", "spare processes kept for the next container, all (cri-shim: spare monitors and their create commands), RSS", "MiB", false, t.name, mib(sp.RSS))
		res.figure("memory.spares.pss", "memory", "spare processes kept for the next container, all, PSS", "MiB", false, t.name, mib(sp.PSS))
		res.figure("memory.spares.count", "memory", "spare processes kept for the next container", "processes", false, t.name, float64(len(pids)))
	}
	return nil
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
