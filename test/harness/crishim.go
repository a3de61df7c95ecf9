package harness

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// MirroredRegistries are the public registries critest pulls from; a
// harness's runtime sends them to the test registry.
var MirroredRegistries = []string{"registry.k8s.io", "k8s.gcr.io", "gcr.io", "public.ecr.aws"}

// Config is the configuration of a private cri-shim.
type Config struct {
	Socket, Root, State string
	LogLevel            int
	// RegistryAddr is the test registry's host:port: every registry of
	// MirroredRegistries gets it as a plain-http mirror.
	RegistryAddr string
	// Extra is TOML placed before the registry tables (top-level keys and
	// tables of its own).
	Extra string
	// NRI holds the keys of the [nri] table; "" turns NRI off, so that no
	// daemon here ever takes the machine's default NRI socket. A harness
	// that wants NRI gives a socket_path of its own.
	NRI string
}

// WriteConfig writes c as a cri-shim configuration file at path.
func WriteConfig(path string, c Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "socket = %q\nroot_dir = %q\nstate_dir = %q\nlog_level = %d\n", c.Socket, c.Root, c.State, c.LogLevel)
	if c.Extra != "" {
		fmt.Fprintf(&b, "%s\n", strings.TrimSpace(c.Extra))
	}
	nri := strings.TrimSpace(c.NRI)
	if nri == "" {
		nri = "enable = false"
	}
	fmt.Fprintf(&b, "\n[nri]\n%s\n", nri)
	for _, r := range MirroredRegistries {
		fmt.Fprintf(&b, "\n[registries.%q]\nmirrors = [%q]\n", r, "http://"+c.RegistryAddr)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// WaitReady waits up to timeout until the CRI runtime daemon answers Version
// on the unix socket sock, and returns a connection to it. It gives up early
// when daemon exits.
func WaitReady(ctx context.Context, sock string, daemon *Process, timeout time.Duration) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	client := runtimeapi.NewRuntimeServiceClient(conn)
	name := daemon.Cmd.Path
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := client.Version(cctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			return conn, nil
		}
		if daemon.Exited() {
			conn.Close()
			return nil, fmt.Errorf("%s exited at start; see %s", name, daemon.LogPath)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			conn.Close()
			return nil, fmt.Errorf("%s not answering on %s: %w", name, sock, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CleanLeftovers removes every pod and container the runtime still holds
// and names them: a harness run should leave nothing behind.
func CleanLeftovers(ctx context.Context, c runtimeapi.RuntimeServiceClient) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var names []string
	if cs, err := c.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); err == nil {
		for _, ct := range cs.GetContainers() {
			names = append(names, "container "+ct.GetId())
			_, _ = c.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: ct.GetId()})
		}
	}
	if ps, err := c.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err == nil {
		for _, p := range ps.GetItems() {
			names = append(names, "pod "+p.GetId())
			_, _ = c.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.GetId()})
			_, _ = c.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.GetId()})
		}
	}
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("%d objects left in the runtime: %s", len(names), strings.Join(names, ", "))
}
