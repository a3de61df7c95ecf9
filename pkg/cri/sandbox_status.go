package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// sandboxInfo is the verbose PodSandboxStatus "info" entry.
type sandboxInfo struct {
	// Sandbox is the pod's record: config, resources, state.
	Sandbox sandbox.Sandbox `json:"sandbox"`
	// NamespacePaths are the namespaces containers join.
	NamespacePaths map[string]string `json:"namespacePaths"`
	// NetworkCheck is the last CNI CHECK of the pod's network ("ok", "not
	// supported" or the error), made in the background; "pending" until one
	// has ended.
	NetworkCheck string `json:"networkCheck,omitempty"`
	// NetworkCheckedAt is when it ended.
	NetworkCheckedAt *time.Time `json:"networkCheckedAt,omitempty"`
}

// PodSandboxStatus reports a pod; verbose adds, as JSON under "info", its
// record and the last CNI CHECK of its network (run in the background, so
// that a status never waits for plugins).
func (s *Service) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	sb, err := s.deps.Sandboxes.Get(ctx, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: podSandboxStatus(&sb), Timestamp: time.Now().UnixNano()}
	if req.GetVerbose() {
		info := sandboxInfo{Sandbox: sb, NamespacePaths: sb.NamespacePaths()}
		if check, ok, err := s.deps.Sandboxes.LastNetworkCheck(ctx, sb.ID); err == nil && ok {
			info.NetworkCheck = "pending"
			if !check.At.IsZero() {
				info.NetworkCheck, info.NetworkCheckedAt = check.Result, &check.At
			}
		}
		raw, err := json.Marshal(&info)
		if err != nil {
			return nil, fmt.Errorf("pod %s: status info: %w", sb.ID, err)
		}
		resp.Info = map[string]string{"info": string(raw)}
	}
	return resp, nil
}

// ListPodSandbox lists pods, filtered by ID prefix, state and labels.
func (s *Service) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f := req.GetFilter()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for _, sb := range s.deps.Sandboxes.List(ctx) {
		if f.GetId() != "" && !strings.HasPrefix(sb.ID, f.GetId()) {
			continue
		}
		item := podSandbox(&sb)
		if st := f.GetState(); st != nil && item.State != st.GetState() {
			continue
		}
		if !labelsMatch(sb.Config.Labels, f.GetLabelSelector()) {
			continue
		}
		resp.Items = append(resp.Items, item)
	}
	return resp, nil
}

// labelsMatch reports whether labels hold every key and value of selector.
func labelsMatch(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
