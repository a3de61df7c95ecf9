package monitor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shellCreate is a create command that runs script in the background with the
// container's stdio and reports its PID, as a real create command would.
func shellCreate(script string) []string {
	return []string{"/bin/sh", "-c", `C=$$ /bin/sh -c '` + afterCreate + script + `' <&3 >&4 2>&5 3<&- 4>&- 5>&- 6>&- 7>&- & echo $! >&7`}
}

// afterCreate makes a test's "init" wait until the create shell that
// started it (PID $C) has exited: a real init is parked until its create
// command is gone, and an init that ended first could be reaped by the
// shell, its status lost to the monitor (which then records 255, as
// TestInitReapedByCreate wants of a create command that does so).
const afterCreate = `while read -r _ _ s _ </proc/$C/stat && [ "$s" != Z ]; do sleep 0.001; done 2>/dev/null; `

type fixture struct {
	dir string
	o   Options
}

func newFixture(t *testing.T, script string) *fixture {
	t.Helper()
	dir := t.TempDir()
	return &fixture{dir: dir, o: Options{
		Binary:   os.Args[0],
		LogPath:  filepath.Join(dir, "ctr.log"),
		ExitFile: filepath.Join(dir, "exit.json"),
		Socket:   filepath.Join(dir, "attach.sock"),
		DebugLog: filepath.Join(dir, "monitor.log"),
		Create:   shellCreate(script),
	}}
}

func (f *fixture) start(t *testing.T) *Monitor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := Start(ctx, f.o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := ReadExit(f.o.ExitFile); err != nil {
			// Still running: end the init this test started.
			_ = syscall.Kill(m.InitPID, syscall.SIGKILL)
		}
		_ = m.Wait()
	})
	return m
}

func (f *fixture) waitExit(t *testing.T, m *Monitor) *Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := WaitPID(ctx, m.PID); err != nil {
		debug, _ := os.ReadFile(f.o.DebugLog)
		t.Fatalf("monitor did not exit: %v\n%s", err, debug)
	}
	e, err := ReadExit(f.o.ExitFile)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var record = regexp.MustCompile(`^(\S+) (stdout|stderr) ([PF]) (.*)$`)

// readLog parses the CRI log file into lines per stream, joining partial records.
func readLog(t *testing.T, path string) (map[string][]string, int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	partial := map[string]string{}
	partials := 0
	for _, l := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		m := record.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("bad log record %q", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Fatalf("bad timestamp in %q: %v", l, err)
		}
		if m[3] == "P" {
			partials++
			partial[m[2]] += m[4]
			continue
		}
		out[m[2]] = append(out[m[2]], partial[m[2]]+m[4])
		partial[m[2]] = ""
	}
	return out, partials
}

