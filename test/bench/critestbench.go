package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// critestParams are the sizes of critest's benchmark mode.
type critestParams struct {
	Pods, Containers, Images int
}

// lifecycleSet is the JSON critest -benchmark writes per benchmark
// (sigs.k8s.io/cri-tools/pkg/benchmark LifecycleBenchmarksResultsSet).
type lifecycleSet struct {
	OperationsNames []string `json:"operationsNames"`
	NumParallel     int      `json:"numParallel"`
	Datapoints      []struct {
		SampleIndex           int     `json:"sampleIndex"`
		StartTime             int64   `json:"startTime"`
		EndTime               int64   `json:"endTime"`
		OperationsDurationsNs []int64 `json:"operationsDurationsNs"`
	} `json:"datapoints"`
}

// critestFiles maps each JSON file of critest's benchmark mode to a metric
// key prefix and the names of its operations in the report. A prefix with
// a lifecycle also gets the sum of the operations per sample.
var critestFiles = []struct {
	file, prefix, what string
	lifecycle          bool
	ops                map[string][2]string // operation -> key suffix, name
}{
	{"pod_benchmark_data.json", "critest.pod", "pod", true, map[string][2]string{
		"CreatePod": {"run", "RunPodSandbox"}, "StatusPod": {"status", "PodSandboxStatus"},
		"StopPod": {"stop", "StopPodSandbox"}, "RemovePod": {"remove", "RemovePodSandbox"},
	}},
	{"container_benchmark_data.json", "critest.container", "container", true, map[string][2]string{
		"CreateContainer": {"create", "CreateContainer"}, "StartContainer": {"start", "StartContainer"},
		"StatusContainer": {"status", "ContainerStatus"}, "StopContainer": {"stop", "StopContainer"},
		"RemoveContainer": {"remove", "RemoveContainer"},
	}},
	{"image_lifecycle_benchmark_data.json", "critest.image", "image", false, map[string][2]string{
		"PullImage": {"pull", "PullImage (busybox, local registry)"}, "StatusImage": {"status", "ImageStatus"},
		"RemoveImage": {"remove", "RemoveImage"},
	}},
	{"image_listing_benchmark_data.json", "critest.images", "images", false, map[string][2]string{
		"ListImages": {"list", "ListImages"},
	}},
}

// benchCritest runs critest's benchmark mode against t and records its
// per-operation latencies, and the CPU time the daemon used meanwhile.
func benchCritest(ctx context.Context, t *target, res *Results, critest, out string, p critestParams) error {
	dir := filepath.Join(out, "critest-"+t.name)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := mkdirs(dir); err != nil {
		return err
	}
	params := filepath.Join(dir, "params.yaml")
	yaml := fmt.Sprintf("containersNumber: %d\ncontainersNumberParallel: 1\npodsNumber: %d\npodsNumberParallel: 1\nimagesNumber: %d\nimagesNumberParallel: 1\n",
		p.Containers, p.Pods, p.Images)
	if err := os.WriteFile(params, []byte(yaml), 0o644); err != nil {
		return fmt.Errorf("critest params: %w", err)
	}
	endpoint := "unix://" + t.sock
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, critest, "-benchmark",
		"--benchmarking-params-file", params, "--benchmarking-output-dir", dir,
		"--runtime-endpoint", endpoint, "--image-endpoint", endpoint,
		"--ginkgo.no-color", "--ginkgo.timeout", "14m")
	logPath := filepath.Join(dir, "critest.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cpu0, _ := cpuSeconds(t.daemon.PID())
	t0 := time.Now()
	runErr := cmd.Run()
	elapsed := time.Since(t0)
	cpu1, _ := cpuSeconds(t.daemon.PID())
	res.figure("critest.daemon_cpu", "critest", "daemon CPU time during the critest benchmark run", "s", false, t.name, cpu1-cpu0)
	res.figure("critest.wall", "critest", "critest benchmark run, wall time", "s", false, t.name, elapsed.Seconds())
	var missing []string
	for _, f := range critestFiles {
		raw, err := os.ReadFile(filepath.Join(dir, f.file))
		if err != nil {
			missing = append(missing, f.file)
			continue
		}
		var set lifecycleSet
		if err := json.Unmarshal(raw, &set); err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
		recordLifecycle(res, t.name, f.prefix, f.what, f.lifecycle, f.ops, set)
	}
	if runErr != nil || len(missing) > 0 {
		return fmt.Errorf("critest -benchmark against %s: %v; missing %v; see %s", t.name, runErr, missing, logPath)
	}
	return nil
}

// recordLifecycle adds the per-operation samples of one critest benchmark,
// and with lifecycle the sum of the operations of each sample.
func recordLifecycle(res *Results, rt, prefix, what string, lifecycle bool, ops map[string][2]string, set lifecycleSet) {
	per := make([][]float64, len(set.OperationsNames))
	var whole []float64
	for _, dp := range set.Datapoints {
		var sum int64
		for i, d := range dp.OperationsDurationsNs {
			if i < len(per) {
				per[i] = append(per[i], float64(d)/1e6)
			}
			sum += d
		}
		whole = append(whole, float64(sum)/1e6)
	}
	for i, op := range set.OperationsNames {
		key, name := op, op
		if o, ok := ops[op]; ok {
			key, name = o[0], o[1]
		}
		res.latency(prefix+"."+key, "critest", name, rt, per[i])
	}
	if lifecycle {
		res.latency(prefix+".lifecycle", "critest", "whole "+what+" lifecycle (sum of the above)", rt, whole)
	}
}
