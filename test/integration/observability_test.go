package integration

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPodStatsMetricsAndListStreams runs two pods with a container each and
// checks pod stats, CRI metrics, the list streams against the unary lists,
// and the daemon's Prometheus endpoint.
func TestPodStatsMetricsAndListStreams(t *testing.T) {
	reg := startImageRegistry(t)
	d := startObsDaemon(t, "metrics_address = \"127.0.0.1:0\"\n"+mirrorTOML(reg.Host))
	ctx := context.Background()
	a, aCfg := d.runPod("stats-a", map[string]string{"app": "a"})
	b, bCfg := d.runPod("stats-b", map[string]string{"app": "b"})
	ca := d.runContainer(a, aCfg, "sleeper-a", &runtimeapi.LinuxContainerResources{
		CpuPeriod: 100000, CpuQuota: 20000, CpuShares: 512, MemoryLimitInBytes: 64 << 20,
	}, "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 3600")
	cb := d.runContainer(b, bCfg, "sleeper-b", nil, "sleep", "3600")
	d.sendFromPod(a, 20, 1000)

	// PodSandboxStats: the pod cgroup, the pod network, the containers.
	var st *runtimeapi.PodSandboxStats
	for range 2 { // the second reading has a CPU rate
		resp, err := d.Runtime.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: a})
		if err != nil {
			t.Fatal(err)
		}
		st = resp.GetStats()
		time.Sleep(200 * time.Millisecond)
	}
	lx := st.GetLinux()
	if st.GetAttributes().GetId() != a || st.GetAttributes().GetLabels()["app"] != "a" || st.GetAttributes().GetMetadata().GetName() != "stats-a" {
		t.Errorf("attributes %v", st.GetAttributes())
	}
	if lx.GetCpu().GetUsageCoreNanoSeconds().GetValue() == 0 || lx.GetCpu().GetTimestamp() == 0 {
		t.Errorf("cpu %v", lx.GetCpu())
	}
	if lx.GetMemory().GetUsageBytes().GetValue() == 0 || lx.GetMemory().GetWorkingSetBytes() == nil {
		t.Errorf("memory %v", lx.GetMemory())
	}
	if n := lx.GetProcess().GetProcessCount().GetValue(); n < 1 {
		t.Errorf("%d processes, want the container's", n)
	}
	eth0 := lx.GetNetwork().GetDefaultInterface()
	if eth0.GetName() != "eth0" || eth0.GetTxBytes().GetValue() < 20*1000 {
		t.Errorf("default interface %v, want eth0 with the 20 kB sent", eth0)
	}
	if len(lx.GetNetwork().GetInterfaces()) != 1 {
		t.Errorf("interfaces %v", lx.GetNetwork().GetInterfaces())
	}
	if len(lx.GetContainers()) != 1 || lx.GetContainers()[0].GetAttributes().GetId() != ca {
		t.Errorf("containers %v", lx.GetContainers())
	}
	if _, err := d.Runtime.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: "nonexistent"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown pod: %v", err)
	}

	// ListPodSandboxStats filters by ID prefix and labels.
	for _, tc := range []struct {
		f    *runtimeapi.PodSandboxStatsFilter
		want []string
	}{
		{nil, []string{a, b}},
		{&runtimeapi.PodSandboxStatsFilter{Id: a[:12]}, []string{a}},
		{&runtimeapi.PodSandboxStatsFilter{LabelSelector: map[string]string{"app": "b"}}, []string{b}},
		{&runtimeapi.PodSandboxStatsFilter{LabelSelector: map[string]string{"app": "c"}}, nil},
	} {
		resp, err := d.Runtime.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{Filter: tc.f})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range resp.GetStats() {
			got = append(got, s.GetAttributes().GetId())
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("filter %v: %v, want %v", tc.f, got, want)
		}
	}

	checkCRIMetrics(t, d, a, ca)
	checkListStreams(t, d, []string{a, b}, []string{ca, cb})
	checkPrometheus(t, d)
}

