package cri

import (
	"context"
	"strconv"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/container"
	"github.com/cri-shim/cri-shim/pkg/podstats"
	"github.com/cri-shim/cri-shim/pkg/sandbox"
)

// ListPodSandboxMetrics reports the metrics ListMetricDescriptors lists for
// every ready pod: the pod cgroup's CPU and memory and the counters of the
// pod's interfaces (container label ""), then, per running container, its
// cgroup, processes, writable layer and limits. Values are read live, so
// timestamps are 0. A pod or container that goes away meanwhile is left out.
func (s *Service) ListPodSandboxMetrics(ctx context.Context, _ *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	out, err := s.podMetrics(ctx)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListPodSandboxMetricsResponse{PodMetrics: out}, nil
}

func (s *Service) podMetrics(ctx context.Context) ([]*runtimeapi.PodSandboxMetrics, error) {
	var out []*runtimeapi.PodSandboxMetrics
	for _, sb := range s.deps.Sandboxes.List(ctx) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !sb.Ready() {
			continue
		}
		pm, err := s.onePodMetrics(ctx, &sb)
		if err != nil {
			klog.V(4).Infof("metrics of pod %s: %v", sb.ID, err)
			continue
		}
		out = append(out, pm)
	}
	return out, nil
}

// metricSet collects metrics with the label values of one object.
type metricSet struct {
	labels []string
	out    []*runtimeapi.Metric
}

// add appends metric name with the set's labels followed by extra.
func (m *metricSet) add(name string, v uint64, extra ...string) {
	d := metricsByNames[name]
	if d == nil {
		return // not described: the kubelet would drop it
	}
	m.out = append(m.out, &runtimeapi.Metric{
		Name: name, MetricType: d.typ, LabelValues: withLabels(m.labels, extra...), Value: u64(v),
	})
}

func (s *Service) onePodMetrics(ctx context.Context, sb *sandbox.Sandbox) (*runtimeapi.PodSandboxMetrics, error) {
	p, err := s.deps.PodStats.Pod(sb, false)
	if err != nil {
		return nil, err
	}
	base := []string{sb.Config.Name, sb.Config.Namespace}
	pod := &metricSet{labels: withLabels(base, "", sb.ID, "")}
	addCgroupMetrics(pod, p.Cgroup)
	for _, l := range p.Interfaces {
		pod.add("container_network_receive_bytes_total", l.RxBytes, l.Name)
		pod.add("container_network_receive_packets_total", l.RxPackets, l.Name)
		pod.add("container_network_receive_packets_dropped_total", l.RxDropped, l.Name)
		pod.add("container_network_receive_errors_total", l.RxErrors, l.Name)
		pod.add("container_network_transmit_bytes_total", l.TxBytes, l.Name)
		pod.add("container_network_transmit_packets_total", l.TxPackets, l.Name)
		pod.add("container_network_transmit_packets_dropped_total", l.TxDropped, l.Name)
		pod.add("container_network_transmit_errors_total", l.TxErrors, l.Name)
	}
	out := &runtimeapi.PodSandboxMetrics{PodSandboxId: sb.ID, Metrics: pod.out}
	for _, rec := range s.deps.Containers.List(ctx, container.Filter{PodID: sb.ID, State: container.StateRunning}) {
		if rec.PodID != sb.ID {
			continue
		}
		cm, err := s.containerMetrics(ctx, &rec, base)
		if err != nil {
			klog.V(4).Infof("metrics of container %s: %v", rec.ID, err)
			continue
		}
		out.ContainerMetrics = append(out.ContainerMetrics, cm)
	}
	return out, nil
}

