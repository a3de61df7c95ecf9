// Command critest runs the CRI conformance suite (critest from cri-tools)
// against a private cri-shim: it builds the test images, serves them from a
// registry on 127.0.0.1, starts cri-shim with registry mirrors that send
// registry.k8s.io, k8s.gcr.io, gcr.io and public.ecr.aws there, runs critest,
// stops everything it started, and judges the results against the list of
// expected failures. It ends with the line "N passed, N failed, N skipped".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/test/harness"
)

// The harness's pod network.
const (
	harnessBridge = "crishimct0"
	harnessSubnet = "10.216.0.0/16"
)

type options struct {
	criShim, critest, ginkgo string
	out, expectedPath        string
	focus, skip              string
	parallel                 int
	timeout                  time.Duration
	updateExpected           bool
	extraArgs                string
}

func main() {
	var o options
	flag.StringVar(&o.criShim, "cri-shim", "bin/cri-shim", "cri-shim binary")
	flag.StringVar(&o.critest, "critest", "critest", "critest binary")
	flag.StringVar(&o.ginkgo, "ginkgo", "ginkgo", "ginkgo CLI, used when -parallel > 1")
	flag.StringVar(&o.out, "out", "_output/critest", "directory for logs and the report")
	flag.StringVar(&o.expectedPath, "expected", "test/critest/expected-failures", "specs allowed to fail, with reasons")
	flag.StringVar(&o.focus, "focus", "", "only specs matching this regexp")
	flag.StringVar(&o.skip, "skip", "", "skip specs matching this regexp")
	flag.IntVar(&o.parallel, "parallel", 1, "critest parallel processes (needs the ginkgo CLI when > 1)")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "bound on the whole critest run")
	flag.BoolVar(&o.updateExpected, "update-expected", false, "rewrite the expected-failures file from this run (keeps known reasons)")
	flag.StringVar(&o.extraArgs, "critest-args", "", "extra critest arguments, space separated")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "critest harness: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (err error) {
	exp, err := readExpected(o.expectedPath)
	if err != nil {
		return err
	}
	if o.out, err = filepath.Abs(o.out); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}

	reg, regAddr, err := harness.StartRegistry(ctx, o.out)
	if err != nil {
		return err
	}
	defer func() { _ = reg.Stop() }()
	fmt.Printf("registry serving test images on %s\n", regAddr)

	state, err := os.MkdirTemp("/run", "cri-shim-critest-")
	if err != nil {
		return err
	}
	// Containers in a user namespace reach their rootfs under the state
	// dir as an unprivileged host user: like /run/cri-shim, pass-through.
	if err := os.Chmod(state, 0o711); err != nil {
		return err
	}
	root := filepath.Join(o.out, "root")
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("old root %s: %w", root, err)
	}
	sock := filepath.Join(state, "cri-shim.sock")
	cfgPath := filepath.Join(o.out, "config.toml")
	cfg := harness.Config{Socket: sock, Root: root, State: filepath.Join(state, "state"), LogLevel: 4, RegistryAddr: regAddr,
		// A bridge and subnet of its own: a daemon on the default bridge (make
		// run) shares host-local's address dir and would collect these addresses.
		Extra: fmt.Sprintf("[cni]\nbridge_name = %q\nsubnet = %q", harnessBridge, harnessSubnet),
		// NRI on a socket of its own, for critest's NRI specs (--nri-socket).
		// Their synchronization specs hold a plugin's Synchronize open for
		// 2 s on purpose: a request timeout of 2 s (containerd's default)
		// would drop the plugin at that moment.
		NRI: fmt.Sprintf("socket_path = %q\nplugin_path = %q\nplugin_config_path = %q\nplugin_request_timeout = \"10s\"",
			nriSocket(state), filepath.Join(state, "nri-plugins"), filepath.Join(state, "nri-conf.d"))}
	if err := harness.WriteConfig(cfgPath, cfg); err != nil {
		return err
	}
	daemon, err := harness.StartProcess(filepath.Join(o.out, "cri-shim.log"), o.criShim, "--config", cfgPath)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := daemon.Stop(); stopErr != nil {
			fmt.Printf("cri-shim did not stop cleanly: %v\n", stopErr)
		}
		// The runtime leaves the bridge up between pods, as containerd does;
		// the harness made it, so the harness removes it and its address dir.
		if link, lerr := netlink.LinkByName(harnessBridge); lerr == nil {
			if derr := netlink.LinkDel(link); derr != nil {
				fmt.Printf("LEAK: cannot remove bridge %s: %v\n", harnessBridge, derr)
			}
		}
		_ = os.Remove("/var/lib/cni/networks/cri-shim-" + harnessBridge + "/lock")
		_ = os.Remove("/var/lib/cni/networks/cri-shim-" + harnessBridge + "/last_reserved_ip.0")
		if rmErr := os.Remove("/var/lib/cni/networks/cri-shim-" + harnessBridge); rmErr != nil && !os.IsNotExist(rmErr) {
			fmt.Printf("LEAK: addresses still reserved: %v\n", rmErr)
		}
		for _, dir := range []string{state, root} {
			if rmErr := os.RemoveAll(dir); rmErr != nil {
				fmt.Printf("LEAK: cannot remove %s: %v\n", dir, rmErr)
				if err == nil {
					err = rmErr
				}
			}
		}
	}()
	conn, err := harness.WaitReady(ctx, sock, daemon, 30*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()

	report := filepath.Join(o.out, "report.json")
	_ = os.Remove(report)
	critestLog := filepath.Join(o.out, "critest.log")
	fmt.Printf("running critest (log: %s)\n", critestLog)
	start := time.Now()
	runErr := runCritest(ctx, o, "unix://"+sock, nriSocket(state), report, critestLog)
	fmt.Printf("critest finished in %s\n", time.Since(start).Round(time.Second))

	leftovers := harness.CleanLeftovers(ctx, runtimeapi.NewRuntimeServiceClient(conn))
	if leftovers != nil {
		leftovers = fmt.Errorf("critest left objects behind: %w", leftovers)
	}

	specs, err := readReport(report)
	if err != nil {
		return fmt.Errorf("critest left no readable report (%v): %w", runErr, err)
	}
	v := judge(specs, exp)
	v.print(os.Stdout)
	if o.updateExpected {
		if err := updateExpected(o.expectedPath, specs, exp); err != nil {
			return err
		}
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", v.passed, v.failed, v.skipped)
	switch {
	case !v.ok():
		return fmt.Errorf("%d unexpected failures, %d listed specs now pass", len(v.unexpectedFailures), len(v.unexpectedPasses))
	case leftovers != nil:
		return leftovers
	}
	return nil
}

// nriSocket is the NRI socket of the daemon whose state is under state.
func nriSocket(state string) string { return filepath.Join(state, "nri.sock") }

func runCritest(ctx context.Context, o options, endpoint, nriSock, report, logPath string) error {
	args := []string{
		"--runtime-endpoint", endpoint, "--image-endpoint", endpoint, "--nri-socket", nriSock,
		"--ginkgo.json-report", report, "--ginkgo.no-color", "--ginkgo.timeout", o.timeout.String(),
	}
	if o.focus != "" {
		args = append(args, "--ginkgo.focus", o.focus)
	}
	if o.skip != "" {
		args = append(args, "--ginkgo.skip", o.skip)
	}
	if o.parallel > 1 {
		args = append(args, "--parallel", fmt.Sprint(o.parallel))
	}
	args = append(args, strings.Fields(o.extraArgs)...)
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(ctx, o.timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.critest, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// critest looks for the ginkgo CLI in PATH for parallel runs.
	if p, err := exec.LookPath(o.ginkgo); err == nil {
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(p)+":"+os.Getenv("PATH"))
	}
	return cmd.Run()
}

func updateExpected(path string, specs []spec, old expected) error {
	next := expected{}
	for _, s := range specs {
		if s.failed() {
			reason, ok := old[s.name()]
			if !ok {
				reason = "unclassified: fails since the last update"
			}
			next[s.name()] = reason
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return next.write(f, expectedHeader)
}

const expectedHeader = `# critest specs allowed to fail, each under the reason it fails for.
# The harness (make critest) fails on a failure not listed here and on a listed
# spec that passes, so this list only shrinks. Format: a line "reason: ..."
# followed by full spec names, one a line.
`
