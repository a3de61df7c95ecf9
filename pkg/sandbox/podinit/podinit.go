// Package podinit is the process that holds a pod's PID namespace: PID 1 of
// the namespace, started by the runtime as `cri-shim pod-init <pod-id>`. It
// reaps the zombies the pod's processes leave and exits on SIGTERM or
// SIGINT. It holds nothing else, so it runs unprivileged.
//
// The process is C (podinit.c): a constructor runs it before the Go runtime
// starts, so it costs well under a megabyte. Main is the same loop in Go,
// for a binary built without cgo.
package podinit

/*
#cgo CFLAGS: -Wall -O2
*/
import "C"

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// Command is the hidden subcommand of the cri-shim binary that runs Main.
const Command = "pod-init"

// Main runs the pod's PID 1 until it is told to stop; it returns the exit code.
func Main() int {
	// It never gains a privilege, even through exec.
	_ = unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT)
	for {
		reap()
		if s := <-sigs; s != unix.SIGCHLD {
			return 0
		}
	}
}

// reap collects every child that has exited.
func reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 && err != unix.EINTR {
			return
		}
	}
}
