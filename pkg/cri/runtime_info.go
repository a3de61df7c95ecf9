package cri

import (
	"context"
	"encoding/json"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/version"
)

// kubeletAPIVersion is the CRI "Version" field: the kubelet runtime API version.
const kubeletAPIVersion = "0.1.0"

// Condition reasons reported by Status.
const (
	ReasonRuntimeNotReady = "RuntimeNotReady"
	ReasonNetworkNotReady = "NetworkPluginNotReady"
)

// Version reports the runtime's name and versions.
func (s *Service) Version(ctx context.Context, _ *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           kubeletAPIVersion,
		RuntimeName:       version.RuntimeName,
		RuntimeVersion:    version.Version,
		RuntimeApiVersion: version.CRIAPIVersion,
	}, nil
}

// Status reports the RuntimeReady and NetworkReady conditions and, when
// verbose, the configuration and build as JSON.
func (s *Service) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	resp := &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
			condition(runtimeapi.RuntimeReady, ReasonRuntimeNotReady, s.deps.RuntimeReady(ctx)),
			condition(runtimeapi.NetworkReady, ReasonNetworkNotReady, s.deps.NetworkReady(ctx)),
		}},
		RuntimeHandlers: []*runtimeapi.RuntimeHandler{{
			Name: "",
			// runc mounts "rro" recursively read-only (kernel 5.12 and later);
			// user namespaces need idmapped overlay layers, probed at start.
			Features: &runtimeapi.RuntimeHandlerFeatures{
				RecursiveReadOnlyMounts: true,
				UserNamespaces:          s.deps.Containers != nil && s.deps.Containers.UserNamespaces(),
			},
		}},
		Features: &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}
	if req.GetVerbose() {
		info := map[string]any{
			"config":       s.deps.Config(),
			"cgroupDriver": s.deps.CgroupDriver,
			"version":      map[string]string{"version": version.Version, "gitCommit": version.GitCommit},
		}
		resp.Info = make(map[string]string, len(info))
		for k, v := range info {
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("status info %s: %w", k, err)
			}
			resp.Info[k] = string(raw)
		}
	}
	return resp, nil
}

func condition(typ, reason string, err error) *runtimeapi.RuntimeCondition {
	if err == nil {
		return &runtimeapi.RuntimeCondition{Type: typ, Status: true}
	}
	return &runtimeapi.RuntimeCondition{Type: typ, Status: false, Reason: reason, Message: err.Error()}
}

// RuntimeConfig reports the cgroup driver, so the kubelet uses the same one.
func (s *Service) RuntimeConfig(ctx context.Context, _ *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	driver := runtimeapi.CgroupDriver_CGROUPFS
	if s.deps.CgroupDriver == "systemd" {
		driver = runtimeapi.CgroupDriver_SYSTEMD
	}
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: driver}}, nil
}
