package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/internal/eventlog"
)

// The NRI test's pod network.
const (
	nriBridge = "crishimnr0"
	nriSubnet = "10.234.0.0/24"
)

// nriPlugin is a stub NRI plugin: it records the container events it hears,
// adds an env var and an annotation to every container, refuses the
// container named "refused" once, and holds the creation of the container
// named "slow" until release is closed.
type nriPlugin struct {
	mu      sync.Mutex
	log     eventlog.Log
	refused bool

	ready       chan struct{}
	readyOnce   sync.Once
	slowReached chan struct{}
	release     chan struct{}
}

func (p *nriPlugin) Synchronize(context.Context, []*api.PodSandbox, []*api.Container) ([]*api.ContainerUpdate, error) {
	p.readyOnce.Do(func() { close(p.ready) })
	return nil, nil
}

func (p *nriPlugin) CreateContainer(ctx context.Context, _ *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.log.Add("create " + c.GetName())
	switch c.GetName() {
	case "refused":
		p.mu.Lock()
		first := !p.refused
		p.refused = true
		p.mu.Unlock()
		if first {
			return nil, nil, errors.New("refused by the test plugin")
		}
	case "slow":
		close(p.slowReached)
		select {
		case <-p.release:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	adj := &api.ContainerAdjustment{}
	adj.AddEnv("NRI_INJECTED", "from-plugin")
	adj.AddAnnotation("nri.cri-shim.test/added", "yes")
	return adj, nil, nil
}

func (p *nriPlugin) StartContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.log.Add("start " + c.GetName())
	return nil
}

func (p *nriPlugin) StopContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) ([]*api.ContainerUpdate, error) {
	p.log.Add("stop " + c.GetName())
	return nil, nil
}

func (p *nriPlugin) RemoveContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.log.Add("remove " + c.GetName())
	return nil
}

// TestNRIPluginAdjustsContainers connects a stub NRI plugin to a daemon:
// the container it adjusts sees the env var, its spec has the annotation,
// the plugin hears create, start, stop and remove in order, a create it
// refuses fails with FailedPrecondition and leaves nothing, and a
// container create racing the pod's stop is either made before the pod's
// containers are stopped or refused.
func TestNRIPluginAdjustsContainers(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "nri.sock")
	// A request timeout long enough for the held create below.
	extra := fmt.Sprintf("[nri]\nsocket_path = %q\nplugin_path = %q\nplugin_config_path = %q\nplugin_request_timeout = \"60s\"\n",
		sock, filepath.Join(dir, "plugins"), filepath.Join(dir, "conf.d"))
	d := startCtrDaemonOn(t, nriBridge, nriSubnet, extra)
	ctx := context.Background()

	p := &nriPlugin{ready: make(chan struct{}), slowReached: make(chan struct{}), release: make(chan struct{})}
	s, err := stub.New(p, stub.WithPluginName("crishim-test"), stub.WithPluginIdx("10"), stub.WithSocketPath(sock))
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-p.ready:
	case err := <-done:
		t.Fatalf("plugin stopped before it synchronized: %v", err)
	}

	podCfg := d.podConfig("nri", runtimeapi.NamespaceMode_POD, nil)
	podID := d.runPod(podCfg)

	// The plugin's adjustment reaches the running container.
	id := d.run(podID, podCfg, ctrConfig(podCfg, "adjusted", "sh", "-c", "echo env:$NRI_INJECTED; exec sleep 3600"))
	waitLogLine(t, filepath.Join(podCfg.GetLogDirectory(), "adjusted.log"), "env:from-plugin")
	raw, err := os.ReadFile(filepath.Join(d.State, "containers", id, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec rspec.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Annotations["nri.cri-shim.test/added"] != "yes" {
		t.Errorf("spec annotations %v lack the plugin's", spec.Annotations)
	}

	// A create the plugin refuses fails, leaves no container, and a retry works.
	_, err = d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: ctrConfig(podCfg, "refused", "sleep", "3600"), SandboxConfig: podCfg})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "refused by the test plugin") {
		t.Errorf("create refused by the plugin: %v, want FailedPrecondition with the plugin's reason", err)
	}
	list, err := d.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list.GetContainers() {
		if c.GetMetadata().GetName() == "refused" {
			t.Errorf("refused container %s is listed", c.GetId())
		}
	}
	d.create(podID, podCfg, ctrConfig(podCfg, "refused", "sleep", "3600"))

	// A create held by the plugin while the pod stops: the stop waits for
	// it, then stops it; a create after the stop is refused.
	type result struct {
		id  string
		err error
	}
	created := make(chan result, 1)
	go func() {
		resp, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: ctrConfig(podCfg, "slow", "sleep", "3600"), SandboxConfig: podCfg})
		created <- result{resp.GetContainerId(), err}
	}()
	<-p.slowReached
	stopped := make(chan error, 1)
	go func() {
		_, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		stopped <- err
	}()
	for {
		st, err := d.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetStatus().GetState() == runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
			break // the stop has begun
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(p.release)
	r := <-created
	if r.err != nil {
		t.Fatalf("create admitted before the stop: %v", r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop pod: %v", err)
	}
	if st := d.ctrStatus(r.id).GetState(); st != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Errorf("container made while the pod stopped is %v after the stop, want EXITED", st)
	}
	_, err = d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: ctrConfig(podCfg, "late", "sleep", "3600"), SandboxConfig: podCfg})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), podID) {
		t.Errorf("create in a stopped pod: %v, want FailedPrecondition naming pod %s", err, podID)
	}

	if _, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, e := range p.log.Events() {
		if strings.HasSuffix(e, " adjusted") {
			mine = append(mine, e)
		}
	}
	if want := []string{"create adjusted", "start adjusted", "stop adjusted", "remove adjusted"}; !slices.Equal(mine, want) {
		t.Errorf("plugin heard %q of container adjusted, want %q", mine, want)
	}
	if slices.Contains(p.log.Events(), "create late") {
		t.Error("plugin heard the create refused in the stopped pod")
	}
}
