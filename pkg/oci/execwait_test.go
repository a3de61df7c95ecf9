package oci

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartReturnsAfterExec: once Start returns, the init is the user's
// process, not libcontainer's Go code (where a stop signal could be lost).
func TestStartReturnsAfterExec(t *testing.T) {
	ctx := context.Background()
	for i := range 5 {
		c := newContainer(t, "oci-execwait-"+string(rune('a'+i)), []string{"sleep", "1000"}, false)
		c.create(t)
		lc, err := c.rt.load(c.id)
		if err != nil {
			t.Fatal(err)
		}
		st, err := lc.State()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.rt.Start(ctx, c.id); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(st.InitProcessPid) + "/comm")
		if err != nil {
			t.Fatal(err)
		}
		if comm := strings.TrimSpace(string(b)); comm != "sleep" {
			t.Fatalf("container %d: init %d is %q when Start returned, want sleep", i, st.InitProcessPid, comm)
		}
	}
}

// TestWaitExec: the wait lasts while the process is named as libcontainer's
// init, and ends when it is gone or its PID names another process.
func TestWaitExec(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	named := filepath.Join(t.TempDir(), initComm)
	raw, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(named, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(named, "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	var start uint64
	for range 100 { // until the exec has renamed it
		comm, s, err := procStat(pid)
		if err != nil {
			t.Fatal(err)
		}
		if comm == initComm {
			start = s
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if start == 0 {
		t.Fatal("the process never got the init's name")
	}
	if err := waitExec(context.Background(), pid, start+1); err != nil {
		t.Fatalf("another start time: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- waitExec(context.Background(), pid, start) }()
	select {
	case err := <-done:
		t.Fatalf("the wait ended while the init lives: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	_ = cmd.Process.Kill()
	if err := <-done; err != nil {
		t.Fatalf("after the kill: %v", err)
	}
	_ = cmd.Wait()
}
