package oci

import (
	"context"
	"fmt"
	"github.com/cri-shim/cri-shim/pkg/monitor"
	"os"
	"sort"
	"testing"
	"time"
)

// BenchmarkCreateStart measures create, start and the run of echo
// through a monitor. With CRI_SHIM_BIN set it re-executes that binary (the
// real cost, package initialisation included) instead of the test binary.
func BenchmarkCreateStart(b *testing.B) {
	bin := os.Getenv("CRI_SHIM_BIN")
	var creates, starts, waits []time.Duration
	for i := 0; i < b.N; i++ {
		c := newContainer(b, fmt.Sprintf("oci-bench-%d", i), []string{"echo"}, false)
		if bin != "" {
			c.rt.Binary = bin
		}
		t0 := time.Now()
		m, err := c.rt.Create(context.Background(), c.opts)
		if err != nil {
			b.Fatal(err)
		}
		c.monitor = m
		t1 := time.Now()
		if err := c.rt.Start(context.Background(), c.id); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := waitPID(m.PID); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		creates, starts, waits = append(creates, t1.Sub(t0)), append(starts, t2.Sub(t1)), append(waits, t3.Sub(t2))
		// newContainer's cleanup destroys the container and removes its dirs.
	}
	b.ReportMetric(median(creates), "create-ms")
	b.ReportMetric(median(starts), "start-ms")
	b.ReportMetric(median(waits), "run-ms")
}

func median(d []time.Duration) float64 {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return float64(d[len(d)/2].Microseconds()) / 1000
}

func waitPID(pid int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return monitorWait(ctx, pid)
}

var monitorWait = monitor.WaitPID
