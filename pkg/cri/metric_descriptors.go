package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The label keys of the cadvisor-style metrics the kubelet's CRI stats
// provider exports. Every metric carries the base labels; network metrics
// add the interface, filesystem ones the device.
var (
	baseLabels     = []string{"pod", "namespace", "container", "id", "image"}
	networkLabels  = withLabels(baseLabels, "interface")
	diskLabels     = withLabels(baseLabels, "device")
	blkioLabels    = withLabels(diskLabels, "major", "minor", "operation")
	failureLabels  = withLabels(baseLabels, "failure_type", "scope")
	metricsByNames = map[string]*metricDef{}
)

func withLabels(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// metricDef is one metric the runtime reports in ListPodSandboxMetrics.
type metricDef struct {
	name, help string
	labels     []string
	typ        runtimeapi.MetricType
}

const (
	counter = runtimeapi.MetricType_COUNTER
	gauge   = runtimeapi.MetricType_GAUGE
)

// metricDefs are the metrics this runtime reports, with cadvisor's names
// and help texts. The list is fixed: the kubelet reads it once.
var metricDefs = []*metricDef{
	// CPU.
	{"container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", baseLabels, counter},
	{"container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", baseLabels, counter},
	{"container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", baseLabels, counter},
	{"container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", baseLabels, counter},
	{"container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", baseLabels, counter},
	{"container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", baseLabels, counter},
	// Memory.
	{"container_memory_cache", "Number of bytes of page cache memory.", baseLabels, gauge},
	{"container_memory_rss", "Size of RSS in bytes.", baseLabels, gauge},
	{"container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", baseLabels, gauge},
	{"container_memory_mapped_file", "Size of memory mapped files in bytes.", baseLabels, gauge},
	{"container_memory_swap", "Container swap usage in bytes.", baseLabels, gauge},
	{"container_memory_failcnt", "Number of memory usage hits limits", baseLabels, counter},
	{"container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed", baseLabels, gauge},
	{"container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes", baseLabels, gauge},
	{"container_memory_working_set_bytes", "Current working set in bytes.", baseLabels, gauge},
	{"container_memory_total_active_file_bytes", "Current total active file in bytes.", baseLabels, gauge},
	{"container_memory_total_inactive_file_bytes", "Current total inactive file in bytes.", baseLabels, gauge},
	{"container_memory_failures_total", "Cumulative count of memory allocation failures.", failureLabels, counter},
	{"container_oom_events_total", "Count of out of memory events observed for the container", baseLabels, counter},
	// Network, per interface of the pod.
	{"container_network_receive_bytes_total", "Cumulative count of bytes received", networkLabels, counter},
	{"container_network_receive_packets_total", "Cumulative count of packets received", networkLabels, counter},
	{"container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", networkLabels, counter},
	{"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", networkLabels, counter},
	{"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", networkLabels, counter},
	{"container_network_transmit_packets_total", "Cumulative count of packets transmitted", networkLabels, counter},
	{"container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", networkLabels, counter},
	{"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", networkLabels, counter},
	// The writable layer's filesystem.
	{"container_fs_inodes_free", "Number of available Inodes", diskLabels, gauge},
	{"container_fs_inodes_total", "Number of Inodes", diskLabels, gauge},
	{"container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", diskLabels, gauge},
	{"container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", diskLabels, gauge},
	// Block I/O, where the kernel counts it per device.
	{"container_fs_reads_bytes_total", "Cumulative count of bytes read", diskLabels, counter},
	{"container_fs_reads_total", "Cumulative count of reads completed", diskLabels, counter},
	{"container_fs_writes_bytes_total", "Cumulative count of bytes written", diskLabels, counter},
	{"container_fs_writes_total", "Cumulative count of writes completed", diskLabels, counter},
	{"container_blkio_device_usage_total", "Blkio Device bytes usage", blkioLabels, counter},
	// Processes.
	{"container_processes", "Number of processes running inside the container.", baseLabels, gauge},
	{"container_threads", "Number of threads running inside the container", baseLabels, gauge},
	{"container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero", baseLabels, gauge},
	{"container_file_descriptors", "Number of open file descriptors for the container.", baseLabels, gauge},
	{"container_sockets", "Number of open sockets for the container.", baseLabels, gauge},
	// Miscellaneous.
	{"container_last_seen", "Last time a container was seen by the exporter", baseLabels, gauge},
	{"container_start_time_seconds", "Start time of the container since unix epoch in seconds.", baseLabels, gauge},
	// Limits.
	{"container_spec_cpu_period", "CPU period of the container.", baseLabels, gauge},
	{"container_spec_cpu_quota", "CPU quota of the container.", baseLabels, gauge},
	{"container_spec_cpu_shares", "CPU share of the container.", baseLabels, gauge},
	{"container_spec_memory_limit_bytes", "Memory limit for the container.", baseLabels, gauge},
	{"container_spec_memory_swap_limit_bytes", "Memory swap limit for the container.", baseLabels, gauge},
}

func init() {
	for _, d := range metricDefs {
		metricsByNames[d.name] = d
	}
}

// ListMetricDescriptors lists the metrics ListPodSandboxMetrics reports.
func (s *Service) ListMetricDescriptors(context.Context, *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	out := make([]*runtimeapi.MetricDescriptor, 0, len(metricDefs))
	for _, d := range metricDefs {
		out = append(out, &runtimeapi.MetricDescriptor{Name: d.name, Help: d.help, LabelKeys: d.labels})
	}
	return &runtimeapi.ListMetricDescriptorsResponse{Descriptors: out}, nil
}