// checkCRIMetrics checks ListPodSandboxMetrics against ListMetricDescriptors.
func checkCRIMetrics(t *testing.T, d *obsDaemon, podID, ctrID string) {
	ctx := context.Background()
	descs, err := d.Runtime.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, ds := range descs.GetDescriptors() {
		keys[ds.GetName()] = len(ds.GetLabelKeys())
	}
	resp, err := d.Runtime.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var pod *runtimeapi.PodSandboxMetrics
	for _, pm := range resp.GetPodMetrics() {
		if pm.GetPodSandboxId() == podID {
			pod = pm
		}
	}
	if pod == nil || len(pod.GetContainerMetrics()) != 1 || pod.GetContainerMetrics()[0].GetContainerId() != ctrID {
		t.Fatalf("pod metrics %v", pod)
	}
	values := map[string]uint64{}
	check := func(ms []*runtimeapi.Metric) {
		for _, m := range ms {
			n, ok := keys[m.GetName()]
			if !ok || n != len(m.GetLabelValues()) {
				t.Errorf("%s: %d label values, described with %d keys (described: %v)", m.GetName(), len(m.GetLabelValues()), n, ok)
			}
			key := m.GetName()
			if strings.HasPrefix(key, "container_network_") {
				key += "/" + m.GetLabelValues()[len(m.GetLabelValues())-1]
			}
			if _, seen := values[key]; !seen {
				values[key] = m.GetValue().GetValue()
			}
		}
	}
	check(pod.GetMetrics())
	check(pod.GetContainerMetrics()[0].GetMetrics())
	for _, name := range []string{
		"container_cpu_usage_seconds_total", "container_memory_usage_bytes", "container_memory_working_set_bytes",
		"container_memory_rss", "container_processes", "container_threads", "container_file_descriptors",
		"container_sockets", "container_fs_usage_bytes", "container_fs_inodes_total", "container_fs_limit_bytes",
		"container_spec_cpu_period", "container_spec_cpu_quota", "container_spec_cpu_shares",
		"container_spec_memory_limit_bytes", "container_start_time_seconds", "container_last_seen",
		"container_network_transmit_bytes_total/eth0", "container_oom_events_total", "container_threads_max",
	} {
		if _, ok := values[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if values["container_network_transmit_bytes_total/eth0"] < 20*1000 || values["container_spec_memory_limit_bytes"] != 64<<20 ||
		values["container_spec_cpu_quota"] != 20000 || values["container_processes"] == 0 {
		t.Errorf("values %v", values)
	}
}

// checkListStreams compares each list stream with its unary list.
func checkListStreams(t *testing.T, d *obsDaemon, pods, ctrs []string) {
	ctx := context.Background()
	ids := func(kind string, got []string, want []string) {
		t.Helper()
		seen := map[string]bool{}
		for _, id := range got {
			if seen[id] {
				t.Errorf("%s: %s streamed twice", kind, id)
			}
			seen[id] = true
		}
		g, w := slices.Clone(got), slices.Clone(want)
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("%s: streamed %v, want %v", kind, g, w)
		}
	}

	ps, err := d.Runtime.StreamPodSandboxes(ctx, &runtimeapi.StreamPodSandboxesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range collect(t, ps.Recv) {
		if len(m.GetPodSandboxes()) == 0 {
			t.Error("empty batch")
		}
		for _, p := range m.GetPodSandboxes() {
			got = append(got, p.GetId())
		}
	}
	ids("StreamPodSandboxes", got, pods)

	ps, err = d.Runtime.StreamPodSandboxes(ctx, &runtimeapi.StreamPodSandboxesRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{"app": "nothing"}}})
	if err != nil {
		t.Fatal(err)
	}
	if batches := collect(t, ps.Recv); len(batches) != 0 {
		t.Errorf("no match streamed %d batches", len(batches))
	}

	cs, err := d.Runtime.StreamContainers(ctx, &runtimeapi.StreamContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: pods[0]}})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, m := range collect(t, cs.Recv) {
		for _, c := range m.GetContainers() {
			got = append(got, c.GetId())
		}
	}
	ids("StreamContainers(pod filter)", got, ctrs[:1])

	css, err := d.Runtime.StreamContainerStats(ctx, &runtimeapi.StreamContainerStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, m := range collect(t, css.Recv) {
		for _, s := range m.GetContainerStats() {
			got = append(got, s.GetAttributes().GetId())
		}
	}
	ids("StreamContainerStats", got, ctrs)

	pss, err := d.Runtime.StreamPodSandboxStats(ctx, &runtimeapi.StreamPodSandboxStatsRequest{Filter: &runtimeapi.PodSandboxStatsFilter{Id: pods[1]}})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, m := range collect(t, pss.Recv) {
		for _, s := range m.GetPodSandboxStats() {
			got = append(got, s.GetAttributes().GetId())
		}
	}
	ids("StreamPodSandboxStats(id filter)", got, pods[1:])

	pms, err := d.Runtime.StreamPodSandboxMetrics(ctx, &runtimeapi.StreamPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, m := range collect(t, pms.Recv) {
		for _, s := range m.GetPodSandboxMetrics() {
			got = append(got, s.GetPodSandboxId())
		}
	}
	ids("StreamPodSandboxMetrics", got, pods)

	list, err := d.Image.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, img := range list.GetImages() {
		want = append(want, img.GetId())
	}
	is, err := d.Image.StreamImages(ctx, &runtimeapi.StreamImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, m := range collect(t, is.Recv) {
		for _, img := range m.GetImages() {
			got = append(got, img.GetId())
		}
	}
	ids("StreamImages", got, want)
}

// checkPrometheus scrapes the daemon's metrics endpoint.
func checkPrometheus(t *testing.T, d *obsDaemon) {
	m := regexp.MustCompile(`serving metrics on http://(\S+)/metrics`).FindStringSubmatch(d.Log())
	if m == nil {
		t.Fatal("no metrics address in the log")
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := string(raw)
	for _, want := range []string{
		`cri_shim_grpc_requests_total{code="OK",method="RunPodSandbox"} 2`,
		`cri_shim_grpc_requests_total{code="NotFound",method="PodSandboxStats"} 1`,
		`cri_shim_grpc_request_duration_seconds_count{method="StartContainer"} 2`,
		`cri_shim_grpc_requests_total{code="OK",method="StreamPodSandboxes"} 2`,
		`cri_shim_pods{state="ready"} 2`,
		`cri_shim_containers{state="running"} 2`,
		`cri_shim_monitor_processes 2`,
		`cri_shim_image_pulls_total{result="success"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !regexp.MustCompile(`cri_shim_image_pull_bytes_total [1-9]`).MatchString(body) {
		t.Error("no pulled bytes counted")
	}
}

// TestPodSandboxEvents checks that GetContainerEvents carries pod events.
func TestPodSandboxEvents(t *testing.T) {
	d := startObsDaemon(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev, err := d.Runtime.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The subscription is made when the first message is asked for: make
	// sure it is in place before the pod is.
	time.Sleep(300 * time.Millisecond)
	id, _ := d.runPod("events", nil)
	if _, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	want := []runtimeapi.ContainerEventType{
		runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
	}
	for i, w := range want {
		e, err := ev.Recv()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if e.GetContainerId() != id || e.GetContainerEventType() != w || e.GetCreatedAt() == 0 {
			t.Fatalf("event %d: %v, want %v for pod %s", i, e, w, id)
		}
		switch w {
		case runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT:
			if e.GetPodSandboxStatus().GetState() != runtimeapi.PodSandboxState_SANDBOX_READY {
				t.Errorf("started event with pod status %v", e.GetPodSandboxStatus())
			}
		case runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT:
			if e.GetPodSandboxStatus() != nil {
				t.Errorf("deleted event with a pod status %v", e.GetPodSandboxStatus())
			}
		}
	}
}

// TestUpdateRuntimeConfigPodCIDR hands a pod CIDR over and checks new pods
// get addresses from it, across a daemon restart. A CIDR that would take
// the bridge's gateway from a live pod is refused until the pod is gone.
func TestUpdateRuntimeConfigPodCIDR(t *testing.T) {
	d := startObsDaemon(t, "")
	ctx := context.Background()
	update := func(cidr string) error {
		_, err := d.Runtime.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{
			NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr}}})
		return err
	}
	ipOf := func(id string) string {
		st, err := d.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
		if err != nil {
			t.Fatal(err)
		}
		return st.GetStatus().GetNetwork().GetIp()
	}
	before, _ := d.runPod("before", nil)
	if ip := ipOf(before); !strings.HasPrefix(ip, "10.227.0.") {
		t.Errorf("pod made before has %s", ip)
	}
	if err := update("10.227.1.1/24"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad CIDR: %v", err)
	}
	if err := update(obsPodCIDR); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("CIDR stranding a live pod: %v", err)
	}
	if _, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: before}); err != nil {
		t.Fatal(err)
	}
	if err := update(obsPodCIDR); err != nil {
		t.Fatal(err)
	}
	if err := update(""); err != nil { // nothing to change
		t.Fatal(err)
	}
	after, _ := d.runPod("after", nil)
	if ip := ipOf(after); !strings.HasPrefix(ip, "10.227.1.") {
		t.Errorf("pod made after has %s, want one in %s", ip, obsPodCIDR)
	}
	d.Stop()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	restarted, _ := d.runPod("restarted", nil)
	if ip := ipOf(restarted); !strings.HasPrefix(ip, "10.227.1.") {
		t.Errorf("pod made after a restart has %s, want one in %s", ip, obsPodCIDR)
	}
}

// TestUpdatePodSandboxResources resizes a pod whose cgroup the runtime made.
func TestUpdatePodSandboxResources(t *testing.T) {
	d := startObsDaemon(t, "")
	ctx := context.Background()
	id, _ := d.runPod("resize", nil)
	_, err := d.Runtime.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{
		PodSandboxId: id,
		Overhead:     &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 16 << 20},
		Resources:    &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20, CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 256},
	})
	if err != nil {
		t.Fatal(err)
	}
	read := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, d.cgroupParent, id, file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := read("memory", "memory.limit_in_bytes"); got != strconv.Itoa(80<<20) {
		t.Errorf("memory limit %s, want %d", got, 80<<20)
	}
	if got := read("cpu", "cpu.cfs_quota_us"); got != "50000" {
		t.Errorf("cpu quota %s", got)
	}
	st, err := d.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.GetInfo()["info"], `"memoryLimit":67108864`) {
		t.Errorf("verbose status does not show the resources: %s", st.GetInfo()["info"])
	}
	if _, err := d.Runtime.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: "nonexistent"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown pod: %v", err)
	}
}

// TestCheckpointContainer checkpoints a running container. CRIU either
// writes the archive or, where it cannot work on the host's kernel, the
// answer is FailedPrecondition naming CRIU; the container runs on either way
// and nothing partial is left.
func TestCheckpointContainer(t *testing.T) {
	reg := startImageRegistry(t)
	d := startObsDaemon(t, mirrorTOML(reg.Host))
	ctx := context.Background()
	pod, cfg := d.runPod("checkpoint", nil)
	ctr := d.runContainer(pod, cfg, "counter", nil, "sh", "-c", "i=0; while true; do i=$((i+1)); sleep 1; done")
	dir := t.TempDir()
	archive := filepath.Join(dir, "checkpoint.tar")
	_, err := d.Runtime.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: ctr, Location: archive, Timeout: 60})
	switch status.Code(err) {
	case codes.OK:
		if fi, err := os.Stat(archive); err != nil || fi.Size() == 0 {
			t.Fatalf("archive: %v", err)
		}
	case codes.FailedPrecondition:
		if !strings.Contains(status.Convert(err).Message(), "CRIU") {
			t.Fatalf("failure without CRIU's reason: %v", err)
		}
		t.Logf("CRIU cannot checkpoint here: %v", status.Convert(err).Message())
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("left in %s: %v", dir, ents)
		}
	default:
		t.Fatalf("checkpoint: %v", err)
	}
	cs, err := d.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ctr})
	if err != nil || cs.GetStatus().GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("container after checkpoint: %v %v", cs.GetStatus().GetState(), err)
	}
	if _, err := d.Runtime.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: ctr, Location: "relative.tar"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("relative location: %v", err)
	}
	if _, err := d.Runtime.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{PodSandboxId: pod}); status.Code(err) != codes.Unimplemented {
		t.Errorf("CheckpointPod: %v", err)
	}
}
