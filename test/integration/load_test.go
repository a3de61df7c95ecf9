package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The load tests' pod network: a bridge and a /22 no other test uses.
const (
	loadBridge = "crishimsk0"
	loadSubnet = "10.233.0.0/22"
	// SoakEnv set to 1 runs the load tests at full size (make soak).
	SoakEnv = "CRI_SHIM_SOAK"
	// loadWorkers is how many pods are worked on at once, as a kubelet's
	// pod workers do.
	loadWorkers = 10
)

// loadSize is small under make test and full under make soak.
func loadSize(small, full int) int {
	if os.Getenv(SoakEnv) == "1" {
		return full
	}
	return small
}

// startLoadDaemon starts a container test daemon on the load network with
// its metrics endpoint on.
func startLoadDaemon(t *testing.T) *ctrDaemon {
	t.Helper()
	d := startCtrDaemonOn(t, loadBridge, loadSubnet, `metrics_address = "127.0.0.1:0"`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		removeAllPods(ctx, t, d.Runtime, d.track)
		d.assertHostClean()
	})
	return d
}

// daemonUsage is what the daemon holds: file descriptors (from /proc),
// goroutines and resident memory (from its metrics), monitor processes.
type daemonUsage struct {
	fds, goroutines, monitors int
	rss                       int64
}

func (u daemonUsage) String() string {
	return fmt.Sprintf("%d fds, %d goroutines, %.1f MiB resident, %d monitors", u.fds, u.goroutines, float64(u.rss)/(1<<20), u.monitors)
}

// usage measures the daemon.
func (d *ctrDaemon) usage() daemonUsage {
	t := d.t
	t.Helper()
	pid := d.daemonPID()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("fds of the daemon %d: %v", pid, err)
	}
	u := daemonUsage{fds: len(ents), monitors: len(processesWith(d.State))}
	m := regexp.MustCompile(`serving metrics on http://(\S+)/metrics`).FindAllStringSubmatch(d.Log(), -1)
	if len(m) == 0 {
		t.Fatal("no metrics address in the log")
	}
	resp, err := http.Get("http://" + m[len(m)-1][1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			u.goroutines, found = int(f), found+1
		case "process_resident_memory_bytes":
			u.rss, found = int64(f), found+1
		}
	}
	if found != 2 {
		t.Fatal("the metrics lack go_goroutines or process_resident_memory_bytes")
	}
	return u
}

// daemonPID finds the daemon's process by its config file argument.
func (d *ctrDaemon) daemonPID() int {
	d.t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(cmd), "\x00")
		if len(args) > 2 && args[1] == "--config" && args[2] == d.Config && alivePID(pid) {
			return pid
		}
	}
	d.t.Fatal("daemon process not found")
	return 0
}

// settledUsage measures the daemon until its goroutines are within slack
// of base (work finishing in the background), or gives the last reading.
func (d *ctrDaemon) settledUsage(base daemonUsage, slack int) daemonUsage {
	d.t.Helper()
	u := d.usage()
	for deadline := time.Now().Add(15 * time.Second); u.goroutines > base.goroutines+slack && time.Now().Before(deadline); u = d.usage() {
		time.Sleep(200 * time.Millisecond)
	}
	return u
}

// checkFlat fails the test when the daemon holds more at the end than
// after the warm-up: fds and goroutines within a small slack, resident
// memory within 20 MiB, no monitor.
func checkFlat(t *testing.T, base, end daemonUsage) {
	t.Helper()
	t.Logf("after warm-up: %v", base)
	t.Logf("at the end:    %v", end)
	if end.fds > base.fds+5 {
		t.Errorf("leak: the daemon holds %d fds, %d after the warm-up", end.fds, base.fds)
	}
	if end.goroutines > base.goroutines+10 {
		t.Errorf("leak: the daemon runs %d goroutines, %d after the warm-up", end.goroutines, base.goroutines)
	}
	if end.rss > base.rss+20<<20 {
		t.Errorf("leak: the daemon's resident memory grew from %.1f to %.1f MiB", float64(base.rss)/(1<<20), float64(end.rss)/(1<<20))
	}
	if end.monitors != 0 {
		t.Errorf("leak: %d monitor processes with no container", end.monitors)
	}
}

// loadCounts counts CRI calls and failures across workers.
type loadCounts struct {
	calls, failed atomic.Int64
}

// call runs one CRI call, counting it and reporting a failure.
func (c *loadCounts) call(t *testing.T, what string, f func() error) bool {
	c.calls.Add(1)
	if err := f(); err != nil {
		c.failed.Add(1)
		t.Errorf("%s: %v", what, err)
		return false
	}
	return true
}

// parallel runs job(i) for i in [0,n) on loadWorkers workers.
func parallel(n int, job func(worker, i int)) {
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for w := range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				job(w, i)
			}
		}()
	}
	wg.Wait()
}

// loadPod is one pod of the parallel load with its two containers.
type loadPod struct {
	cfg   *runtimeapi.PodSandboxConfig
	id    string
	ctrs  [2]string
	ready bool
}

