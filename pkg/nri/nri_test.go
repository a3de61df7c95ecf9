package nri

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/internal/eventlog"
	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// fakePods and fakeContainers stand for the pod and container managers.
type fakePods struct{ pods []sandbox.Sandbox }

func (f *fakePods) Get(_ context.Context, id string) (sandbox.Sandbox, error) {
	for _, sb := range f.pods {
		if sb.ID == id {
			return sb, nil
		}
	}
	return sandbox.Sandbox{}, errdefs.ErrNotFound
}

func (f *fakePods) List(context.Context) []sandbox.Sandbox { return f.pods }

type fakeContainers struct {
	mu      sync.Mutex
	ctrs    []container.Record
	applied map[string]*spec.Resources
}

func (f *fakeContainers) List(context.Context, container.Filter) []container.Record { return f.ctrs }

func (f *fakeContainers) Get(_ context.Context, id string) (container.Record, error) {
	for _, r := range f.ctrs {
		if r.ID == id {
			return r, nil
		}
	}
	return container.Record{}, errdefs.ErrNotFound
}

func (f *fakeContainers) Spec(_ context.Context, id string) (*rspec.Spec, error) {
	return &rspec.Spec{Process: &rspec.Process{Args: []string{"sleep", "1"}}}, nil
}

func (f *fakeContainers) ApplyResources(_ context.Context, id string, r *spec.Resources) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied[id] = r
	return nil
}

// plugin is a stub NRI plugin that records what it hears, adds an env var
// and an annotation to every container, refuses pods named "refuse" and asks
// for a memory limit on container "other" whenever a container is made.
type plugin struct {
	mu     sync.Mutex
	log    eventlog.Log
	synced []string
	ready  chan struct{}
	once   sync.Once
}

func (p *plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	p.mu.Lock()
	for _, pod := range pods {
		p.synced = append(p.synced, "pod:"+pod.GetId())
	}
	for _, c := range ctrs {
		p.synced = append(p.synced, "ctr:"+c.GetId())
	}
	p.mu.Unlock()
	p.once.Do(func() { close(p.ready) })
	return nil, nil
}

func (p *plugin) RunPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.log.Add("run " + pod.GetName())
	if pod.GetName() == "refuse" {
		return errors.New("refused by the test plugin")
	}
	return nil
}

func (p *plugin) UpdatePodSandbox(_ context.Context, pod *api.PodSandbox, overhead, res *api.LinuxResources) error {
	p.log.Add(fmt.Sprintf("update %s memory %d", pod.GetName(), res.GetMemory().GetLimit().GetValue()))
	return nil
}

func (p *plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.log.Add("create " + c.GetName() + " in " + pod.GetName())
	adj := &api.ContainerAdjustment{}
	adj.AddEnv("NRI_TEST", "yes")
	adj.AddAnnotation("nri.test/added", "1")
	u := &api.ContainerUpdate{ContainerId: "other"}
	u.SetLinuxMemoryLimit(64 << 20)
	return adj, []*api.ContainerUpdate{u}, nil
}

func (p *plugin) StopContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) ([]*api.ContainerUpdate, error) {
	p.log.Add("stop " + c.GetName())
	return nil, nil
}

func (p *plugin) RemoveContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.log.Add("remove " + c.GetName())
	return nil
}

func startNRI(t *testing.T, pods Pods, ctrs Containers) (*NRI, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default().NRI
	cfg.SocketPath = filepath.Join(dir, "nri.sock")
	cfg.PluginPath = filepath.Join(dir, "plugins")
	cfg.PluginConfigPath = filepath.Join(dir, "conf.d")
	n, err := New(context.Background(), cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background(), pods, ctrs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n, cfg.SocketPath
}

func connect(t *testing.T, n *NRI, sock string) *plugin {
	t.Helper()
	p := &plugin{ready: make(chan struct{})}
	s, err := stub.New(p, stub.WithPluginName("test"), stub.WithPluginIdx("10"), stub.WithSocketPath(sock))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-p.ready:
	case err := <-done:
		t.Fatalf("plugin stopped before it synchronized: %v", err)
	}
	// The runtime counts the plugin in once Synchronize has returned: wait
	// until a probe event reaches it, then forget the probe.
	probe := sandbox.Sandbox{ID: "probe", Config: sandbox.Config{Name: "probe"}}
	for !slices.Contains(p.log.Events(), "run probe") {
		if err := n.RunPod(context.Background(), probe); err != nil {
			t.Fatal(err)
		}
		runtime.Gosched()
	}
	p.log.Reset()
	return p
}

