package sandbox

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPodInitReapsAndStopsOnSIGTERM: an orphan in the pod's PID namespace
// is reaped by the pod's PID 1, which exits on SIGTERM.
func TestPodInitReapsAndStopsOnSIGTERM(t *testing.T) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Skip("nsenter not installed")
	}
	e := newEnv(t, newFakeNetwork())
	cfg := podConfig()
	cfg.Namespaces.PID = NamespacePod
	sb := e.run(cfg)
	init := sb.Resources.PodInit
	// sh starts a sleep and exits: the sleep becomes the PID 1's child.
	out, err := exec.Command(nsenter, "--pid="+sb.PIDNamespacePath(), "--", "/bin/sh", "-c", "sleep 0.3 & echo $!").CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v %s", err, out)
	}
	if strings.TrimSpace(string(out)) == "1" {
		t.Fatalf("orphan got PID 1")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		kids := childrenOf(init.PID)
		if len(kids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod init did not reap its children: %v", kids)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := unix.Kill(init.PID, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); alive(init); {
		if time.Now().After(deadline) {
			t.Fatal("pod init ignores SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := e.m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	e.assertNothingLeft()
}

// childrenOf lists the PIDs (with state) whose parent is pid.
func childrenOf(pid int) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		st, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err == nil && strings.Contains(string(st), "\nPPid:\t"+itoa(pid)+"\n") {
			out = append(out, e.Name())
		}
	}
	return out
}
