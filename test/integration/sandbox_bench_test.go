package integration

import (
	"fmt"
	"testing"
)

// BenchmarkPodSandbox times RunPodSandbox, StopPodSandbox and
// RemovePodSandbox of a default pod (own network, IPC, UTS namespaces on the
// built-in bridge; no PID namespace of its own, as the kubelet asks by
// default) through the CRI, and reports the median of each in ms.
//
//	go test -tags seccomp -run '^$' -bench PodSandbox -benchtime 100x ./test/integration/
func BenchmarkPodSandbox(b *testing.B) {
	d := startPodDaemon(b, "", "", "--log-level", "2")
	var run, stop, remove latencies
	// Warm up: the bridge is made by the first pod.
	d.cycle(b, podRequest("warm"), &run, &stop, &remove)
	run, stop, remove = nil, nil, nil
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.cycle(b, podRequest(fmt.Sprintf("bench-%d", i)), &run, &stop, &remove)
	}
	b.StopTimer()
	for _, m := range []struct {
		name string
		l    latencies
	}{{"run-median-ms", run}, {"stop-median-ms", stop}, {"remove-median-ms", remove}} {
		b.ReportMetric(float64(m.l.quantile(0.5).Microseconds())/1000, m.name)
	}
	b.Logf("RunPodSandbox %v; StopPodSandbox %v; RemovePodSandbox %v", run, stop, remove)
}
