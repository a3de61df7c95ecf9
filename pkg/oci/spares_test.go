package oci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cri-shim/cri-shim/pkg/monitor"
)

// children lists the PIDs of pid's children.
func children(t *testing.T, pid int) []int {
	t.Helper()
	var out []int
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, f := range tasks {
		raw, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(raw)) {
			n, _ := strconv.Atoi(s)
			out = append(out, n)
		}
	}
	return out
}

// spareCreate waits for spare monitor pid's create command and returns its PID.
func spareCreate(t *testing.T, pid int) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if kids := children(t, pid); len(kids) == 1 && strings.Contains(cmdline(kids[0]), "__create --spare") {
			return kids[0]
		}
	}
	t.Fatalf("spare %d: children %v, want its create command", pid, children(t, pid))
	return 0
}

// niceOf is the niceness of process pid's main thread.
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	n, err := strconv.Atoi(f[16]) // field 19 of stat; f starts at field 3
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func cmdline(pid int) string {
	raw, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimRight(strings.ReplaceAll(string(raw), "\x00", " "), " ")
}

// spareCount is how many idle spares rt holds.
func spareCount(rt *Runtime) int {
	rt.spares.mu.Lock()
	defer rt.spares.mu.Unlock()
	return len(rt.spares.idle)
}

func waitSpare(t *testing.T, rt *Runtime) *monitor.Spare {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		rt.spares.mu.Lock()
		if len(rt.spares.idle) > 0 {
			s := rt.spares.idle[0]
			rt.spares.mu.Unlock()
			return s
		}
		rt.spares.mu.Unlock()
	}
	t.Fatal("no spare monitor started")
	return nil
}

// TestSpareMonitors: after a create, a spare monitor waits with its create
// command started; the next create takes it and gets a container like any
// other (parked init, logs, exit code, the monitor's full command line,
// the init the monitor's child), a terminal too; Close lets the spare go.
func TestSpareMonitors(t *testing.T) {
	first := newContainer(t, "oci-spare-1", []string{"sh", "-c", "echo one"}, false)
	rt := first.rt
	rt.Spares = 1
	t.Cleanup(rt.Close)
	first.create(t)

	for i, tty := range []bool{false, true} {
		s := waitSpare(t, rt)
		if n := niceOf(t, spareCreate(t, s.PID())); n != niceOf(t, os.Getpid())+10 {
			t.Errorf("waiting spare create command: nice %d, want %d", n, niceOf(t, os.Getpid())+10)
		}
		id := "oci-spare-" + strconv.Itoa(i+2)
		c := newContainer(t, id, []string{"sh", "-c", "echo from spare; exit 5"}, tty)
		c.rt = rt
		c.opts.ID = id
		c.create(t)
		if c.monitor.PID != s.PID() {
			t.Fatalf("create %s used monitor %d, not the spare %d", id, c.monitor.PID, s.PID())
		}
		cl := cmdline(c.monitor.PID)
		if !strings.Contains(cl, "__monitor --exit-file="+c.opts.Monitor.ExitFile) || !strings.Contains(cl, "__create "+rt.StateRoot+" "+id+" ") {
			t.Fatalf("monitor command line %q", cl)
		}
		if kids := children(t, c.monitor.PID); len(kids) != 1 || kids[0] != c.monitor.InitPID {
			t.Fatalf("monitor's children %v, want the init %d", kids, c.monitor.InitPID)
		}
		// The spare waited niced; its monitor and container do not.
		if n, want := niceOf(t, c.monitor.PID), niceOf(t, os.Getpid()); n != want {
			t.Errorf("monitor: nice %d, want %d", n, want)
		}
		if n, want := niceOf(t, c.monitor.InitPID), niceOf(t, os.Getpid()); n != want {
			t.Errorf("container init: nice %d, want %d", n, want)
		}
		if b, _ := os.ReadFile(c.opts.Monitor.LogPath); len(b) != 0 {
			t.Fatalf("output before start: %q", b)
		}
		if err := rt.Start(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if e := c.waitExit(t); e.ExitCode != 5 {
			t.Fatalf("exit %+v", e)
		}
		if log, _ := os.ReadFile(c.opts.Monitor.LogPath); !strings.Contains(string(log), "from spare") {
			t.Fatalf("log: %q", log)
		}
	}
	s := waitSpare(t, rt)
	create := []int{spareCreate(t, s.PID())}
	rt.Close()
	if n := spareCount(rt); n != 0 {
		t.Fatalf("%d spares after Close", n)
	}
	for _, pid := range append(create, s.PID()) {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d (%s) outlived Close", pid, cmdline(pid))
		}
	}
}

// TestSpareGone: a spare whose create command died makes nothing and says
// so (the runtime then starts a monitor itself).
func TestSpareGone(t *testing.T) {
	dir := t.TempDir()
	s, err := monitor.StartSpare(os.Args[0], []string{os.Args[0], CreateArg, spareFlag}, "test")
	if err != nil {
		t.Fatal(err)
	}
	create := spareCreate(t, s.PID())
	_ = syscall.Kill(create, syscall.SIGKILL)
	// Dead (a zombie until its monitor reaps it), its job socket closed:
	// the Go process's main thread shows Z as soon as it exits, but the
	// fds close with the last of its threads, so wait for those too.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		raw, _ := os.ReadFile("/proc/" + strconv.Itoa(create) + "/stat")
		tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(create) + "/task")
		if len(raw) == 0 || strings.Contains(string(raw), ") Z ") && len(tasks) <= 1 {
			break
		}
	}
	startOnSpare(t, s, dir, "gone", filepath.Join(dir, "ctr.log"))
	if err := syscall.Kill(s.PID(), 0); err == nil {
		t.Errorf("spare monitor %d still running", s.PID())
	}
}

// TestSpareCommandLineTooLong: options that do not fit in a spare's
// command line are refused with ErrSpareGone, before anything is made.
func TestSpareCommandLineTooLong(t *testing.T) {
	dir := t.TempDir()
	s, err := monitor.StartSpare(os.Args[0], []string{os.Args[0], CreateArg, spareFlag}, "test")
	if err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, strings.Repeat("d", 200))
	for i := 0; i < 45; i++ {
		long = filepath.Join(long, strings.Repeat("d", 200))
	}
	startOnSpare(t, s, dir, "long", filepath.Join(long, "ctr.log"))
}

// startOnSpare gives spare s a container that it must refuse with
// ErrSpareGone, having made nothing (no attach socket).
func startOnSpare(t *testing.T, s *monitor.Spare, dir, id, logPath string) {
	t.Helper()
	o := monitor.Options{
		ExitFile: filepath.Join(dir, "exit.json"),
		Socket:   filepath.Join(dir, "attach.sock"),
		LogPath:  logPath,
		Create:   []string{os.Args[0], CreateArg, filepath.Join(dir, "state"), id, dir},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Start(ctx, o); !errors.Is(err, monitor.ErrSpareGone) {
		t.Fatalf("start %s: %v, want ErrSpareGone", id, err)
	}
	if _, err := os.Stat(o.Socket); !os.IsNotExist(err) {
		t.Errorf("socket left: %v", err)
	}
}
