package cri

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/podstats"
)

func TestMetricDescriptorsWellFormed(t *testing.T) {
	resp, err := testService(nil).ListMetricDescriptors(context.Background(), &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range resp.GetDescriptors() {
		if seen[d.GetName()] {
			t.Errorf("%s described twice", d.GetName())
		}
		seen[d.GetName()] = true
		if d.GetHelp() == "" || len(d.GetLabelKeys()) < len(baseLabels) {
			t.Errorf("%s: help %q labels %v", d.GetName(), d.GetHelp(), d.GetLabelKeys())
		}
	}
	// What the kubelet's CRI stats provider and critest look for.
	for _, name := range []string{
		"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_memory_rss",
		"container_memory_usage_bytes", "container_network_receive_bytes_total", "container_network_transmit_bytes_total",
		"container_processes", "container_threads", "container_file_descriptors", "container_sockets",
		"container_fs_usage_bytes", "container_fs_inodes_free", "container_oom_events_total",
		"container_spec_memory_limit_bytes", "container_start_time_seconds", "container_last_seen",
	} {
		if !seen[name] {
			t.Errorf("%s not described", name)
		}
	}
}

func TestMetricLabelsMatchDescriptors(t *testing.T) {
	m := &metricSet{labels: []string{"pod", "ns", "ctr", "id", "image"}}
	addCgroupMetrics(m, &podstats.Sample{At: time.Now(), CPU: podstats.CPU{UsageNanos: 3 * uint64(time.Second)}})
	m.add("container_network_receive_bytes_total", 1, "eth0")
	m.add("container_blkio_device_usage_total", 1, "/dev/vda", "254", "0", "Read")
	m.add("container_not_described", 1)
	if len(m.out) == 0 {
		t.Fatal("no metrics")
	}
	for _, x := range m.out {
		d := metricsByNames[x.GetName()]
		if d == nil {
			t.Fatalf("%s is not described", x.GetName())
		}
		if len(x.GetLabelValues()) != len(d.labels) {
			t.Errorf("%s: %d label values for %d keys", x.GetName(), len(x.GetLabelValues()), len(d.labels))
		}
		if x.GetMetricType() != d.typ || x.GetTimestamp() != 0 {
			t.Errorf("%s: type %v timestamp %d", x.GetName(), x.GetMetricType(), x.GetTimestamp())
		}
		if x.GetName() == "container_cpu_usage_seconds_total" && x.GetValue().GetValue() != 3 {
			t.Errorf("cpu seconds %d, want 3", x.GetValue().GetValue())
		}
	}
}

func TestUpdateRuntimeConfig(t *testing.T) {
	s := testService(nil)
	ctx := context.Background()
	req := func(cidr string) *runtimeapi.UpdateRuntimeConfigRequest {
		return &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{
			NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr}}}
	}
	if _, err := s.UpdateRuntimeConfig(ctx, req("")); err != nil {
		t.Fatalf("empty CIDR: %v", err)
	}
	if _, err := s.UpdateRuntimeConfig(ctx, req("10.1.0.0/24")); status.Code(toStatus(err)) != codes.Unimplemented {
		t.Fatalf("no network to give it to: %v", err)
	}
	var got string
	s.deps.SetPodCIDR = func(_ context.Context, cidr string) error { got = cidr; return nil }
	if _, err := s.UpdateRuntimeConfig(ctx, req("10.1.0.0/24,fd00::/64")); err != nil || got != "10.1.0.0/24,fd00::/64" {
		t.Fatalf("got %q, %v", got, err)
	}
	s.deps.SetPodCIDR = func(context.Context, string) error { return errors.New("bad") }
	if _, err := s.UpdateRuntimeConfig(ctx, req("x")); err == nil {
		t.Fatal("error lost")
	}
}

func TestPodResourcesTranslation(t *testing.T) {
	if podResources(nil, nil) != nil {
		t.Fatal("no resources became some")
	}
	r := podResources(&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 1},
		&runtimeapi.LinuxContainerResources{CpuQuota: 2, CpuPeriod: 3, CpuShares: 4, CpusetCpus: "0",
			HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 5}}})
	if r.Overhead.MemoryLimit != 1 || r.Resources.CPUQuota != 2 || r.Resources.CPUPeriod != 3 ||
		r.Resources.CPUShares != 4 || r.Resources.CpusetCPUs != "0" || r.Resources.HugepageLimits["2MB"] != 5 {
		t.Fatalf("translated to %+v / %+v", r.Overhead, r.Resources)
	}
}

func TestRPCObserver(t *testing.T) {
	type call struct {
		method string
		code   codes.Code
	}
	calls := make(chan call, 4)
	SetRPCObserver(func(method string, code codes.Code, _ time.Duration) { calls <- call{method, code} })
	defer SetRPCObserver(nil)
	c := serve(t, testService(nil))
	if _, err := c.Version(context.Background(), &runtimeapi.VersionRequest{}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.CheckpointPod(context.Background(), &runtimeapi.CheckpointPodRequest{})
	for _, want := range []call{{"Version", codes.OK}, {"CheckpointPod", codes.Unimplemented}} {
		select {
		case got := <-calls:
			if got != want {
				t.Errorf("observed %+v, want %+v", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s not observed", want.method)
		}
	}
}
