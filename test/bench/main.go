// Command bench measures cri-shim, and with -compare containerd with runc
// next to it, through the CRI: critest's benchmark mode, pods started one
// at a time and in parallel, daemon and per-container memory, pull
// throughput of a large many-layer image, ExecSync latency, and the Go
// benchmarks of pkg/images. It starts the test registry (test/harness) and
// private runtimes, runs every benchmark against each runtime in turn
// (alternating the order each round), removes every pod through the CRI,
// stops the runtimes and cleans the host. It writes results.md,
// results.json and latency.svg into -out and prints the Markdown.
//
//	go run ./test/bench -cri-shim bin/cri-shim [-compare -containerd-tools DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cri-shim/cri-shim/test/harness"
)

type options struct {
	criShim, critestBin, out string
	compare                  bool
	containerdTools          string
	containerdPause          string
	logLevel                 int
	rounds                   int
	critest                  critestParams
	parallel                 []int
	sequential, execs        int
	pulls                    int
	largeLayers, largeMiB    int
	goBench, integration     bool
	goBenchtime              string
	goCount                  int
	hold                     time.Duration
	holdIdle                 time.Duration
	render                   string
	skip                     map[string]bool
}

func main() {
	var o options
	var parallel, skip string
	flag.StringVar(&o.criShim, "cri-shim", "bin/cri-shim", "cri-shim binary")
	flag.StringVar(&o.critestBin, "critest", "critest", "critest binary")
	flag.StringVar(&o.out, "out", "_output/bench", "directory for the results and logs")
	flag.BoolVar(&o.compare, "compare", false, "also measure containerd with runc, alternating with cri-shim, and report the ratios")
	flag.StringVar(&o.containerdTools, "containerd-tools", "/opt/cri-shim-tools/compare/containerd-v2.4.2-runc-v1.5.2", "directory with containerd, containerd-shim-runc-v2 and runc (hack/bench-compare-tools.sh)")
	flag.StringVar(&o.containerdPause, "containerd-pause", "c", `containerd's sandbox image: "c" builds a static C pause like registry.k8s.io/pause's; or an image reference (the test registry's registry.k8s.io/pause:3.10.1 is a Go look-alike)`)
	flag.IntVar(&o.logLevel, "log-level", 2, "cri-shim log level (2 logs every RPC, as containerd's info level does)")
	flag.IntVar(&o.rounds, "rounds", 1, "times each benchmark runs against each runtime")
	flag.IntVar(&o.critest.Pods, "critest-pods", 100, "critest -benchmark podsNumber")
	flag.IntVar(&o.critest.Containers, "critest-containers", 100, "critest -benchmark containersNumber")
	flag.IntVar(&o.critest.Images, "critest-images", 50, "critest -benchmark imagesNumber")
	flag.StringVar(&parallel, "parallel", "10,50", "pod counts started in parallel; memory is measured at the largest")
	flag.IntVar(&o.sequential, "sequential", 30, "pods started one at a time")
	flag.IntVar(&o.execs, "execs", 100, "ExecSync calls timed")
	flag.IntVar(&o.pulls, "pulls", 3, "pulls of the large image")
	flag.IntVar(&o.largeLayers, "large-layers", 20, "layers of the large image")
	flag.IntVar(&o.largeMiB, "large-layer-mib", 10, "MiB of random data per layer of the large image")
	flag.BoolVar(&o.goBench, "go-bench", true, "run BenchmarkPull and BenchmarkExtract of pkg/images")
	flag.StringVar(&o.goBenchtime, "go-benchtime", "10x", "-benchtime of the Go benchmarks")
	flag.IntVar(&o.goCount, "go-count", 3, "-count of the Go benchmarks")
	flag.BoolVar(&o.integration, "integration", false, "also run BenchmarkPodSandbox of test/integration (uses the integration tests' bridge: not while they run)")
	flag.DurationVar(&o.hold, "hold", 0, "keep the largest batch of parallel pods running this long after measuring memory, to look at them")
	flag.DurationVar(&o.holdIdle, "hold-idle", 0, "wait this long after measuring each daemon's idle memory, to look at it (hack/rssmap, hack/pclnmap)")
	flag.StringVar(&o.render, "render", "", "only write the report again (results.md, latency.svg) from this results.json, e.g. after a change to the report code")
	flag.StringVar(&skip, "skip", "", "benchmarks to leave out, comma separated: "+strings.Join(suiteNames(), ","))
	flag.Parse()
	for f := range strings.SplitSeq(parallel, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: -parallel: bad count %q\n", f)
			os.Exit(2)
		}
		o.parallel = append(o.parallel, n)
	}
	o.skip = map[string]bool{}
	for s := range strings.SplitSeq(skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	if o.render != "" {
		if err := render(o.render); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (err error) {
	if o.out, err = filepath.Abs(o.out); err != nil {
		return err
	}
	if o.criShim, err = filepath.Abs(o.criShim); err != nil {
		return err
	}
	if err := mkdirs(o.out); err != nil {
		return err
	}
	warnOthers()
	runtimes := []string{"cri-shim"}
	if o.compare {
		runtimes = append(runtimes, "containerd")
	}
	res := newResults(runtimes, o.params())

	reg, regAddr, err := harness.StartRegistry(ctx, o.out)
	if err != nil {
		return err
	}
	defer func() { _ = reg.Stop() }()
	fmt.Printf("registry serving test images on %s\n", regAddr)

	var targets []*target
	defer func() {
		for i := len(targets) - 1; i >= 0; i-- {
			if cerr := targets[i].cleanup(); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()
	t, err := startCriShim(ctx, o.criShim, o.out, regAddr, o.logLevel)
	if err != nil {
		return err
	}
	targets = append(targets, t)
	if o.compare {
		pause := o.containerdPause
		if pause == "c" {
			if pause, err = pushCPause(ctx, regAddr, o.out); err != nil {
				return err
			}
		}
		t, err := startContainerd(ctx, o.containerdTools, o.out, regAddr, pause)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	for _, t := range targets {
		res.Versions[t.name] = t.version(ctx)
		if err := t.pullIfMissing(ctx, busybox); err != nil {
			return err
		}
		if err := measureIdle(t, res, "memory.daemon.idle", "daemon RSS, idle (started, images pulled)"); err != nil {
			return err
		}
		if err := holdFor(ctx, o.holdIdle, fmt.Sprintf("idle %s (pid %d)", t.name, t.daemon.PID())); err != nil {
			return err
		}
		// The first pod makes the bridge: keep it out of the figures.
		pod, _, _, err := t.startPod(ctx, "warmup")
		if pod != "" {
			err = errors.Join(err, t.removePod(ctx, pod))
		}
		if err != nil {
			return fmt.Errorf("%s: warm-up pod: %w", t.name, err)
		}
	}

	failed := runSuites(ctx, o, res, targets, regAddr)
	for _, t := range targets {
		if err := measureIdle(t, res, "memory.daemon.after", "daemon RSS, idle after the benchmarks"); err != nil {
			res.note("%v", err)
		}
	}
	for i := len(targets) - 1; i >= 0; i-- {
		if cerr := targets[i].cleanup(); cerr != nil {
			res.note("%v", cerr)
			failed = true
		}
	}
	targets = nil
	if o.goBench && !o.skip["go"] && ctx.Err() == nil {
		runGoBenches(ctx, o, res)
	}
	res.finish()
	if err := res.writeReport(o.out); err != nil {
		return err
	}
	if failed {
		return errors.New("some benchmarks failed or left something behind; see the notes")
	}
	return nil
}

// runGoBenches runs the Go benchmarks after the daemons stopped.
func runGoBenches(ctx context.Context, o options, res *Results) {
	benches := []goBench{{pkg: "./pkg/images/", pattern: "^Benchmark(Pull|Extract)$", benchtime: o.goBenchtime, count: o.goCount}}
	if o.integration {
		benches = append(benches, goBench{pkg: "./test/integration/", pattern: "^BenchmarkPodSandbox$", benchtime: "50x", count: 1,
			env: []string{"CRI_SHIM_BIN=" + o.criShim}})
	}
	for i, b := range benches {
		fmt.Printf("go test -bench %s %s\n", b.pattern, b.pkg)
		if err := runGoBench(ctx, res, "cri-shim", b, filepath.Join(o.out, fmt.Sprintf("gobench-%d.log", i))); err != nil {
			res.note("%v", err)
		}
	}
}

func (o options) params() map[string]any {
	return map[string]any{
		"rounds": o.rounds, "critestPods": o.critest.Pods, "critestContainers": o.critest.Containers,
		"critestImages": o.critest.Images, "parallel": o.parallel, "sequential": o.sequential,
		"execs": o.execs, "pulls": o.pulls, "largeLayers": o.largeLayers, "largeLayerMiB": o.largeMiB,
		"criShimLogLevel": o.logLevel, "containerdPause": o.containerdPause, "goBenchtime": o.goBenchtime, "goCount": o.goCount,
	}
}

// warnOthers names other runtimes and conformance runs on this machine:
// their load skews every figure.
func warnOthers() {
	ps, err := listProcs()
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, p := range ps {
		if p.pid == self || len(p.argv) == 0 {
			continue
		}
		base := filepath.Base(p.argv[0])
		helper := len(p.argv) > 1 && (p.argv[1] == "__monitor" || p.argv[1] == "pod-init")
		if (base == "cri-shim" && !helper) || base == "critest" || base == "containerd" || base == "critest.test" {
			fmt.Printf("WARNING: another runtime or test is running, figures may be skewed: %d %s\n", p.pid, strings.Join(p.argv, " "))
		}
	}
}

func numCPU() int { return runtime.NumCPU() }

func trimNL(b []byte) string { return strings.TrimSpace(string(b)) }

// elapsed prints how long a step took.
func elapsed(what string, t0 time.Time) {
	fmt.Printf("  %s: %s\n", what, time.Since(t0).Round(time.Millisecond))
}
