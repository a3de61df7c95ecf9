package integration

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// latencies collects the durations of one kind of call.
type latencies []time.Duration

func (l latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}

func (l latencies) String() string {
	return fmt.Sprintf("median %s p90 %s max %s (n=%d)", l.quantile(0.5).Round(10*time.Microsecond),
		l.quantile(0.9).Round(10*time.Microsecond), l.quantile(1).Round(10*time.Microsecond), len(l))
}

// cycle runs, stops and removes one pod, timing each call.
func (p *podDaemon) cycle(tb testing.TB, cfg *runtimeapi.PodSandboxConfig, run, stop, remove *latencies) {
	ctx := context.Background()
	t0 := time.Now()
	resp, err := p.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		tb.Fatalf("run: %v", err)
	}
	id := resp.GetPodSandboxId()
	p.track(id)
	t1 := time.Now()
	if _, err := p.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		tb.Fatalf("stop: %v", err)
	}
	t2 := time.Now()
	if _, err := p.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		tb.Fatalf("remove: %v", err)
	}
	t3 := time.Now()
	*run, *stop, *remove = append(*run, t1.Sub(t0)), append(*stop, t2.Sub(t1)), append(*remove, t3.Sub(t2))
}

// TestPodCycles runs 200 run/stop/remove cycles of pods of every kind and
// checks that nothing is left behind.
func TestPodCycles(t *testing.T) {
	d := startPodDaemon(t, "", "", "--log-level", "2")
	var run, stop, remove latencies
	for i := range 200 {
		cfg := podRequest(fmt.Sprintf("cycle-%d", i))
		ns := cfg.Linux.SecurityContext.NamespaceOptions
		switch i % 5 {
		case 1:
			ns.Pid = runtimeapi.NamespaceMode_POD
		case 2:
			cfg.PortMappings = []*runtimeapi.PortMapping{{ContainerPort: 80, HostPort: 18096}}
		case 3:
			cfg.Linux.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"}
		case 4:
			ns.Network, ns.Ipc = runtimeapi.NamespaceMode_NODE, runtimeapi.NamespaceMode_NODE
		}
		d.cycle(t, cfg, &run, &stop, &remove)
	}
	d.assertNoLeaks()
	t.Logf("RunPodSandbox %v", run)
	t.Logf("StopPodSandbox %v", stop)
	t.Logf("RemovePodSandbox %v", remove)
}
