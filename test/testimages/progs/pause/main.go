// Command pause is a look-alike of the Kubernetes pause container program
// (registry.k8s.io/pause). It sleeps until SIGINT or SIGTERM and then exits 0;
// it reaps zombie children when it runs as PID 1 of a shared PID namespace.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const version = "3.9"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Printf("pause.c %s (cri-shim test look-alike)\n", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)

	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", s)
		os.Exit(0)
	}
}
