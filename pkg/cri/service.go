// Package cri serves the CRI v1 RuntimeService and ImageService over gRPC.
// It validates requests, translates them to and from the domain packages,
// and maps errors to status codes; the work itself happens elsewhere.
// RPCs not built yet answer Unimplemented.
package cri

import (
	"context"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/events"
	"github.com/cri-shim/cri-shim/pkg/fsusage"
	"github.com/cri-shim/cri-shim/pkg/images"
	"github.com/cri-shim/cri-shim/pkg/podstats"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// Deps are the parts of the daemon the services call into.
type Deps struct {
	// Config returns the settings in force (they change on reload).
	Config func() *config.Config
	// CgroupDriver is the resolved driver: "cgroupfs" or "systemd".
	CgroupDriver string
	// RuntimeReady reports why the runtime cannot run containers, or nil.
	RuntimeReady func(ctx context.Context) error
	// NetworkReady reports why pods cannot get a network, or nil.
	NetworkReady func(ctx context.Context) error
	// ImageFS measures the image store.
	ImageFS func(ctx context.Context) (fsusage.Usage, error)
	// ContainerFS measures the containers' writable layers.
	ContainerFS func(ctx context.Context) (fsusage.Usage, error)
	// Images is the image store.
	Images *images.Service
	// Sandboxes runs the pods.
	Sandboxes *sandbox.Manager
	// Containers runs containers.
	Containers *container.Manager
	// Stream serves exec, attach and port-forward sessions.
	Stream *StreamServer
	// Events carries pod and container lifecycle events.
	Events *events.Broker
	// PodStats reads pod and container cgroups and pod networks.
	PodStats *podstats.Reader
	// SetPodCIDR hands the kubelet's pod CIDR ("" for none, or a comma
	// list, one per IP family) to the pod network.
	SetPodCIDR func(ctx context.Context, cidr string) error
	// Checkpoint writes a checkpoint archive of a running container to a path.
	Checkpoint func(ctx context.Context, id, archive string) error
}

// Service implements runtimeapi.RuntimeServiceServer and runtimeapi.ImageServiceServer.
type Service struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer
	deps Deps
}

// New returns the CRI services over deps.
func New(deps Deps) *Service {
	return &Service{deps: deps}
}

// Register adds both services to srv.
func (s *Service) Register(srv *grpc.Server) {
	runtimeapi.RegisterRuntimeServiceServer(srv, s)
	runtimeapi.RegisterImageServiceServer(srv, s)
}

// NewServer returns a gRPC server with the interceptors every RPC passes through.
func NewServer(opts ...grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(UnaryInterceptor),
		grpc.ChainStreamInterceptor(StreamInterceptor),
		// The kubelet sends and receives large lists (16 MiB is its own limit).
		grpc.MaxRecvMsgSize(16 << 20),
		grpc.MaxSendMsgSize(16 << 20),
	}, opts...)
	return grpc.NewServer(opts...)
}
