package cri

import (
	"context"
	"fmt"
	"path"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// Log verbosity of RPC lines. Frequent polling calls log one level lower.
const (
	rpcLogLevel     = 2
	pollingLogLevel = 5
)

// pollingMethods are called by the kubelet every few seconds; their success
// lines would drown the rest.
var pollingMethods = map[string]bool{
	"Version": true, "Status": true, "ListPodSandbox": true, "ListContainers": true,
	"ListImages": true, "ImageFsInfo": true, "ContainerStats": true, "ListContainerStats": true,
	"PodSandboxStats": true, "ListPodSandboxStats": true, "ContainerStatus": true,
	"PodSandboxStatus": true, "ImageStatus": true, "ListMetricDescriptors": true,
	"ListPodSandboxMetrics": true, "RuntimeConfig": true,
}

// UnaryInterceptor wraps every unary RPC: it recovers panics into Internal
// errors, maps domain errors to status codes, and logs the method, the
// object, the duration and the result.
func UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	method := path.Base(info.FullMethod)
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			klog.Errorf("panic in %s (%s): %v\n%s", method, objectOf(req), r, debug.Stack())
			resp, err = nil, status.Errorf(codes.Internal, "%s: internal error: %v", method, r)
		}
		err = toStatus(err)
		logResult(method, objectOf(req), time.Since(start), err)
	}()
	return handler(ctx, req)
}

// StreamInterceptor does for streaming RPCs what UnaryInterceptor does for unary ones.
func StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	method := path.Base(info.FullMethod)
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			klog.Errorf("panic in %s: %v\n%s", method, r, debug.Stack())
			err = status.Errorf(codes.Internal, "%s: internal error: %v", method, r)
		}
		err = toStatus(err)
		logResult(method, "", time.Since(start), err)
	}()
	return handler(srv, ss)
}

func logResult(method, object string, took time.Duration, err error) {
	if object != "" {
		object = " " + object
	}
	code := status.Code(err)
	observeRPC(method, code, took)
	switch {
	case err == nil:
		level := klog.Level(rpcLogLevel)
		if pollingMethods[method] {
			level = pollingLogLevel
		}
		klog.V(level).Infof("%s%s: OK in %s", method, object, took)
	case code == codes.NotFound || code == codes.Unimplemented || code == codes.AlreadyExists:
		// Expected answers the kubelet and critest ask for on purpose.
		klog.V(rpcLogLevel).Infof("%s%s: %s in %s: %v", method, object, code, took, status.Convert(err).Message())
	default:
		klog.Errorf("%s%s: %s in %s: %v", method, object, code, took, status.Convert(err).Message())
	}
}

// objectOf names the object a request is about, for the log line.
func objectOf(req any) string {
	switch r := req.(type) {
	case *runtimeapi.RunPodSandboxRequest:
		m := r.GetConfig().GetMetadata()
		return fmt.Sprintf("pod-name=%s/%s", m.GetNamespace(), m.GetName())
	case *runtimeapi.CreateContainerRequest:
		return fmt.Sprintf("pod=%s container-name=%s", r.GetPodSandboxId(), r.GetConfig().GetMetadata().GetName())
	case interface{ GetContainerId() string }:
		return prefixed("container=", r.GetContainerId())
	case interface{ GetPodSandboxId() string }:
		return prefixed("pod=", r.GetPodSandboxId())
	case interface{ GetImage() *runtimeapi.ImageSpec }:
		return prefixed("image=", r.GetImage().GetImage())
	}
	return ""
}

func prefixed(prefix, id string) string {
	if id == "" {
		return ""
	}
	return prefix + id
}
