package main

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor joins namespaces for libcontainer's init.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"github.com/cri-shim/cri-shim/pkg/oci"
	// The monitor's C constructor takes over "cri-shim __monitor".
	_ "github.com/cri-shim/cri-shim/pkg/monitor"
)

// The re-exec entry points run before anything else: "init" is
// libcontainer's container init (after nsenter's constructor), "__create"
// starts a container under its monitor. "__monitor" never reaches Go.
func init() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case "init":
		libcontainer.Init()
	case oci.CreateArg:
		os.Exit(oci.CreateMain(os.Args[2:]))
	}
}
