package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cri-shim/cri-shim/test/harness"
)

// The cri-shim benchmark network and cgroup: names no other harness uses.
const (
	crishimBridge  = "crishimb0"
	crishimSubnet  = "10.220.0.0/22"
	crishimCgroup  = "/crishim-bench"
	crishimNetwork = "cri-shim-" + crishimBridge // the built-in network's name
)

// startCriShim starts a private cri-shim (binary bin) under out, its state
// in a fresh directory of /run, with the test registry as mirror of the
// public registries and the built-in bridge network on a bridge of its own.
func startCriShim(ctx context.Context, bin, out, regAddr string, logLevel int) (*target, error) {
	out = filepath.Join(out, "cri-shim")
	installed, err := installCopies(filepath.Dir(bin), filepath.Join(out, "bin"), filepath.Base(bin))
	if err != nil {
		return nil, err
	}
	bin = filepath.Join(installed, filepath.Base(bin))
	base, err := os.MkdirTemp("/run", "crishim-bench-")
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	root := filepath.Join(out, "root")
	confDir := filepath.Join(out, "net.d") // empty: the built-in network
	t := &target{name: "cri-shim", sock: filepath.Join(base, "cri-shim.sock"), root: root, logDir: filepath.Join(out, "pod-logs")}
	state := filepath.Join(base, "state")
	t.cleanup = func() error {
		h := &hostState{}
		h.fail(t.stopDaemon(context.Background()))
		h.killStray("cri-shim helper", func(p proc) bool {
			return argvHas(p.argv, "--exit-file="+state+"/") || argvHas(p.argv, "--socket="+state+"/") || argvHas(p.argv, "--spare-of="+state+"/")
		})
		h.unmountUnder(base, root)
		h.removeDirs(base, root, confDir, t.logDir, installed)
		h.deleteBridge(crishimBridge)
		h.releaseHostLocal("/var/lib/cni/networks/" + crishimNetwork)
		h.removeCNICache(crishimNetwork)
		h.removeCgroup(crishimCgroup)
		return report(t.name, h)
	}
	if err := os.RemoveAll(root); err != nil {
		return nil, fmt.Errorf("old root %s: %w", root, err)
	}
	if err := mkdirs(out, confDir, t.logDir); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(out, "config.toml")
	cfg := harness.Config{
		Socket: t.sock, Root: root, State: state, LogLevel: logLevel, RegistryAddr: regAddr,
		Extra: fmt.Sprintf("cgroup_parent = %q\n\n[cni]\nconf_dir = %q\nbridge_name = %q\nsubnet = %q\n",
			crishimCgroup, confDir, crishimBridge, crishimSubnet),
	}
	if err := harness.WriteConfig(cfgPath, cfg); err != nil {
		return nil, err
	}
	t.daemon, err = harness.StartProcess(filepath.Join(out, "cri-shim.log"), bin, "--config", cfgPath)
	if err != nil {
		_ = t.cleanup()
		return nil, err
	}
	if err := t.connect(ctx, 30*time.Second); err != nil {
		_ = t.cleanup()
		return nil, err
	}
	daemonPID := t.daemon.PID()
	t.helpers = func(ps []proc) (perContainer, perPod []int) {
		for _, p := range ps {
			switch {
			case len(p.argv) > 1 && p.argv[1] == "__monitor" && argvHas(p.argv, "--exit-file="+state+"/"):
				perContainer = append(perContainer, p.pid)
			case p.ppid == daemonPID && len(p.argv) > 1 && p.argv[1] == "pod-init":
				perPod = append(perPod, p.pid)
			}
		}
		return perContainer, perPod
	}
	t.spares = func(ps []proc) []int {
		var spares []int
		for _, p := range ps {
			if len(p.argv) > 1 && p.argv[1] == "__monitor" && argvHas(p.argv, "--spare-of="+state+"/") && !argvHas(p.argv, "--exit-file=") {
				spares = append(spares, p.pid)
			}
		}
		for _, p := range ps {
			if slices.Contains(spares, p.ppid) && len(p.argv) > 1 && p.argv[1] == "__create" {
				spares = append(spares, p.pid)
			}
		}
		return spares
	}
	return t, nil
}

// report prints what cleaning up after a runtime found and returns its
// failures.
func report(name string, h *hostState) error {
	for _, l := range h.leaks {
		fmt.Printf("LEAK (%s): %s\n", name, l)
	}
	if err := h.err(); err != nil {
		return fmt.Errorf("clean up after %s: %w", name, err)
	}
	return nil
}