// podRound creates n pods of two containers each and starts them, checks
// that all run, then stops and removes them, every step loadWorkers at a
// time. One container ends on SIGTERM (exit 0), the other ignores it and
// is killed (exit 137).
func (d *ctrDaemon) podRound(t *testing.T, n int, c *loadCounts) {
	ctx := context.Background()
	pods := make([]*loadPod, n)
	parallel(n, func(_, i int) {
		p := &loadPod{cfg: d.podConfig(fmt.Sprintf("load-%d", i), runtimeapi.NamespaceMode_CONTAINER, nil)}
		pods[i] = p
		if !c.call(t, "RunPodSandbox", func() error {
			resp, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: p.cfg})
			p.id = resp.GetPodSandboxId()
			return err
		}) {
			return
		}
		d.track(p.id)
		cmds := [2][]string{{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}, {"sleep", "3600"}}
		for k, cmd := range cmds {
			cfg := ctrConfig(p.cfg, fmt.Sprintf("c%d", k), cmd...)
			if !c.call(t, "CreateContainer", func() error {
				resp, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, Config: cfg, SandboxConfig: p.cfg})
				p.ctrs[k] = resp.GetContainerId()
				return err
			}) {
				return
			}
			if !c.call(t, "StartContainer", func() error {
				_, err := d.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: p.ctrs[k]})
				return err
			}) {
				return
			}
		}
		p.ready = true
	})
	running := 0
	for _, ct := range d.containers() {
		if ct.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING {
			running++
		}
	}
	if running != 2*n {
		t.Errorf("%d containers running, want %d", running, 2*n)
	}
	parallel(n, func(_, i int) {
		p := pods[i]
		if p == nil || p.id == "" {
			return
		}
		for k, want := range []int32{0, 137} {
			if p.ctrs[k] == "" {
				continue
			}
			timeout := int64(10)
			if k == 1 {
				timeout = 0
			}
			if c.call(t, "StopContainer", func() error {
				_, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: p.ctrs[k], Timeout: timeout})
				return err
			}) && p.ready {
				st, err := d.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: p.ctrs[k]})
				if err != nil || st.GetStatus().GetExitCode() != want {
					t.Errorf("container %d of pod %d: exit %d (%v), want %d", k, i, st.GetStatus().GetExitCode(), err, want)
				}
			}
			c.call(t, "RemoveContainer", func() error {
				_, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: p.ctrs[k]})
				return err
			})
		}
		c.call(t, "StopPodSandbox", func() error {
			_, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id})
			return err
		})
		c.call(t, "RemovePodSandbox", func() error {
			_, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id})
			return err
		})
	})
}

// TestLoadParallelPods creates, starts, stops and removes pods of two
// containers each, ten at a time (20 pods; 100 under make soak), after a
// warm-up round of ten. No call fails, every container runs and exits as
// it should, nothing is left on the host, and the daemon's fds,
// goroutines and resident memory are where they were after the warm-up.
func TestLoadParallelPods(t *testing.T) {
	n := loadSize(20, 100)
	d := startLoadDaemon(t)
	var c loadCounts
	d.podRound(t, loadWorkers, &c)
	base := d.usage()
	start := time.Now()
	d.podRound(t, n, &c)
	took := time.Since(start)
	end := d.settledUsage(base, 10)
	d.assertNoContainerLeaks()
	d.assertHostClean()
	checkFlat(t, base, end)
	t.Logf("%d pods of 2 containers (%d workers) in %s; %d CRI calls, %d failed (warm-up of %d pods included)",
		n, loadWorkers, took.Round(time.Millisecond), c.calls.Load(), c.failed.Load(), loadWorkers)
}

// TestLoadPodCycles runs, stops and removes pods of every kind (own PID
// namespace, a host port, sysctls, host network), ten at a time: 100
// cycles, 1000 under make soak, after a warm-up of 20. No call fails,
// nothing is left, and the daemon's fds, goroutines and memory stay flat.
func TestLoadPodCycles(t *testing.T) {
	n := loadSize(100, 1000)
	d := startLoadDaemon(t)
	var c loadCounts
	ctx := context.Background()
	cycle := func(w, i int) {
		cfg := d.podConfig(fmt.Sprintf("cycle-%d", i), runtimeapi.NamespaceMode_CONTAINER, nil)
		ns := cfg.Linux.SecurityContext.NamespaceOptions
		switch i % 5 {
		case 1:
			ns.Pid = runtimeapi.NamespaceMode_POD
		case 2:
			cfg.PortMappings = []*runtimeapi.PortMapping{{ContainerPort: 80, HostPort: int32(18300 + w)}}
		case 3:
			cfg.Linux.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"}
		case 4:
			ns.Network, ns.Ipc = runtimeapi.NamespaceMode_NODE, runtimeapi.NamespaceMode_NODE
		}
		var id string
		if !c.call(t, "RunPodSandbox", func() error {
			resp, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
			id = resp.GetPodSandboxId()
			return err
		}) {
			return
		}
		d.track(id)
		c.call(t, "StopPodSandbox", func() error {
			_, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
			return err
		})
		c.call(t, "RemovePodSandbox", func() error {
			_, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
			return err
		})
	}
	parallel(20, cycle)
	base := d.usage()
	start := time.Now()
	parallel(n, cycle)
	took := time.Since(start)
	end := d.settledUsage(base, 10)
	if pods := d.listPods(); len(pods) != 0 {
		t.Errorf("%d pods left", len(pods))
	}
	d.assertNoContainerLeaks()
	d.assertHostClean()
	checkFlat(t, base, end)
	t.Logf("%d pod cycles (%d workers) in %s; %d CRI calls, %d failed (warm-up of 20 cycles included)",
		n, loadWorkers, took.Round(time.Millisecond), c.calls.Load(), c.failed.Load())
}
