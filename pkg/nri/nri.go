// Package nri hosts the Node Resource Interface (NRI) in cri-shim. It runs
// containerd's NRI adaptation (github.com/containerd/nri/pkg/adaptation,
// carried in third_party/nri/adaptation with one change): the socket
// external plugins connect to and the plugins the daemon starts itself. It
// tells plugins of every pod and container lifecycle point, applies the
// container adjustments they return to the container's OCI spec (through the
// library's runtime-tools/generate package) and the container updates they
// ask for. The pod and container managers call it through
// their own small hook interfaces; an NRI that is not enabled does nothing.
package nri

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/containerd/nri/pkg/api"
	nrilog "github.com/containerd/nri/pkg/log"
	"k8s.io/klog/v2"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
	"github.com/cri-shim/cri-shim/third_party/nri/adaptation"
)

// Pods is what NRI needs of the pod manager (*sandbox.Manager).
type Pods interface {
	// Get returns a pod that has been made.
	Get(ctx context.Context, id string) (sandbox.Sandbox, error)
	// List returns every pod that has been made.
	List(ctx context.Context) []sandbox.Sandbox
}

// Containers is what NRI needs of the container manager (*container.Manager).
type Containers interface {
	// List returns the containers that match f.
	List(ctx context.Context, f container.Filter) []container.Record
	// Get returns one container.
	Get(ctx context.Context, id string) (container.Record, error)
	// Spec returns a container's OCI spec as it was created.
	Spec(ctx context.Context, id string) (*rspec.Spec, error)
	// ApplyResources changes a live container's resources without calling NRI.
	ApplyResources(ctx context.Context, id string, r *spec.Resources) error
}

// NRI relays lifecycle events to NRI plugins. Its zero value, and the value
// New returns when NRI is not enabled, does nothing. Safe for concurrent use.
type NRI struct {
	a *adaptation.Adaptation

	mu   sync.RWMutex
	pods Pods
	ctrs Containers
}

// logOnce routes the NRI library's logs to klog once per process.
var logOnce sync.Once

// New prepares NRI from cfg; nothing listens until Start. version is the
// runtime version plugins are told.
func New(ctx context.Context, cfg config.NRIConfig, version string) (*NRI, error) {
	n := &NRI{}
	if !cfg.Enable {
		return n, nil
	}
	logOnce.Do(func() { nrilog.Set(klogger{}) })
	if d := cfg.PluginRegistrationTimeout.Duration; d > 0 {
		adaptation.SetPluginRegistrationTimeout(d)
	}
	if d := cfg.PluginRequestTimeout.Duration; d > 0 {
		adaptation.SetPluginRequestTimeout(d)
	}
	opts := []adaptation.Option{
		adaptation.WithSocketPath(cfg.SocketPath),
		adaptation.WithPluginPath(cfg.PluginPath),
		adaptation.WithPluginConfigPath(cfg.PluginConfigPath),
	}
	if cfg.DisableConnections {
		opts = append(opts, adaptation.WithDisabledExternalConnections())
	}
	a, err := adaptation.New("cri-shim", version, n.synchronize, n.updateFromPlugin, opts...)
	if err != nil {
		return nil, fmt.Errorf("nri: %w", err)
	}
	n.a = a
	return n, nil
}

// Enabled reports whether plugins are called at all.
func (n *NRI) Enabled() bool { return n != nil && n.a != nil }

// Start starts the plugins in the plugin directory and listens on the
// socket; pods and ctrs answer the synchronization of each new plugin.
func (n *NRI) Start(ctx context.Context, pods Pods, ctrs Containers) error {
	if !n.Enabled() {
		return nil
	}
	n.mu.Lock()
	n.pods, n.ctrs = pods, ctrs
	n.mu.Unlock()
	if err := n.a.Start(); err != nil {
		return fmt.Errorf("nri: start: %w", err)
	}
	return nil
}

// Stop disconnects every plugin and closes the socket.
func (n *NRI) Stop() {
	if n.Enabled() {
		n.a.Stop()
	}
}

func (n *NRI) sources() (Pods, Containers) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.pods, n.ctrs
}

// BlockSync holds back the synchronization of newly connecting plugins
// until the returned function is called, so that an object being made is
// either in a new plugin's synchronization or reaches it as an event.
func (n *NRI) BlockSync() func() {
	if !n.Enabled() {
		return func() {}
	}
	b := n.a.BlockPluginSync()
	return b.Unblock
}