// containerMetrics reads one running container.
func (s *Service) containerMetrics(ctx context.Context, rec *container.Record, base []string) (*runtimeapi.ContainerMetrics, error) {
	dirs, err := podstats.Dirs(rec.Cgroup)
	if err != nil {
		return nil, err
	}
	cg, err := s.deps.PodStats.Cgroup(podstats.ContainerKey(rec.ID), dirs, true)
	if err != nil {
		return nil, err
	}
	m := &metricSet{labels: withLabels(base, rec.Name, rec.ID, imageName(rec))}
	addCgroupMetrics(m, cg)
	pr := cg.Processes
	m.add("container_processes", pr.Count)
	m.add("container_threads", pr.Threads)
	m.add("container_threads_max", cg.Pids.Limit)
	m.add("container_file_descriptors", pr.FileDescriptors)
	m.add("container_sockets", pr.Sockets)
	m.add("container_last_seen", uint64(time.Now().Unix()))
	m.add("container_start_time_seconds", uint64(rec.StartedAt/int64(time.Second)))
	lim := cg.Limits
	m.add("container_spec_cpu_period", lim.CPUPeriod)
	if lim.CPUQuota > 0 {
		m.add("container_spec_cpu_quota", lim.CPUQuota)
	}
	m.add("container_spec_cpu_shares", lim.CPUShares)
	m.add("container_spec_memory_limit_bytes", lim.Memory)
	m.add("container_spec_memory_swap_limit_bytes", lim.MemorySwap)
	for _, b := range cg.Blkio {
		switch b.Op {
		case "Read":
			m.add("container_fs_reads_bytes_total", b.Bytes, b.Device)
			m.add("container_fs_reads_total", b.Ops, b.Device)
		case "Write":
			m.add("container_fs_writes_bytes_total", b.Bytes, b.Device)
			m.add("container_fs_writes_total", b.Ops, b.Device)
		}
		m.add("container_blkio_device_usage_total", b.Bytes, b.Device,
			strconv.FormatUint(b.Major, 10), strconv.FormatUint(b.Minor, 10), b.Op)
	}
	if st, err := s.deps.Containers.Stats(ctx, rec.ID); err == nil && st.WritableLayer.Path != "" {
		if fs, err := podstats.FilesystemOf(st.WritableLayer.Path); err == nil {
			m.add("container_fs_usage_bytes", st.WritableLayer.Bytes, fs.Device)
			m.add("container_fs_limit_bytes", fs.Capacity, fs.Device)
			m.add("container_fs_inodes_total", fs.Inodes, fs.Device)
			m.add("container_fs_inodes_free", fs.InodesFree, fs.Device)
		}
	}
	return &runtimeapi.ContainerMetrics{ContainerId: rec.ID, Metrics: m.out}, nil
}

// addCgroupMetrics adds the CPU and memory metrics of a cgroup reading.
func addCgroupMetrics(m *metricSet, cg *podstats.Sample) {
	const sec = uint64(time.Second)
	c := &cg.CPU
	m.add("container_cpu_usage_seconds_total", c.UsageNanos/sec)
	m.add("container_cpu_user_seconds_total", c.UserNanos/sec)
	m.add("container_cpu_system_seconds_total", c.SystemNanos/sec)
	m.add("container_cpu_cfs_periods_total", c.Periods)
	m.add("container_cpu_cfs_throttled_periods_total", c.ThrottledPeriods)
	m.add("container_cpu_cfs_throttled_seconds_total", c.ThrottledNanos/sec)
	mem := &cg.Memory
	m.add("container_memory_cache", mem.Cache)
	m.add("container_memory_rss", mem.RSS)
	m.add("container_memory_kernel_usage", mem.Kernel)
	m.add("container_memory_mapped_file", mem.MappedFile)
	m.add("container_memory_swap", mem.Swap)
	m.add("container_memory_failcnt", mem.Failcnt)
	m.add("container_memory_usage_bytes", mem.Usage)
	m.add("container_memory_max_usage_bytes", mem.MaxUsage)
	m.add("container_memory_working_set_bytes", mem.WorkingSet)
	m.add("container_memory_total_active_file_bytes", mem.ActiveFile)
	m.add("container_memory_total_inactive_file_bytes", mem.InactiveFile)
	m.add("container_memory_failures_total", mem.PageFaults, "pgfault", "container")
	m.add("container_memory_failures_total", mem.MajorPageFaults, "pgmajfault", "container")
	m.add("container_oom_events_total", mem.OOMKills)
}
