package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The static pods. Each container traps SIGTERM so that teardown takes
// about a second, not the grace period.
const (
	podWeb      = "web"      // pod network, a log line a second, a passing exec liveness probe
	podHostNet  = "hostnet"  // host network, a log line a second
	podCrasher  = "crasher"  // exits with 3 after a second: restarted by the kubelet
	podLiveness = "liveness" // healthy for 6 s, then its exec liveness probe fails
	podLimits   = "limits"   // Guaranteed: 64 MiB, 250m CPU
)

var allPods = []string{podWeb, podHostNet, podCrasher, podLiveness, podLimits}

// staticPodName is the name the kubelet gives a static pod: the manifest's
// name with the node name appended.
func staticPodName(manifest string) string { return manifest + "-" + nodeName }

// Memory and CPU of the limits pod, and what they become in cgroup v1.
const (
	limitMemory      = "64Mi"
	limitMemoryBytes = 64 << 20
	limitCPU         = "250m"
	limitCFSQuota    = 25000 // 250m of a 100 ms period
	limitCFSPeriod   = 100000
	limitCPUShares   = 256 // 250 * 1024 / 1000
)

func manifest(name string) string {
	head := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: default
spec:
  terminationGracePeriodSeconds: 5
`, name)
	container := func(cmd string) string {
		return fmt.Sprintf(`  containers:
  - name: %s
    image: %s
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
`, name, busybox, cmd)
	}
	loop := func(what string) string {
		return `trap "exit 0" TERM; i=0; while true; do echo "` + what + ` line $i"; i=$((i+1)); sleep 1; done`
	}
	switch name {
	case podWeb:
		return head + container(loop("web")) + `    livenessProbe:
      exec:
        command: ["true"]
      periodSeconds: 2
`
	case podHostNet:
		return head + "  hostNetwork: true\n" + container(loop("hostnet"))
	case podCrasher:
		return head + "  restartPolicy: Always\n" + container(`echo "crasher started"; sleep 1; exit 3`)
	case podLiveness:
		return head + container(`trap "exit 0" TERM; touch /tmp/healthy; echo healthy; sleep 6; rm /tmp/healthy; echo unhealthy; while true; do sleep 1; done`) +
			`    livenessProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
`
	case podLimits:
		return head + container(`trap "exit 0" TERM; while true; do sleep 1; done`) + fmt.Sprintf(`    resources:
      limits:
        memory: %[1]s
        cpu: %[2]s
      requests:
        memory: %[1]s
        cpu: %[2]s
`, limitMemory, limitCPU)
	}
	panic("unknown pod " + name)
}

// writeManifests puts the static pods' manifests where the kubelet reads
// them (written under a dot name, then renamed: the kubelet ignores dot files).
func (e *env) writeManifests(names ...string) error {
	for _, n := range names {
		tmp := filepath.Join(e.manifests, "."+n+".yaml")
		if err := os.WriteFile(tmp, []byte(manifest(n)), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(e.manifests, n+".yaml")); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) removeManifests(names ...string) error {
	var errs []string
	for _, n := range names {
		if err := os.Remove(filepath.Join(e.manifests, n+".yaml")); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