// synchronize hands a newly connected plugin every pod and container.
func (n *NRI) synchronize(ctx context.Context, cb adaptation.SyncCB) error {
	pods, ctrs := n.sources()
	var nriPods []*api.PodSandbox
	var nriCtrs []*api.Container
	if pods != nil {
		for _, sb := range pods.List(ctx) {
			nriPods = append(nriPods, podToNRI(&sb))
		}
	}
	if ctrs != nil {
		for _, rec := range ctrs.List(ctx, container.Filter{}) {
			if rec.State == container.StateCreating || rec.State == container.StateRemoving {
				continue
			}
			s, _ := ctrs.Spec(ctx, rec.ID) // best effort: a container without a spec goes with what its record says
			nriCtrs = append(nriCtrs, containerToNRI(&rec, s))
		}
	}
	updates, err := cb(ctx, nriPods, nriCtrs)
	if err != nil {
		return err
	}
	n.apply(ctx, "synchronize", updates, nil)
	return nil
}

// updateFromPlugin applies updates a plugin asks for on its own; it
// returns the ones that failed.
func (n *NRI) updateFromPlugin(ctx context.Context, updates []*api.ContainerUpdate) ([]*api.ContainerUpdate, error) {
	return n.apply(ctx, "unsolicited update", updates, nil), nil
}

// apply applies container updates from plugins and refuses evictions,
// logging why; it returns the updates that failed.
func (n *NRI) apply(ctx context.Context, why string, updates []*api.ContainerUpdate, evictions []*api.ContainerEviction) []*api.ContainerUpdate {
	_, ctrs := n.sources()
	var failed []*api.ContainerUpdate
	for _, u := range updates {
		err := errors.New("no container manager")
		if ctrs != nil {
			err = n.applyOne(ctx, ctrs, u)
		}
		if err != nil {
			klog.Errorf("nri: %s: update of container %s failed: %v", why, u.GetContainerId(), err)
			if !u.GetIgnoreFailure() {
				failed = append(failed, u)
			}
			continue
		}
		klog.V(2).Infof("nri: %s: container %s updated", why, u.GetContainerId())
	}
	for _, e := range evictions {
		// The kubelet owns the container lifecycle: a runtime that killed
		// containers behind its back would fight it.
		klog.Warningf("nri: %s: refused to evict container %s (%q): evictions are the kubelet's to make", why, e.GetContainerId(), e.GetReason())
	}
	return failed
}

func (n *NRI) applyOne(ctx context.Context, ctrs Containers, u *api.ContainerUpdate) error {
	res := u.GetLinux().GetResources()
	if res == nil {
		return nil
	}
	rec, err := ctrs.Get(ctx, u.GetContainerId())
	if err != nil {
		return err
	}
	var base *spec.Resources
	if rec.Input != nil {
		base = rec.Input.Resources
	}
	return ctrs.ApplyResources(ctx, rec.ID, resourcesFromNRI(base, res))
}

// pod returns pod id as plugins see it; a pod that cannot be found any more
// goes with its ID alone.
func (n *NRI) pod(ctx context.Context, id string) *api.PodSandbox {
	pods, _ := n.sources()
	if pods != nil {
		if sb, err := pods.Get(ctx, id); err == nil {
			return podToNRI(&sb)
		}
	}
	return &api.PodSandbox{Id: id}
}

// container returns rec as plugins see it, with what its spec says.
func (n *NRI) container(ctx context.Context, rec *container.Record) *api.Container {
	var s *rspec.Spec
	if _, ctrs := n.sources(); ctrs != nil {
		s, _ = ctrs.Spec(ctx, rec.ID) // best effort, as in synchronize
	}
	return containerToNRI(rec, s)
}

// refused is a plugin's refusal err of an operation on object what. err
// is a ttrpc status: only its text is kept, so that the CRI code is
// FailedPrecondition and not the status code the plugin's transport gave.
func refused(what string, err error) error {
	return fmt.Errorf("%s: refused by an NRI plugin: %v: %w", what, err, errdefs.ErrFailedPrecondition)
}

// RunPod tells plugins of pod sb, made but not yet ready; an error fails
// the pod's creation.
func (n *NRI) RunPod(ctx context.Context, sb sandbox.Sandbox) error {
	if !n.Enabled() {
		return nil
	}
	if err := n.a.RunPodSandbox(ctx, &api.RunPodSandboxRequest{Pod: podToNRI(&sb)}); err != nil {
		return refused("pod "+sb.ID, err)
	}
	return nil
}

