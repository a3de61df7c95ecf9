package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// removeAllPods removes every pod of a test daemon through the CRI, telling
// track (if set) each pod ID first.
func removeAllPods(ctx context.Context, t testing.TB, rt runtimeapi.RuntimeServiceClient, track func(string)) {
	t.Helper()
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, p := range list.GetItems() {
		if track != nil {
			track(p.GetId())
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.GetId()}); err != nil {
			t.Errorf("cleanup: remove pod %s: %v", p.GetId(), err)
		}
	}
}

// assertPodsLeftNothing checks the host for what a test daemon's pods make:
// pod state dirs under state, mounts under dir, the cgroup parent in every
// controller, and addresses reserved in the CNI networks.
func assertPodsLeftNothing(t testing.TB, dir, state, cgroupParent string, networks ...string) {
	t.Helper()
	if ents, _ := os.ReadDir(filepath.Join(state, "sandboxes")); len(ents) > 0 {
		t.Errorf("leak: %d pod state dirs (namespace pins, shm) under %s", len(ents), state)
	}
	if mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(dir)); len(mounts) > 0 {
		t.Errorf("leak: %d mounts under %s, e.g. %s", len(mounts), dir, mounts[0].Mountpoint)
	}
	ctrls, _ := os.ReadDir("/sys/fs/cgroup")
	for _, c := range ctrls {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c.Name(), cgroupParent)); err == nil {
			t.Errorf("leak: cgroup %s%s", c.Name(), cgroupParent)
		}
	}
	for _, n := range networks {
		ents, _ := os.ReadDir(filepath.Join("/var/lib/cni/networks", n))
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), "last_reserved_ip") && e.Name() != "lock" {
				t.Errorf("leak: address %s of network %s still reserved", e.Name(), n)
			}
		}
	}
}
