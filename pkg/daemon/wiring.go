package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"

	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/cri"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/events"
	"github.com/cri-shim/cri-shim/pkg/images"
	"github.com/cri-shim/cri-shim/pkg/network"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// podSource gives the container manager what it needs of a pod.
type podSource struct{ pods *sandbox.Manager }

func (p podSource) Pod(ctx context.Context, id string) (*container.Pod, error) {
	sb, err := p.pods.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return containerPod(&sb), nil
}

// HoldPod keeps the pod from stopping while a container is made in it.
func (p podSource) HoldPod(ctx context.Context, id string) (*container.Pod, func(), error) {
	sb, release, err := p.pods.HoldReady(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return containerPod(&sb), release, nil
}

var _ container.PodHolder = podSource{}

// containerPod is what a container needs of pod sb.
func containerPod(sb *sandbox.Sandbox) *container.Pod {
	r := &sb.Resources
	nsPath := func(pin string) spec.NamespacePath {
		if pin == "" {
			return spec.NamespacePath{Host: true}
		}
		return spec.NamespacePath{Path: pin}
	}
	sandboxFacts := spec.Sandbox{
		ID: sb.ID, Name: sb.Config.Name, Namespace: sb.Config.Namespace, UID: sb.Config.UID,
		Hostname:    r.Hostname,
		Privileged:  sb.Config.Security.Privileged,
		Annotations: sb.Config.Annotations,
		NetNS:       nsPath(r.NetNS), IPCNS: nsPath(r.IPCNS), UTSNS: nsPath(r.UTSNS),
		HostsPath: r.HostsPath, HostnamePath: r.HostnamePath, ResolvConfPath: r.ResolvPath,
		ShmPath: r.ShmPath,
	}
	if r.UserNS != "" && sb.Config.UserNS != nil {
		sandboxFacts.UserNS = spec.NamespacePath{Path: r.UserNS}
		sandboxFacts.UIDMappings = idMappings(sb.Config.UserNS.UIDs)
		sandboxFacts.GIDMappings = idMappings(sb.Config.UserNS.GIDs)
	} else {
		sandboxFacts.UserNS = spec.NamespacePath{Host: true}
	}
	switch {
	case sb.Config.Namespaces.PID == sandbox.NamespaceNode:
		sandboxFacts.PIDNS = spec.NamespacePath{Host: true}
	case sb.PIDNamespacePath() != "":
		sandboxFacts.PIDNS = spec.NamespacePath{Path: sb.PIDNamespacePath()}
	}
	return &container.Pod{
		Sandbox:      sandboxFacts,
		Ready:        sb.Ready(),
		LogDirectory: sb.Config.LogDirectory,
		CgroupParent: r.Cgroup.Path,
	}
}

func idMappings(in []sandbox.IDMapping) []spec.IDMapping {
	out := make([]spec.IDMapping, 0, len(in))
	for _, m := range in {
		out = append(out, spec.IDMapping{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	return out
}

// imageSource gives the container manager images, leased while in use.
type imageSource struct{ images *images.Service }

func (s imageSource) Resolve(ctx context.Context, ref string) (*container.Image, error) {
	r, err := s.images.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	return containerImage(ref, r), nil
}

func (s imageSource) Lease(ctx context.Context, owner, ref string) (*container.Image, error) {
	r, err := s.images.Lease(ctx, owner, ref)
	if err != nil {
		return nil, err
	}
	return containerImage(ref, r), nil
}

func (s imageSource) Release(ctx context.Context, owner string) error {
	return s.images.Release(ctx, owner)
}

func (s imageSource) Leases(ctx context.Context) ([]string, error) {
	all, err := s.images.Leases(ctx)
	if err != nil {
		return nil, err
	}
	owners := make([]string, 0, len(all))
	for owner := range all {
		owners = append(owners, owner)
	}
	return owners, nil
}

// containerImage is what a container needs of image r, known as ref.
func containerImage(ref string, r *images.Resolved) *container.Image {
	img := &container.Image{ID: r.ID, Ref: ref, Config: r.Config.Config}
	if len(r.RepoTags) > 0 {
		img.Ref = r.RepoTags[0]
	}
	for i := len(r.LayerDirs) - 1; i >= 0; i-- {
		img.Layers = append(img.Layers, r.LayerDirs[i])
	}
	return img
}

// streamRuntime serves exec, attach and port-forward sessions.
type streamRuntime struct {
	*container.Manager
	pods *sandbox.Manager
}

func (s streamRuntime) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	sb, err := s.pods.Get(ctx, podID)
	if err != nil {
		return err
	}
	if !sb.Ready() {
		return fmt.Errorf("pod %s is not ready: %w", podID, errdefs.ErrFailedPrecondition)
	}
	// A host-network pod shares the daemon's namespace: "" dials from here.
	return network.PortForward(ctx, sb.Resources.NetNS, port, stream)
}

var _ cri.StreamRuntime = streamRuntime{}

// hostFacts reads what the container spec needs to know about this machine.
func hostFacts() spec.Host {
	h := spec.Host{CgroupV2: cgroups.IsCgroup2UnifiedMode()}
	if b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled"); err == nil && strings.TrimSpace(string(b)) == "Y" {
		h.AppArmorEnabled = true
	}
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		h.OOMScoreAdjFloor, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if h.CgroupV2 {
		b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		ctrls := strings.Fields(string(b))
		h.SwapAccounting = slices.Contains(ctrls, "memory")
		h.HugetlbController = slices.Contains(ctrls, "hugetlb")
	} else {
		_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
		h.SwapAccounting = err == nil
		_, err = os.Stat("/sys/fs/cgroup/hugetlb")
		h.HugetlbController = err == nil
	}
	return h
}

// publishContainerEvent turns container state changes into CRI events.
func (d *Daemon) publishContainerEvent(e container.Event) {
	kinds := map[container.State]events.Kind{
		container.StateCreated:  events.Created,
		container.StateRunning:  events.Started,
		container.StateExited:   events.Stopped,
		container.StateRemoving: events.Deleted,
	}
	if k, ok := kinds[e.State]; ok {
		d.events.Publish(events.Event{ID: e.ID, PodID: e.PodID, Kind: k, At: e.At})
	}
}
