package monitor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSpareDaemonGoneAfterJob: a spare whose daemon sent a job and died
// before the spare took it makes nothing (the restarted daemon may be
// rolling that container back already) and ends with its create command.
func TestSpareDaemonGoneAfterJob(t *testing.T) {
	dir := t.TempDir()
	s, err := StartSpare(os.Args[0], []string{"/bin/sleep", "3"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	// Let the spare start its create command, then hold it still.
	var create int
	for deadline := time.Now().Add(5 * time.Second); create == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		raw, _ := os.ReadFile("/proc/" + strconv.Itoa(s.PID()) + "/task/" + strconv.Itoa(s.PID()) + "/children")
		if f := strings.Fields(string(raw)); len(f) == 1 {
			create, _ = strconv.Atoi(f[0])
		}
	}
	if create == 0 {
		t.Fatal("the spare started no create command")
	}
	if err := syscall.Kill(s.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	o := Options{
		LogPath:  filepath.Join(dir, "ctr.log"),
		ExitFile: filepath.Join(dir, "exit.json"),
		Socket:   filepath.Join(dir, "attach.sock"),
	}
	job := strings.Join(append(o.args(), "--", "/bin/sleep", "__create", "x"), "\x00") + "\x00"
	if _, err := s.sock.Write([]byte(job)); err != nil {
		t.Fatal(err)
	}
	s.sock.Close()
	_ = syscall.Kill(s.PID(), syscall.SIGCONT)
	st, err := s.proc.Wait()
	if err != nil || !st.Success() {
		t.Fatalf("spare: %v %v", st, err)
	}
	for _, f := range []string{o.LogPath, o.ExitFile, o.Socket} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s made (%v)", f, err)
		}
	}
	if err := syscall.Kill(create, 0); err == nil {
		t.Errorf("create command %d outlived its spare", create)
	}
}

// TestSpareBadJobReported: a job a spare cannot parse is reported as an
// error, not a silent exit, and its create command ends.
func TestSpareBadJobReported(t *testing.T) {
	s, err := StartSpare(os.Args[0], []string{"/bin/sleep", "30"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.sock.Write([]byte("--log=/nowhere\x00--\x00/bin/true\x00__create\x00x\x00")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = awaitReport(ctx, s.proc, s.sock)
	s.sock.Close()
	if err == nil || !strings.Contains(err.Error(), "--exit-file and --socket are required") {
		t.Fatalf("bad job: %v, want the monitor's parse error", err)
	}
	left := processesOf(t, "/bin/sleep\x0030\x00")
	for deadline := time.Now().Add(5 * time.Second); len(left) > 0 && time.Now().Before(deadline); left = processesOf(t, "/bin/sleep\x0030\x00") {
		time.Sleep(10 * time.Millisecond)
	}
	for _, p := range left {
		t.Errorf("the spare's create command %d outlived it", p)
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// processesOf lists the processes whose command line is cmdline.
func processesOf(t *testing.T, cmdline string) []int {
	t.Helper()
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if raw, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); string(raw) == cmdline {
			if stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); !strings.Contains(string(stat), ") Z ") {
				out = append(out, pid)
			}
		}
	}
	return out
}
