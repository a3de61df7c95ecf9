package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/test/framework"
)

// The observability tests' pod network: a bridge and subnets no other test
// or daemon here uses, so that they can run alongside the others.
const (
	obsBridge  = "crishimob0"
	obsSubnet  = "10.227.0.0/24"
	obsPodCIDR = "10.227.1.0/24" // handed over with UpdateRuntimeConfig
	obsNetwork = "cri-shim-" + obsBridge
	busybox    = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
)

// obsDaemon is a daemon on the observability test network.
type obsDaemon struct {
	*framework.Daemon
	t            *testing.T
	cgroupParent string

	mu  sync.Mutex
	ids map[string]bool
}

// startObsDaemon starts a daemon on the test network; top is added at the
// top of its config (top-level keys first, then tables). At cleanup every
// pod is removed and the host is checked for leftovers; then the bridge goes.
func startObsDaemon(t *testing.T, top string) *obsDaemon {
	t.Helper()
	d := &obsDaemon{t: t, ids: map[string]bool{},
		cgroupParent: fmt.Sprintf("/crishim-obs-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)}
	confDir := filepath.Join(t.TempDir(), "net.d")
	cfg := fmt.Sprintf("cgroup_parent = %q\n%s\n[cni]\nconf_dir = %q\nbridge_name = %q\nsubnet = %q\n",
		d.cgroupParent, top, confDir, obsBridge, obsSubnet)
	d.Daemon = framework.StartDaemon(t, framework.Options{ConfigTOML: cfg})
	t.Cleanup(d.cleanup)
	return d
}

func (d *obsDaemon) cleanup() {
	t := d.t
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	removeAllPods(ctx, t, d.Runtime, nil)
	assertPodsLeftNothing(t, d.Dir, d.State, d.cgroupParent, obsNetwork)
	for _, proc := range podInitProcesses() {
		d.mu.Lock()
		ours := d.ids[proc.id]
		d.mu.Unlock()
		if ours {
			t.Errorf("leak: pod init %d of pod %s", proc.pid, proc.id)
		}
	}
	if l, err := netlink.LinkByName(obsBridge); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			t.Errorf("cleanup: delete bridge: %v", err)
		}
	}
	_ = os.RemoveAll(filepath.Join("/var/lib/cni/networks", obsNetwork))
}

// runPod runs a pod with labels and returns its ID and config.
func (d *obsDaemon) runPod(name string, labels map[string]string) (string, *runtimeapi.PodSandboxConfig) {
	d.t.Helper()
	cfg := podRequest(name)
	cfg.Labels = labels
	resp, err := d.Runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		d.t.Fatalf("run pod %s: %v", name, err)
	}
	d.mu.Lock()
	d.ids[resp.GetPodSandboxId()] = true
	d.mu.Unlock()
	return resp.GetPodSandboxId(), cfg
}

// runContainer pulls busybox and runs cmd in a container of the pod.
func (d *obsDaemon) runContainer(podID string, pod *runtimeapi.PodSandboxConfig, name string, res *runtimeapi.LinuxContainerResources, cmd ...string) string {
	d.t.Helper()
	ctx := context.Background()
	if _, err := d.Image.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: busybox}}); err != nil {
		d.t.Fatalf("pull: %v", err)
	}
	resp, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: podID,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: busybox},
			Command:  cmd,
			Labels:   map[string]string{"container": name},
			Linux: &runtimeapi.LinuxContainerConfig{
				Resources: res,
				SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
					Pid: pod.GetLinux().GetSecurityContext().GetNamespaceOptions().GetPid(),
				}},
			},
		},
		SandboxConfig: pod,
	})
	if err != nil {
		d.t.Fatalf("create container %s: %v", name, err)
	}
	if _, err := d.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.GetContainerId()}); err != nil {
		d.t.Fatalf("start container %s: %v", name, err)
	}
	return resp.GetContainerId()
}

// netPin is the network namespace pin of a pod, from its verbose status.
func (d *obsDaemon) netPin(id string) string {
	d.t.Helper()
	return (&podDaemon{Daemon: d.Daemon, t: d.t}).info(id).NamespacePaths["net"]
}

// sendFromPod sends n UDP datagrams of size bytes from the pod's namespace
// to the pod network's gateway.
func (d *obsDaemon) sendFromPod(id string, n, size int) {
	d.t.Helper()
	gw := netip.MustParsePrefix(obsSubnet).Addr().Next()
	err := inNetNS(d.netPin(id), func() error {
		// Unconnected: the gateway's "port unreachable" answers do not
		// fail the next write.
		c, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		to := &net.UDPAddr{IP: gw.AsSlice(), Port: 9}
		buf := make([]byte, size)
		for range n {
			if _, err := c.WriteTo(buf, to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		d.t.Fatalf("send from pod %s: %v", id, err)
	}
}

// collect reads a list stream to its end and returns every batch.
func collect[T any](t *testing.T, recv func() (*T, error)) []*T {
	t.Helper()
	var out []*T
	for {
		m, err := recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		out = append(out, m)
	}
}
