package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// busybox is the container image of the benchmarks' pods (critest's
// default image), served by the test registry.
const busybox = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

var podSeq atomic.Int64

// podConfig is a pod as the kubelet asks for one by default: its own
// network, IPC and UTS namespaces, a log directory, no cgroup parent (the
// runtime's default, as critest does on cgroupfs).
func (t *target) podConfig(prefix string) (*runtimeapi.PodSandboxConfig, error) {
	n := podSeq.Add(1)
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), n)
	logDir := filepath.Join(t.logDir, name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("pod log dir: %w", err)
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: fmt.Sprintf("uid-%s", name), Namespace: "bench"},
		Hostname:     name,
		LogDirectory: logDir,
		Labels:       map[string]string{"cri-shim-bench": "1"},
		Linux:        &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{}},
	}, nil
}

// podTimes are the durations of one pod with one container.
type podTimes struct {
	run, create, start time.Duration
}

func (p podTimes) total() time.Duration { return p.run + p.create + p.start }

// startPod runs a pod and starts one container in it (busybox sleeping),
// timing each step.
func (t *target) startPod(ctx context.Context, prefix string, cmd ...string) (podID, ctrID string, tm podTimes, err error) {
	cfg, err := t.podConfig(prefix)
	if err != nil {
		return "", "", tm, err
	}
	if len(cmd) == 0 {
		cmd = []string{"sleep", "3600"}
	}
	t0 := time.Now()
	run, err := t.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	tm.run = time.Since(t0)
	if err != nil {
		return "", "", tm, fmt.Errorf("RunPodSandbox: %w", err)
	}
	podID = run.GetPodSandboxId()
	t1 := time.Now()
	c, err := t.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: podID, SandboxConfig: cfg,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "main"},
			Image:    &runtimeapi.ImageSpec{Image: busybox},
			Command:  cmd,
			LogPath:  "main/0.log",
			Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{}},
		},
	})
	tm.create = time.Since(t1)
	if err != nil {
		return podID, "", tm, fmt.Errorf("CreateContainer: %w", err)
	}
	ctrID = c.GetContainerId()
	t2 := time.Now()
	_, err = t.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctrID})
	tm.start = time.Since(t2)
	if err != nil {
		return podID, ctrID, tm, fmt.Errorf("StartContainer: %w", err)
	}
	return podID, ctrID, tm, nil
}

// removePod stops and removes a pod with its containers.
func (t *target) removePod(ctx context.Context, podID string) error {
	if _, err := t.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", podID, err)
	}
	if _, err := t.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		return fmt.Errorf("RemovePodSandbox %s: %w", podID, err)
	}
	return nil
}

// benchSequentialPods starts n pods with one container each, one after
// the other, and removes each: run pod + create + start, and stop + remove.
func benchSequentialPods(ctx context.Context, t *target, res *Results, n int) error {
	var start, teardown []float64
	cpu0, _ := hostCPUSeconds()
	for range n {
		podID, _, tm, err := t.startPod(ctx, "seq")
		if err != nil {
			if podID != "" {
				_ = t.removePod(context.WithoutCancel(ctx), podID)
			}
			return err
		}
		t0 := time.Now()
		if err := t.removePod(context.WithoutCancel(ctx), podID); err != nil {
			return err
		}
		start = append(start, ms(tm.total()))
		teardown = append(teardown, ms(time.Since(t0)))
	}
	cpu1, _ := hostCPUSeconds()
	res.figure("pods.sequential.cpu", "pods", "one at a time: host CPU time per pod started and removed (every process)", "ms", false, t.name, (cpu1-cpu0)*1000/float64(n))
	res.latency("pods.start.sequential", "pods", "run pod + create + start container (one at a time)", t.name, start)
	res.latency("pods.teardown.sequential", "pods", "stop + remove pod (one at a time)", t.name, teardown)
	return nil
}

// benchParallelPods starts n pods with one container each, all at once,
// then measures memory if asked (and keeps them running for hold, for
// inspection), then removes them all at once.
func benchParallelPods(ctx context.Context, t *target, res *Results, n int, measureMemory bool, hold time.Duration) error {
	type result struct {
		pod string
		d   time.Duration
		err error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			t0 := time.Now()
			pod, _, _, err := t.startPod(ctx, fmt.Sprintf("par%d", n))
			results[i] = result{pod, time.Since(t0), err}
		})
	}
	cpu0, _ := hostCPUSeconds()
	t0 := time.Now()
	close(gate)
	wg.Wait()
	total := time.Since(t0)
	cpu1, _ := hostCPUSeconds()
	var per []float64
	var firstErr error
	for _, r := range results {
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
		per = append(per, ms(r.d))
	}
	if firstErr == nil {
		key := fmt.Sprintf("pods.parallel%d", n)
		res.figure(key+".total", "pods", fmt.Sprintf("%d pods started in parallel: total", n), "ms", false, t.name, ms(total))
		res.latency(key+".pod", "pods", fmt.Sprintf("%d pods started in parallel: per pod", n), t.name, per)
		res.figure(key+".cpu", "pods", fmt.Sprintf("%d pods started in parallel: host CPU time per pod (every process)", n), "ms", false, t.name, (cpu1-cpu0)*1000/float64(n))
		if measureMemory {
			firstErr = measureRunning(t, res, n)
			// Removed below even when the context ends during the hold.
			_ = holdFor(ctx, hold, fmt.Sprintf("%d running pods of %s", n, t.name))
		}
	}
	t1 := time.Now()
	var mu sync.Mutex
	var rmErr error
	for _, r := range results {
		if r.pod == "" {
			continue
		}
		wg.Go(func() {
			if err := t.removePod(context.WithoutCancel(ctx), r.pod); err != nil {
				mu.Lock()
				rmErr = errors.Join(rmErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		res.figure(fmt.Sprintf("pods.parallel%d.teardown", n), "pods", fmt.Sprintf("%d pods removed in parallel: total", n), "ms", false, t.name, ms(time.Since(t1)))
	}
	return errors.Join(firstErr, rmErr)
}
