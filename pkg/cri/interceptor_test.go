package cri

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/fsusage"
)

func TestToStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("pod abc: %w", errdefs.ErrNotFound), codes.NotFound},
		{fmt.Errorf("pod abc: %w", errdefs.ErrAlreadyExists), codes.AlreadyExists},
		{fmt.Errorf("x: %w", errdefs.ErrInvalidArgument), codes.InvalidArgument},
		{fmt.Errorf("x: %w", errdefs.ErrFailedPrecondition), codes.FailedPrecondition},
		{fmt.Errorf("x: %w", errdefs.ErrDeadlineExceeded), codes.DeadlineExceeded},
		{fmt.Errorf("pull: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{status.Error(codes.OutOfRange, "kept"), codes.OutOfRange},
		{errors.New("plain"), codes.Unknown},
		// A full disk, even inside a failure the registry code calls unavailable.
		{fmt.Errorf("image i: layer l: %w", &os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}), codes.ResourceExhausted},
		{fmt.Errorf("image i: %w: %w", &os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, errdefs.ErrUnavailable), codes.ResourceExhausted},
		{fmt.Errorf("x: %w", errors.Join(errors.New("mirror"), &os.PathError{Op: "write", Path: "/x", Err: syscall.EDQUOT})), codes.ResourceExhausted},
	} {
		got := toStatus(tc.err)
		if status.Code(got) != tc.code {
			t.Errorf("%v: code %v, want %v", tc.err, status.Code(got), tc.code)
		}
		if status.Convert(got).Message() != tc.err.Error() && status.Code(tc.err) == codes.Unknown {
			t.Errorf("%v: message %q lost the object", tc.err, status.Convert(got).Message())
		}
	}
	if toStatus(nil) != nil {
		t.Error("nil error became non-nil")
	}
}

// panicky panics in Version and fails ListPodSandbox with a domain error.
type panicky struct{ *Service }

func (panicky) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	panic("boom")
}

func (panicky) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return nil, fmt.Errorf("pod p1: %w", errdefs.ErrNotFound)
}

func serve(t *testing.T, rs runtimeapi.RuntimeServiceServer) runtimeapi.RuntimeServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, rs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn)
}

func testService(networkErr error) *Service {
	return New(Deps{
		Config:       config.Default,
		CgroupDriver: "cgroupfs",
		RuntimeReady: func(context.Context) error { return nil },
		NetworkReady: func(context.Context) error { return networkErr },
		ImageFS:      func(context.Context) (fsusage.Usage, error) { return fsusage.Usage{Path: "/i"}, nil },
		ContainerFS:  func(context.Context) (fsusage.Usage, error) { return fsusage.Usage{Path: "/c"}, nil },
	})
}

func TestInterceptorRecoversPanicAndMapsErrors(t *testing.T) {
	c := serve(t, panicky{testService(nil)})
	ctx := context.Background()
	_, err := c.Version(ctx, &runtimeapi.VersionRequest{})
	if status.Code(err) != codes.Internal {
		t.Fatalf("panic gave %v, want Internal", err)
	}
	// The server is still alive and maps domain errors.
	_, err = c.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if status.Code(err) != codes.NotFound || status.Convert(err).Message() != "pod p1: not found" {
		t.Fatalf("domain error gave %v", err)
	}
	// RPCs not built yet answer Unimplemented.
	_, err = c.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{PodSandboxId: "p"})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("unbuilt RPC gave %v, want Unimplemented", err)
	}
}

func TestStatusConditions(t *testing.T) {
	c := serve(t, testService(errors.New("no cni plugin bridge")))
	resp, err := c.Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	conds := map[string]*runtimeapi.RuntimeCondition{}
	for _, cd := range resp.GetStatus().GetConditions() {
		conds[cd.GetType()] = cd
	}
	if !conds[runtimeapi.RuntimeReady].GetStatus() {
		t.Errorf("RuntimeReady false: %v", conds[runtimeapi.RuntimeReady])
	}
	nr := conds[runtimeapi.NetworkReady]
	if nr.GetStatus() || nr.GetReason() != ReasonNetworkNotReady || nr.GetMessage() != "no cni plugin bridge" {
		t.Errorf("NetworkReady = %v", nr)
	}
	if resp.GetInfo()["config"] == "" || resp.GetInfo()["cgroupDriver"] != `"cgroupfs"` {
		t.Errorf("verbose info %v", resp.GetInfo())
	}
	rc, err := c.RuntimeConfig(context.Background(), &runtimeapi.RuntimeConfigRequest{})
	if err != nil || rc.GetLinux().GetCgroupDriver() != runtimeapi.CgroupDriver_CGROUPFS {
		t.Fatalf("RuntimeConfig %v %v", rc, err)
	}
}