func TestLogsAndExitCode(t *testing.T) {
	f := newFixture(t, `echo hello; echo oops >&2; echo; printf partial; exit 3`)
	m := f.start(t)
	if m.InitPID <= 0 || m.PID <= 0 {
		t.Fatalf("pids %+v", m)
	}
	e := f.waitExit(t, m)
	if e.ExitCode != 3 || e.Signal != 0 || e.FinishedAt == 0 || e.OOMKilled {
		t.Fatalf("exit %+v", e)
	}
	logs, _ := readLog(t, f.o.LogPath)
	if got := logs["stdout"]; len(got) != 3 || got[0] != "hello" || got[1] != "" || got[2] != "partial" {
		t.Errorf("stdout %q", got)
	}
	if got := logs["stderr"]; len(got) != 1 || got[0] != "oops" {
		t.Errorf("stderr %q", got)
	}
	if _, err := os.Stat(f.o.Socket); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestLongLinesSplit(t *testing.T) {
	f := newFixture(t, `head -c 40000 /dev/zero | tr "\0" x; echo; echo short`)
	f.o.MaxLine = 16384
	e := f.waitExit(t, f.start(t))
	if e.ExitCode != 0 {
		t.Fatalf("exit %+v", e)
	}
	logs, partials := readLog(t, f.o.LogPath)
	if partials != 2 {
		t.Errorf("%d partial records, want 2", partials)
	}
	if got := logs["stdout"]; len(got) != 2 || got[0] != strings.Repeat("x", 40000) || got[1] != "short" {
		t.Errorf("stdout lines: %d, lens %v", len(got), lens(got))
	}
}

func lens(s []string) []int {
	var out []int
	for _, x := range s {
		out = append(out, len(x))
	}
	return out
}

func TestAttachStdin(t *testing.T) {
	f := newFixture(t, `cat`)
	f.o.Stdin = true
	m := f.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, f.o.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stdin := c.Stdin()
	if _, err := stdin.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code, err := c.Copy(&out, nil)
	if err != nil || code != 0 || out.String() != "ping\n" {
		t.Fatalf("attach: code %d err %v out %q", code, err, out.String())
	}
	if e := f.waitExit(t, m); e.ExitCode != 0 {
		t.Fatalf("exit %+v", e)
	}
	logs, _ := readLog(t, f.o.LogPath)
	if got := logs["stdout"]; len(got) != 1 || got[0] != "ping" {
		t.Errorf("log %q", got)
	}
}

func TestReopenLog(t *testing.T) {
	f := newFixture(t, `i=0; while [ $i -lt 150 ]; do echo line$i; i=$((i+1)); sleep 0.01; done`)
	m := f.start(t)
	time.Sleep(200 * time.Millisecond)
	rotated := f.o.LogPath + ".1"
	if err := os.Rename(f.o.LogPath, rotated); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ReopenLog(ctx, f.o.Socket); err != nil {
		t.Fatal(err)
	}
	f.waitExit(t, m)
	before, _ := readLog(t, rotated)
	after, _ := readLog(t, f.o.LogPath)
	all := append(before["stdout"], after["stdout"]...)
	if len(before["stdout"]) == 0 || len(after["stdout"]) == 0 || len(all) != 150 {
		t.Fatalf("lines before %d, after %d", len(before["stdout"]), len(after["stdout"]))
	}
	for i, l := range all {
		if l != "line"+strconv.Itoa(i) {
			t.Fatalf("line %d is %q: a line was lost or reordered across the reopen", i, l)
		}
	}
}

func TestKilledBySignal(t *testing.T) {
	f := newFixture(t, `exec sleep 100`)
	m := f.start(t)
	if err := syscall.Kill(m.InitPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e := f.waitExit(t, m)
	if e.ExitCode != 137 || e.Signal != 9 {
		t.Fatalf("exit %+v", e)
	}
}

func TestCreateFailure(t *testing.T) {
	f := newFixture(t, "")
	f.o.Create = []string{"/bin/sh", "-c", "echo no such image layer >&2; exit 1"}
	_, err := Start(context.Background(), f.o)
	if err == nil || !strings.Contains(err.Error(), "no such image layer") {
		t.Fatalf("create failure: %v", err)
	}
	if _, err := os.Stat(f.o.Socket); !os.IsNotExist(err) {
		t.Errorf("socket left after a failed create: %v", err)
	}
	if _, err := ReadExit(f.o.ExitFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("exit file after a failed create: %v", err)
	}
}

func TestMonitorMemory(t *testing.T) {
	f := newFixture(t, `exec sleep 100`)
	m := f.start(t)
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(m.PID) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			t.Logf("monitor %s", l)
		}
	}
	_ = syscall.Kill(m.InitPID, syscall.SIGKILL)
	f.waitExit(t, m)
}

// TestInitReapedByCreate: a create command that waits for the init it
// started reaps it, so the monitor never sees it exit; the monitor must
// still end (status 255), not wait for ever.
func TestInitReapedByCreate(t *testing.T) {
	f := newFixture(t, "")
	f.o.Create = []string{"/bin/sh", "-c", `/bin/sh -c 'echo bye' <&3 >&4 2>&5 3<&- 4>&- 5>&- 6>&- 7>&- & echo $! >&7; wait`}
	e := f.waitExit(t, f.start(t))
	if e.ExitCode != 255 {
		t.Errorf("exit %+v, want code 255 (status lost)", e)
	}
}