// StopPod tells plugins that pod sb is stopping: its containers are
// stopped, its namespaces and network still there.
func (n *NRI) StopPod(ctx context.Context, sb sandbox.Sandbox) error {
	if !n.Enabled() {
		return nil
	}
	if err := n.a.StopPodSandbox(ctx, &api.StopPodSandboxRequest{Pod: podToNRI(&sb)}); err != nil {
		return fmt.Errorf("pod %s: NRI StopPodSandbox: %w", sb.ID, err)
	}
	return nil
}

// RemovePod tells plugins that pod sb is gone.
func (n *NRI) RemovePod(ctx context.Context, sb sandbox.Sandbox) error {
	if !n.Enabled() {
		return nil
	}
	if err := n.a.RemovePodSandbox(ctx, &api.RemovePodSandboxRequest{Pod: podToNRI(&sb)}); err != nil {
		return fmt.Errorf("pod %s: NRI RemovePodSandbox: %w", sb.ID, err)
	}
	return nil
}

// UpdatePod tells plugins that the resources of pod sb are about to
// change to those sb has; an error fails the update.
func (n *NRI) UpdatePod(ctx context.Context, sb sandbox.Sandbox) error {
	if !n.Enabled() {
		return nil
	}
	req := &api.UpdatePodSandboxRequest{Pod: podToNRI(&sb)}
	if r := sb.Config.Resources; r != nil {
		req.LinuxResources = podResourcesToNRI(r.Resources)
		req.OverheadLinuxResources = podResourcesToNRI(r.Overhead)
	}
	if _, err := n.a.UpdatePodSandbox(ctx, req); err != nil {
		return refused("pod "+sb.ID, err)
	}
	return nil
}

// PostUpdatePod tells plugins that the resources of pod sb changed.
func (n *NRI) PostUpdatePod(ctx context.Context, sb sandbox.Sandbox) {
	if !n.Enabled() {
		return
	}
	if err := n.a.PostUpdatePodSandbox(ctx, &api.PostUpdatePodSandboxRequest{Pod: podToNRI(&sb)}); err != nil {
		klog.Errorf("pod %s: NRI PostUpdatePodSandbox: %v", sb.ID, err)
	}
}

// CreateContainer lets plugins adjust the spec s of container rec before
// it is made; an error fails the creation. Updates of other containers the
// plugins ask for are applied, evictions refused.
func (n *NRI) CreateContainer(ctx context.Context, rec *container.Record, s *rspec.Spec) error {
	if !n.Enabled() {
		return nil
	}
	c := containerToNRI(rec, s)
	c.State = api.ContainerState_CONTAINER_CREATED
	resp, err := n.a.CreateContainer(ctx, &api.CreateContainerRequest{Pod: n.pod(ctx, rec.PodID), Container: c})
	if err != nil {
		return refused(fmt.Sprintf("container %s (%q)", rec.ID, rec.Name), err)
	}
	if adj := resp.GetAdjust(); adj != nil {
		if err := adjust(s, adj); err != nil {
			return fmt.Errorf("container %s: NRI adjustment: %w: %w", rec.ID, err, errdefs.ErrInvalidArgument)
		}
	}
	var others []*api.ContainerUpdate
	for _, u := range resp.GetUpdate() {
		if u.GetContainerId() != rec.ID {
			others = append(others, u)
		}
	}
	n.apply(ctx, "create of "+rec.ID, others, resp.GetEvict())
	return nil
}

// PostCreateContainer tells plugins container rec was made.
func (n *NRI) PostCreateContainer(ctx context.Context, rec container.Record) {
	if !n.Enabled() {
		return
	}
	req := &api.PostCreateContainerRequest{Pod: n.pod(ctx, rec.PodID), Container: n.container(ctx, &rec)}
	if err := n.a.PostCreateContainer(ctx, req); err != nil {
		klog.Errorf("container %s: NRI PostCreateContainer: %v", rec.ID, err)
	}
}

