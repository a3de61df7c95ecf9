// Command kubelet is cri-shim's end-to-end test under a real kubelet.
//
// It builds the test images and serves them from a registry on 127.0.0.1,
// starts a private cri-shim (own socket, root, state, bridge and subnet,
// registry mirrors to that registry) and a standalone kubelet (no API
// server; static pods from a manifest dir; its own root, pod log dir and
// cgroup root; in a mount namespace of its own, see hack/kubelet-in-ns.sh),
// then checks what a node needs of its runtime: pods on the pod network and
// on the host network run, log where the kubelet says, are restarted when
// they exit or fail an exec liveness probe, get their limits in their
// cgroups, survive a kill -9 and restart of cri-shim untouched, and go away
// with their manifests leaving nothing behind.
//
// Every check prints PASS or FAIL with its reason; the last line is
// "N passed, N failed", and the exit status is 1 when something failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// lockName serializes runs on one host.
const lockName = "@cri-shim-e2e-kubelet"

type options struct {
	criShim, kubelet, kubeletNS, crictl, out string
	kubeletV                                 int
}

// suite counts and prints the checks.
type suite struct {
	ctx            context.Context
	passed, failed int
	skipped        int
}

// check runs one check and prints its verdict; once the run is
// interrupted, checks are skipped.
func (s *suite) check(name string, fn func() error) bool {
	if s.ctx.Err() != nil {
		s.skipped++
		return false
	}
	return s.always(name, fn)
}

// always runs one check even in an interrupted run (stopping and cleaning up).
func (s *suite) always(name string, fn func() error) bool {
	start := time.Now()
	err := fn()
	took := time.Since(start).Round(100 * time.Millisecond)
	if err != nil {
		s.failed++
		fmt.Printf("FAIL %s (%s)\n     %v\n", name, took, err)
		return false
	}
	s.passed++
	fmt.Printf("PASS %s (%s)\n", name, took)
	return true
}

func main() {
	var o options
	flag.StringVar(&o.criShim, "cri-shim", "bin/cri-shim", "cri-shim binary")
	flag.StringVar(&o.kubelet, "kubelet", "/opt/cri-shim-tools/kubelet-v1.37.2/kubelet", "kubelet binary (hack/build-kubelet.sh builds it)")
	flag.StringVar(&o.kubeletNS, "kubelet-ns", "hack/kubelet-in-ns.sh", "the script that runs the kubelet in its own mount namespace")
	flag.StringVar(&o.crictl, "crictl", "crictl", "crictl binary")
	flag.StringVar(&o.out, "out", "_output/e2e-kubelet", "directory for the logs of cri-shim, the kubelet and the registry")
	flag.IntVar(&o.kubeletV, "kubelet-v", 3, "kubelet log verbosity")
	flag.Parse()
	for _, p := range []*string{&o.criShim, &o.kubelet, &o.kubeletNS, &o.out} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		*p = abs
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()

	// One run at a time on a host: runs share the bridge and subnet names.
	// The lock is an abstract unix socket: no file, gone with the process.
	lock, err := net.Listen("unix", lockName)
	for waited := false; err != nil && ctx.Err() == nil; lock, err = net.Listen("unix", lockName) {
		if !waited {
			fmt.Printf("waiting for another run to finish (%v)\n", err)
			waited = true
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lock %s: %v\n", lockName, err)
		os.Exit(2)
	}
	defer lock.Close()

	start := time.Now()
	s := &suite{ctx: ctx}
	run(ctx, o, s)
	if ctx.Err() != nil {
		s.failed++
		fmt.Printf("FAIL interrupted: %d checks not run\n", s.skipped)
	}
	fmt.Printf("logs: %s (cri-shim.log, kubelet.log, registry.log); took %s\n", o.out, time.Since(start).Round(time.Second))
	fmt.Printf("%d passed, %d failed\n", s.passed, s.failed)
	if s.failed > 0 {
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, s *suite) {
	e := &env{o: o}
	for _, bin := range []string{o.criShim, o.kubelet, o.kubeletNS, o.crictl} {
		if _, err := exec.LookPath(bin); err != nil {
			s.check("setup", func() error {
				return fmt.Errorf("%v (make deps installs crictl; hack/build-kubelet.sh builds the kubelet)", err)
			})
			return
		}
	}
	setupErr := e.setup(ctx)
	s.check("setup: test registry, private cri-shim, standalone kubelet v1.37.2 in its own mount namespace", func() error { return setupErr })
	if setupErr == nil {
		e.tests(ctx, s)
		e.stopAll(s)
		leaks := e.leaks()
		s.always("nothing left behind: mounts, processes, links, addresses, iptables, CNI cache, cgroups, host sysctls and dirs", func() error {
			return listErr(leaks)
		})
	}
	left := e.teardown()
	s.always("cleanup: the test's own bridge, cgroup roots and dirs removed", func() error { return listErr(left) })
}
