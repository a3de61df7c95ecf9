package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/test/harness"
)

// target is a CRI runtime under test: a daemon on a unix socket, with the
// directories it owns and a way to find its per-pod and per-container
// helper processes.
type target struct {
	name string
	sock string
	// root holds its images: its size tells when removed images are gone.
	root   string
	daemon *harness.Process
	conn   *grpc.ClientConn
	rt     runtimeapi.RuntimeServiceClient
	img    runtimeapi.ImageServiceClient
	// logDir receives the pod log directories of the benchmarks' pods.
	logDir string
	// helpers lists the runtime's processes that exist per container
	// (monitors, shims) and per pod (pod init, pause), given a process list.
	helpers func(ps []proc) (perContainer, perPod []int)
	// spares lists the runtime's processes kept ready for the next
	// container, not tied to one (cri-shim's spare monitors and their
	// create commands); nil for a runtime that keeps none.
	spares func(ps []proc) []int
	// cleanup stops the daemon (after its pods are removed) and removes
	// what it left on the host. It is safe to call once.
	cleanup func() error
}

// connect waits until the daemon answers and sets the clients.
func (t *target) connect(ctx context.Context, timeout time.Duration) error {
	conn, err := harness.WaitReady(ctx, t.sock, t.daemon, timeout)
	if err != nil {
		return err
	}
	t.conn = conn
	t.rt = runtimeapi.NewRuntimeServiceClient(conn)
	t.img = runtimeapi.NewImageServiceClient(conn)
	return nil
}

// version is the runtime's name and version as its Version RPC tells.
func (t *target) version(ctx context.Context) string {
	v, err := t.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return "unknown: " + err.Error()
	}
	return v.GetRuntimeName() + " " + v.GetRuntimeVersion()
}

// removeAll asks the runtime to remove every pod and container it holds,
// and returns what was left (a benchmark should leave nothing).
func (t *target) removeAll(ctx context.Context) error {
	if t.rt == nil {
		return nil
	}
	return harness.CleanLeftovers(ctx, t.rt)
}

// stopDaemon removes every pod through the CRI, then stops the daemon.
func (t *target) stopDaemon(ctx context.Context) error {
	var errs []error
	if err := t.removeAll(ctx); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", t.name, err))
	}
	if t.conn != nil {
		_ = t.conn.Close()
	}
	if t.daemon != nil && !t.daemon.Exited() {
		if err := t.daemon.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("%s did not stop cleanly: %w", t.name, err))
		}
	}
	return errors.Join(errs...)
}

// pullIfMissing pulls ref unless the runtime has it.
func (t *target) pullIfMissing(ctx context.Context, ref string) error {
	st, err := t.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	if err == nil && st.GetImage() != nil {
		return nil
	}
	if _, err := t.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		return fmt.Errorf("%s: pull %s: %w", t.name, ref, err)
	}
	return nil
}

// argvHas reports whether some argument of argv starts with prefix.
func argvHas(argv []string, prefix string) bool {
	for _, a := range argv {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

// mkdirs creates each directory.
func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}
