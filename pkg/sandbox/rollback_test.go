package sandbox

import (
	"context"
	"strings"
	"testing"

	"github.com/cri-shim/cri-shim/internal/faultinject"
	"time"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// TestRollbackAtEveryStep fails each step of a creation in turn: the error
// comes back and nothing of the pod is left.
func TestRollbackAtEveryStep(t *testing.T) {
	for _, step := range []string{"record", "namespaces", "files", "cgroup", "network", "podinit", "ready"} {
		t.Run(step, func(t *testing.T) {
			e := newEnv(t, nil)
			e.m.faults = faultinject.Points{step: "error"}
			cfg := podConfig()
			cfg.Namespaces.PID = NamespacePod
			cfg.PortMappings = []PortMapping{{Protocol: "tcp", ContainerPort: 80, HostPort: 18089}}
			cfg.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "81"}
			_, err := e.m.Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), "injected fault at step "+step) {
				t.Fatalf("run: %v", err)
			}
			e.assertNothingLeft()
			// The name is free: the same pod can be made now.
			e.m.faults = nil
			id, err := e.m.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.m.Remove(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			e.assertNothingLeft()
		})
	}
}

// TestRollbackOnRealFailures fails creations for real: a sysctl the
// kernel refuses, a sysctl that does not exist.
func TestRollbackOnRealFailures(t *testing.T) {
	e := newEnv(t, nil)
	for _, sysctls := range []map[string]string{
		{"net.ipv4.ip_unprivileged_port_start": "not-a-number"},
		{"net.ipv4.no_such_sysctl": "1"},
	} {
		cfg := podConfig()
		cfg.Sysctls = sysctls
		if _, err := e.m.Run(context.Background(), cfg); !errdefs.IsInvalidArgument(err) {
			t.Errorf("sysctls %v: %v, want InvalidArgument", sysctls, err)
		}
		e.assertNothingLeft()
	}
}

// TestBrokenNetworkDoesNotBlockStop: a DEL that fails leaves the pod
// stopped with the error reported; removal retries it and succeeds once
// the plugin works again.
func TestBrokenNetworkDoesNotBlockStop(t *testing.T) {
	net := newFakeNetwork()
	e := newEnv(t, net)
	ctx := context.Background()
	sb := e.run(podConfig())
	if len(sb.IPs) != 2 || sb.IPs[0] != "192.0.2.10" {
		t.Fatalf("ips %v", sb.IPs)
	}
	net.setFailDel(errBroken)
	start := time.Now()
	if err := e.m.Stop(ctx, sb.ID); err != nil {
		t.Fatalf("stop with a broken plugin: %v", err)
	}
	got, _ := e.m.Get(ctx, sb.ID)
	if got.State != StateNotReady || !got.Resources.NetworkAttached || !strings.Contains(got.NetworkError, "plugin broken") {
		t.Errorf("after stop: state %s attached %v error %q", got.State, got.Resources.NetworkAttached, got.NetworkError)
	}
	if err := e.m.Remove(ctx, sb.ID); err == nil {
		t.Fatal("remove succeeded with the network still attached")
	}
	if _, err := e.m.Get(ctx, sb.ID); err != nil {
		t.Fatalf("pod gone after a failed removal: %v", err)
	}
	net.setFailDel(nil)
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	e.assertGone(sb)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}