func TestPluginSeesLifecycleAndAdjustsSpec(t *testing.T) {
	pod := sandbox.Sandbox{ID: "pod1", Config: sandbox.Config{Name: "web", Namespace: "ns", UID: "u1"}, State: sandbox.StateReady}
	old := container.Record{ID: "other", PodID: "pod1", Name: "old", State: container.StateRunning}
	ctrs := &fakeContainers{ctrs: []container.Record{old}, applied: map[string]*spec.Resources{}}
	n, sock := startNRI(t, &fakePods{pods: []sandbox.Sandbox{pod}}, ctrs)
	p := connect(t, n, sock)

	p.mu.Lock()
	synced := slices.Clone(p.synced)
	p.mu.Unlock()
	if !slices.Equal(synced, []string{"pod:pod1", "ctr:other"}) {
		t.Errorf("synchronized with %v, want pod1 and container other", synced)
	}

	ctx := context.Background()
	if err := n.RunPod(ctx, pod); err != nil {
		t.Fatalf("RunPod: %v", err)
	}
	refused := pod
	refused.ID, refused.Config.Name = "pod2", "refuse"
	err := n.RunPod(ctx, refused)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("RunPod of a pod the plugin refuses: %v, want a failed precondition", err)
	}

	rec := &container.Record{ID: "c1", PodID: "pod1", Name: "app", State: container.StateCreating}
	s := &rspec.Spec{Process: &rspec.Process{Args: []string{"sh"}, Env: []string{"PATH=/bin"}}}
	if err := n.CreateContainer(ctx, rec, s); err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if !slices.Contains(s.Process.Env, "NRI_TEST=yes") || !slices.Contains(s.Process.Env, "PATH=/bin") {
		t.Errorf("env after the adjustment: %v, want PATH=/bin and NRI_TEST=yes", s.Process.Env)
	}
	if s.Annotations["nri.test/added"] != "1" {
		t.Errorf("annotations after the adjustment: %v", s.Annotations)
	}
	ctrs.mu.Lock()
	applied := ctrs.applied["other"]
	ctrs.mu.Unlock()
	if applied == nil || applied.MemoryLimit != 64<<20 {
		t.Errorf("update of container other: %+v, want a 64 MiB memory limit", applied)
	}

	rec.State = container.StateExited
	n.StopContainer(ctx, *rec)
	n.RemoveContainer(ctx, *rec)
	updated := pod
	updated.Config.Resources = &sandbox.PodResources{Resources: &sandbox.LinuxResources{MemoryLimit: 128 << 20}}
	if err := n.UpdatePod(ctx, updated); err != nil {
		t.Fatalf("UpdatePod: %v", err)
	}
	want := []string{"run web", "run refuse", "create app in web", "stop app", "remove app", fmt.Sprintf("update web memory %d", 128<<20)}
	if got := p.log.Events(); !slices.Equal(got, want) {
		t.Errorf("plugin heard %q, want %q", got, want)
	}
}

func TestDisabledDoesNothing(t *testing.T) {
	cfg := config.Default().NRI
	cfg.Enable = false
	cfg.SocketPath = filepath.Join(t.TempDir(), "nri.sock")
	n, err := New(context.Background(), cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background(), &fakePods{}, &fakeContainers{}); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if n.Enabled() {
		t.Error("Enabled() with enable = false")
	}
	s := &rspec.Spec{Process: &rspec.Process{Env: []string{"A=1"}}}
	if err := n.CreateContainer(context.Background(), &container.Record{ID: "c"}, s); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Process.Env, []string{"A=1"}) {
		t.Errorf("spec changed with NRI disabled: %v", s.Process.Env)
	}
	if m, _ := filepath.Glob(cfg.SocketPath); len(m) != 0 {
		t.Errorf("socket %s made with NRI disabled", cfg.SocketPath)
	}
	n.BlockSync()()
}
