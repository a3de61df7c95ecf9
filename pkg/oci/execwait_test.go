package oci

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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
		st2, err := procStat(st.InitProcessPid)
		if err != nil {
			t.Fatal(err)
		}
		if st2.Comm != "sleep" && st2.NumThreads != 1 {
			t.Fatalf("container %d: init %d is %q with %d threads when Start returned, want sleep or the init alone in its exec", i, st.InitProcessPid, st2.Comm, st2.NumThreads)
		}
	}
}

// TestWaitExec: the wait lasts while the process is named as libcontainer's
// init and has more than one thread, and ends when it is gone or its PID
// names another process. The process is this test binary, multi-threaded as
// Go programs are, copied under the init's name.
func TestWaitExec(t *testing.T) {
	named := filepath.Join(t.TempDir(), initComm)
	raw, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(named, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(named, "-test.run=^TestHelperSleep$")
	cmd.Env = append(os.Environ(), "CRI_SHIM_TEST_SLEEP=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	pid := cmd.Process.Pid
	var start uint64
	for range 200 { // until the exec has renamed it and Go started its threads
		st, err := procStat(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st.Comm == initComm && st.NumThreads > 1 {
			start = st.Starttime
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if start == 0 {
		t.Fatal("the process never got the init's name and threads")
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
}

// TestHelperSleep is TestWaitExec's process.
func TestHelperSleep(t *testing.T) {
	if os.Getenv("CRI_SHIM_TEST_SLEEP") != "1" {
		t.Skip("a helper process of TestWaitExec")
	}
	time.Sleep(100 * time.Second)
}
