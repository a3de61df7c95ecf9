// Command cri-shim is the node's container runtime: a CRI v1 server for the
// kubelet and crictl.
//
//	cri-shim [flags]      run the daemon
//	cri-shim config       print the default configuration file
//	cri-shim version      print the version
//	cri-shim images import FILE   import an image archive into the running daemon
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"k8s.io/klog/v2"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/daemon"
	"github.com/cri-shim/cri-shim/pkg/sandbox/podinit"
	"github.com/cri-shim/cri-shim/pkg/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "config":
			if err := config.WriteDefault(stdout); err != nil {
				fmt.Fprintf(stderr, "cri-shim: %v\n", err)
				return 1
			}
			return 0
		case "version":
			fmt.Fprintf(stdout, "%s %s (%s)\n", version.RuntimeName, version.Version, version.GitCommit)
			return 0
		case "images":
			return runImages(args[1:], stdout, stderr)
		case podinit.Command: // hidden: a pod's PID 1, started by the runtime
			return podinit.Main()
		}
	}
	if err := runDaemon(args, stderr); err != nil {
		fmt.Fprintf(stderr, "cri-shim: %v\n", err)
		return 1
	}
	return 0
}

func runDaemon(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("cri-shim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", config.DefaultPath, "configuration file (TOML); a missing file at the default path means built-in defaults")
	var overrides config.Flags
	overrides.Register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unknown command %q (commands: config, version)", fs.Arg(0))
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })

	load := func() (*config.Config, error) {
		var cfg *config.Config
		var err error
		if explicit {
			cfg, err = config.Load(*configPath)
		} else {
			cfg, err = config.LoadOptional(*configPath)
		}
		if err != nil {
			return nil, err
		}
		if err := overrides.Apply(fs, cfg); err != nil {
			return nil, err
		}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	setLevel := initLogging(cfg.LogLevel)
	defer klog.Flush()
	return daemon.New(cfg, load, setLevel).Run(context.Background())
}

// initLogging sends klog to stderr at verbosity level and returns a setter
// for reloads.
func initLogging(level int) func(int) {
	kfs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(kfs)
	_ = kfs.Set("logtostderr", "true")
	set := func(v int) {
		if err := kfs.Set("v", strconv.Itoa(v)); err != nil {
			klog.Errorf("set log level %d: %v", v, err)
		}
	}
	set(level)
	return set
}