// StartContainer tells plugins container rec is about to start; an error
// fails the start.
func (n *NRI) StartContainer(ctx context.Context, rec container.Record) error {
	if !n.Enabled() {
		return nil
	}
	req := &api.StartContainerRequest{Pod: n.pod(ctx, rec.PodID), Container: n.container(ctx, &rec)}
	if err := n.a.StartContainer(ctx, req); err != nil {
		return refused("container "+rec.ID, err)
	}
	return nil
}

// PostStartContainer tells plugins container rec started.
func (n *NRI) PostStartContainer(ctx context.Context, rec container.Record) {
	if !n.Enabled() {
		return
	}
	req := &api.PostStartContainerRequest{Pod: n.pod(ctx, rec.PodID), Container: n.container(ctx, &rec)}
	if err := n.a.PostStartContainer(ctx, req); err != nil {
		klog.Errorf("container %s: NRI PostStartContainer: %v", rec.ID, err)
	}
}

// UpdateContainer lets plugins adjust the new resources r of container rec
// and returns what to apply; an error fails the update.
func (n *NRI) UpdateContainer(ctx context.Context, rec container.Record, r *spec.Resources) (*spec.Resources, error) {
	if !n.Enabled() {
		return r, nil
	}
	req := &api.UpdateContainerRequest{
		Pod:            n.pod(ctx, rec.PodID),
		Container:      n.container(ctx, &rec),
		LinuxResources: resourcesToNRI(r),
	}
	resp, err := n.a.UpdateContainer(ctx, req)
	if err != nil {
		return nil, refused("container "+rec.ID, err)
	}
	var others []*api.ContainerUpdate
	for _, u := range resp.GetUpdate() {
		if u.GetContainerId() == rec.ID {
			if res := u.GetLinux().GetResources(); res != nil {
				r = resourcesFromNRI(r, res)
			}
			continue
		}
		others = append(others, u)
	}
	n.apply(ctx, "update of "+rec.ID, others, resp.GetEvict())
	return r, nil
}

// PostUpdateContainer tells plugins container rec was updated.
func (n *NRI) PostUpdateContainer(ctx context.Context, rec container.Record) {
	if !n.Enabled() {
		return
	}
	req := &api.PostUpdateContainerRequest{Pod: n.pod(ctx, rec.PodID), Container: n.container(ctx, &rec)}
	if err := n.a.PostUpdateContainer(ctx, req); err != nil {
		klog.Errorf("container %s: NRI PostUpdateContainer: %v", rec.ID, err)
	}
}

// StopContainer tells plugins container rec stopped, once, whether it was
// stopped or exited on its own.
func (n *NRI) StopContainer(ctx context.Context, rec container.Record) {
	if !n.Enabled() {
		return
	}
	req := &api.StopContainerRequest{Pod: n.pod(ctx, rec.PodID), Container: n.container(ctx, &rec)}
	resp, err := n.a.StopContainer(ctx, req)
	if err != nil {
		klog.Errorf("container %s: NRI StopContainer: %v", rec.ID, err)
		return
	}
	n.apply(ctx, "stop of "+rec.ID, resp.GetUpdate(), nil)
}

// RemoveContainer tells plugins container rec is gone (or that a create
// they adjusted was undone).
func (n *NRI) RemoveContainer(ctx context.Context, rec container.Record) {
	if !n.Enabled() {
		return
	}
	req := &api.RemoveContainerRequest{Pod: n.pod(ctx, rec.PodID), Container: containerToNRI(&rec, nil)}
	if err := n.a.RemoveContainer(ctx, req); err != nil {
		klog.Errorf("container %s: NRI RemoveContainer: %v", rec.ID, err)
	}
}

// klogger sends the NRI library's logs to klog.
type klogger struct{}

func (klogger) Debugf(_ context.Context, format string, args ...any) {
	klog.V(4).Infof("nri: "+format, args...)
}
func (klogger) Infof(_ context.Context, format string, args ...any) {
	klog.V(2).Infof("nri: "+format, args...)
}
func (klogger) Warnf(_ context.Context, format string, args ...any) {
	klog.Warningf("nri: "+format, args...)
}
func (klogger) Errorf(_ context.Context, format string, args ...any) {
	if strings.HasPrefix(format, "failed to initialize WASM support") {
		// Built without WASM on purpose (nri_no_wasm: 2.5 MiB less
		// resident): binary and socket plugins are what this runtime runs.
		klog.V(2).Infof("nri: WASM plugins are not supported by this build")
		return
	}
	klog.Errorf("nri: "+format, args...)
}
