package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	var s []float64
	for i := 1; i <= 100; i++ {
		s = append(s, float64(101-i))
	}
	d := summarize(s)
	if d.N != 100 || d.Min != 1 || d.Max != 100 || d.Median != 50.5 || d.Mean != 50.5 {
		t.Fatalf("summarize: %+v", d)
	}
	if math.Abs(d.P90-90.1) > 1e-9 || math.Abs(d.P99-99.01) > 1e-9 {
		t.Fatalf("p90 %v, p99 %v", d.P90, d.P99)
	}
	if summarize(nil) != nil {
		t.Fatal("summarize(nil) should be nil")
	}
}

func TestRecordLifecycle(t *testing.T) {
	raw := `{"operationsNames":["CreatePod","StatusPod","StopPod","RemovePod"],"numParallel":1,
	 "datapoints":[{"operationsDurationsNs":[2000000,1000000,3000000,4000000]},{"operationsDurationsNs":[4000000,1000000,3000000,2000000]}]}`
	var set lifecycleSet
	if err := json.Unmarshal([]byte(raw), &set); err != nil {
		t.Fatal(err)
	}
	res := newResults([]string{"rt"}, nil)
	f := critestFiles[0]
	recordLifecycle(res, "rt", f.prefix, f.what, f.lifecycle, f.ops, set)
	res.finish()
	want := map[string]float64{"critest.pod.run": 3, "critest.pod.status": 1, "critest.pod.lifecycle": 10}
	for key, v := range want {
		m := res.index[key]
		if m == nil || m.Value["rt"] != v {
			t.Errorf("%s: got %+v, want median %v", key, m, v)
		}
	}
}

func TestRatiosAndTargets(t *testing.T) {
	res := newResults([]string{"a", "b"}, nil)
	res.latency("critest.pod.lifecycle", "critest", "pod", "a", []float64{40})
	res.latency("critest.pod.lifecycle", "critest", "pod", "b", []float64{100})
	res.figure("pull.large.throughput", "images", "pull", "MB/s", true, "a", 90)
	res.figure("pull.large.throughput", "images", "pull", "MB/s", true, "b", 100)
	res.finish()
	if len(res.Ratios) != 2 {
		t.Fatalf("ratios: %+v", res.Ratios)
	}
	if r := res.Ratios[0]; r.Ratio != 0.4 || r.Met == nil || !*r.Met {
		t.Errorf("pod lifecycle: %+v", r)
	}
	if r := res.Ratios[1]; r.Ratio != 0.9 || r.Met == nil || *r.Met {
		t.Errorf("pull: %+v", r)
	}
	var md strings.Builder
	res.writeMarkdown(&md)
	if !strings.Contains(md.String(), "| ≥ 1.0: **missed** |") {
		t.Errorf("markdown lacks the missed pull target:\n%s", md.String())
	}
	var svg strings.Builder
	if err := res.writeSVG(&svg); err != nil || !strings.Contains(svg.String(), "<circle") {
		t.Errorf("svg: %v\n%s", err, svg.String())
	}
}

func TestBenchLine(t *testing.T) {
	m := benchLine.FindStringSubmatch("BenchmarkPull-2   	      10	 496123456 ns/op	  42.50 MB/s")
	if m == nil || m[1] != "BenchmarkPull" || m[2] != "10" || !strings.HasPrefix(m[3], "496123456 ns/op") {
		t.Fatalf("benchLine: %q", m)
	}
}
