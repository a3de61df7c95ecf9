package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// kubeletGet reads path from the kubelet's own API (self-signed TLS,
// anonymous and always allowed: a test kubelet on loopback).
func (e *env) kubeletGet(ctx context.Context, path string) ([]byte, error) {
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d%s", e.kubeletPort, path), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: %s: %.300s", path, resp.Status, body)
	}
	return body, nil
}

// containerLogs is what `kubectl logs` would show: the kubelet reading the
// CRI log file cri-shim writes.
func (e *env) containerLogs(ctx context.Context, name string, tail int) (string, error) {
	out, err := e.kubeletGet(ctx, fmt.Sprintf("/containerLogs/default/%s/%s?tailLines=%d", staticPodName(name), name, tail))
	return string(out), err
}

type fsStats struct {
	CapacityBytes *uint64 `json:"capacityBytes"`
	UsedBytes     *uint64 `json:"usedBytes"`
}

type containerSummary struct {
	Name string `json:"name"`
	CPU  *struct {
		UsageCoreNanoSeconds *uint64 `json:"usageCoreNanoSeconds"`
	} `json:"cpu"`
	Memory *struct {
		WorkingSetBytes *uint64 `json:"workingSetBytes"`
	} `json:"memory"`
	Rootfs *fsStats `json:"rootfs"`
	Logs   *fsStats `json:"logs"`
}

// summary is what the tests read of the kubelet's /stats/summary.
type summary struct {
	Node struct {
		Runtime *struct {
			ImageFs *fsStats `json:"imageFs"`
		} `json:"runtime"`
	} `json:"node"`
	Pods []struct {
		PodRef struct {
			Name string `json:"name"`
		} `json:"podRef"`
		Containers []containerSummary `json:"containers"`
	} `json:"pods"`
}

func positive(v *uint64) bool { return v != nil && *v > 0 }

// logs says whether the container of static pod name writes to its log.
func logs(name string) bool { return name != podLimits }

// summaryProblems lists what the summary lacks for the containers of the
// pods named, and for the runtime's image filesystem.
func summaryProblems(s summary, names []string) []string {
	var probs []string
	if rt := s.Node.Runtime; rt == nil || rt.ImageFs == nil || !positive(rt.ImageFs.CapacityBytes) || !positive(rt.ImageFs.UsedBytes) {
		probs = append(probs, "node.runtime.imageFs: no capacity or usage")
	}
	for _, n := range names {
		var found *containerSummary
		for _, p := range s.Pods {
			if p.PodRef.Name != staticPodName(n) {
				continue
			}
			for i := range p.Containers {
				if p.Containers[i].Name == n {
					found = &p.Containers[i]
				}
			}
		}
		switch {
		case found == nil:
			probs = append(probs, n+": no container stats")
		case found.CPU == nil || !positive(found.CPU.UsageCoreNanoSeconds):
			probs = append(probs, n+": no CPU usage")
		case found.Memory == nil || !positive(found.Memory.WorkingSetBytes):
			probs = append(probs, n+": no memory working set")
		case found.Rootfs == nil || found.Rootfs.UsedBytes == nil:
			probs = append(probs, n+": no rootfs usage")
		case found.Logs == nil || found.Logs.UsedBytes == nil || (logs(n) && *found.Logs.UsedBytes == 0):
			probs = append(probs, n+": no log usage")
		}
	}
	return probs
}

// checkSummary waits until the kubelet's stats summary, which it builds
// from cri-shim's ListPodSandbox, ListContainerStats and ImageFsInfo, has
// the usage of the containers of the pods named.
func (e *env) checkSummary(ctx context.Context, names ...string) error {
	var probs []string
	var lastErr error
	err := poll(ctx, 45*time.Second, time.Second, func() (bool, error) {
		raw, err := e.kubeletGet(ctx, "/stats/summary")
		if err != nil {
			lastErr = err
			return false, nil
		}
		var s summary
		if err := json.Unmarshal(raw, &s); err != nil {
			return false, err
		}
		probs, lastErr = summaryProblems(s, names), nil
		return len(probs) == 0, nil
	})
	if err != nil {
		if lastErr != nil {
			return fmt.Errorf("%v: %v", err, lastErr)
		}
		return fmt.Errorf("%v: %s", err, strings.Join(probs, "; "))
	}
	return nil
}
