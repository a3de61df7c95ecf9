package oci

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	"github.com/opencontainers/runc/libcontainer/specconv"

	"github.com/cri-shim/cri-shim/internal/testrootfs"
	"github.com/cri-shim/cri-shim/pkg/monitor"
)

// The test binary stands in for cri-shim: it is re-executed as the
// container's init and as the create command.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
	if len(os.Args) > 1 && os.Args[1] == CreateArg {
		os.Exit(CreateMain(os.Args[2:]))
	}
}

const testCgroupParent = "/cri-shim-test-oci"

func TestMain(m *testing.M) {
	code := m.Run()
	// libcontainer removes each container's cgroup, never the parents.
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + testCgroupParent)
	more, _ := filepath.Glob("/sys/fs/cgroup/unified" + testCgroupParent)
	for _, d := range append(dirs, more...) {
		_ = os.Remove(d)
	}
	os.Exit(code)
}

// busyboxRootfs makes a root filesystem with the host's busybox and its libraries.
func busyboxRootfs(t testing.TB, dir string) {
	t.Helper()
	if err := testrootfs.Busybox(dir); err != nil {
		t.Skipf("no busybox rootfs: %v", err)
	}
}

type testContainer struct {
	id      string
	rt      *Runtime
	opts    CreateOptions
	monitor *monitor.Monitor
}

func newContainer(t testing.TB, id string, args []string, tty bool) *testContainer {
	t.Helper()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	busyboxRootfs(t, filepath.Join(bundle, "rootfs"))
	spec := specconv.Example()
	spec.Root.Path = "rootfs"
	spec.Root.Readonly = false
	spec.Process.Args = args
	spec.Process.Terminal = tty
	spec.Hostname = "oci-test"
	spec.Linux.CgroupsPath = testCgroupParent + "/" + id
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &testContainer{
		id: id,
		rt: &Runtime{StateRoot: filepath.Join(dir, "state"), Binary: os.Args[0]},
		opts: CreateOptions{ID: id, Bundle: bundle, Monitor: monitor.Options{
			LogPath:  filepath.Join(dir, "ctr.log"),
			ExitFile: filepath.Join(dir, "exit.json"),
			Socket:   filepath.Join(dir, "attach.sock"),
			DebugLog: filepath.Join(dir, "monitor.log"),
			TTY:      tty,
		}},
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.rt.Destroy(ctx, id); err != nil {
			t.Errorf("destroy: %v", err)
		}
		if c.monitor != nil {
			_ = c.monitor.Wait()
		}
	})
	return c
}

func (c *testContainer) create(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := c.rt.Create(ctx, c.opts)
	if err != nil {
		t.Fatal(err)
	}
	c.monitor = m
}

func (c *testContainer) waitExit(t testing.TB) *monitor.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := monitor.WaitPID(ctx, c.monitor.PID); err != nil {
		t.Fatal(err)
	}
	e, err := monitor.ReadExit(c.opts.Monitor.ExitFile)
	if err != nil {
		debug, _ := os.ReadFile(c.opts.Monitor.DebugLog)
		t.Fatalf("%v\nmonitor: %s", err, debug)
	}
	return e
}

func TestCreateStartExit(t *testing.T) {
	c := newContainer(t, "oci-basic", []string{"sh", "-c", "echo hello from $(hostname); echo bad >&2; exit 7"}, false)
	c.create(t)
	ctx := context.Background()
	if st, err := c.rt.Status(ctx, c.id); err != nil || st != libcontainer.Created {
		t.Fatalf("after create: %v %v, want created", st, err)
	}
	// Nothing ran yet.
	if b, _ := os.ReadFile(c.opts.Monitor.LogPath); len(b) != 0 {
		t.Fatalf("output before start: %q", b)
	}
	if err := c.rt.Start(ctx, c.id); err != nil {
		t.Fatal(err)
	}
	e := c.waitExit(t)
	if e.ExitCode != 7 {
		t.Fatalf("exit %+v", e)
	}
	log, _ := os.ReadFile(c.opts.Monitor.LogPath)
	if !strings.Contains(string(log), " stdout F hello from oci-test\n") || !strings.Contains(string(log), " stderr F bad\n") {
		t.Fatalf("log:\n%s", log)
	}
	if st, _ := c.rt.Status(ctx, c.id); st != libcontainer.Stopped {
		t.Fatalf("after exit: %v", st)
	}
}

func TestSignalStops(t *testing.T) {
	c := newContainer(t, "oci-signal", []string{"sleep", "1000"}, false)
	c.create(t)
	ctx := context.Background()
	if err := c.rt.Start(ctx, c.id); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.rt.Status(ctx, c.id); st != libcontainer.Running {
		t.Fatalf("after start: %v", st)
	}
	// What a stop that timed out logs of the init. Start returns once the
	// init is alone in its exec of the user's program, which may not have
	// renamed it yet: the name comes a moment later.
	d := c.rt.InitSignals(c.id)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(d, "Name=sleep") && time.Now().Before(deadline); d = c.rt.InitSignals(c.id) {
		time.Sleep(time.Millisecond)
	}
	if !strings.Contains(d, "libcontainer status running, init ") || !strings.Contains(d, "Name=sleep") || !strings.Contains(d, "SigBlk=") {
		t.Errorf("init signals: %s", d)
	}
	if err := c.rt.Signal(ctx, c.id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if e := c.waitExit(t); e.ExitCode != 137 || e.Signal != 9 {
		t.Fatalf("exit %+v", e)
	}
	if err := c.rt.Signal(ctx, c.id, syscall.SIGTERM); err != nil {
		t.Fatalf("signal to a stopped container: %v", err)
	}
}

func TestDestroyCreatedContainer(t *testing.T) {
	c := newContainer(t, "oci-destroy", []string{"sleep", "1000"}, false)
	c.create(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.rt.Destroy(ctx, c.id); err != nil {
		t.Fatal(err)
	}
	if e := c.waitExit(t); e.Signal != 9 {
		t.Fatalf("exit %+v", e)
	}
	if _, err := c.rt.Status(ctx, c.id); err == nil {
		t.Fatal("state left after destroy")
	}
	if err := c.rt.Destroy(ctx, c.id); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
}

func TestCreateFailureReported(t *testing.T) {
	c := newContainer(t, "oci-fail", []string{"/no/such/binary"}, false)
	_, err := c.rt.Create(context.Background(), c.opts)
	if err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
		t.Fatalf("create with a missing entrypoint: %v", err)
	}
	if _, err := c.rt.Status(context.Background(), c.id); err == nil {
		t.Fatal("state left after a failed create")
	}
}

func TestTTY(t *testing.T) {
	c := newContainer(t, "oci-tty", []string{"sh", "-c", "[ -t 1 ] && echo is-a-tty"}, true)
	c.create(t)
	if err := c.rt.Start(context.Background(), c.id); err != nil {
		t.Fatal(err)
	}
	if e := c.waitExit(t); e.ExitCode != 0 {
		log, _ := os.ReadFile(c.opts.Monitor.LogPath)
		t.Fatalf("exit %+v, log %s", e, log)
	}
	log, _ := os.ReadFile(c.opts.Monitor.LogPath)
	if !strings.Contains(string(log), "is-a-tty") {
		t.Fatalf("log: %q", log)
	}
}

func TestExec(t *testing.T) {
	c := newContainer(t, "oci-exec", []string{"sleep", "1000"}, false)
	c.create(t)
	ctx := context.Background()
	if err := c.rt.Start(ctx, c.id); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	code, err := c.rt.Exec(ctx, c.id, c.opts.Bundle, []string{"sh", "-c", "read x; echo got $x; echo e >&2; exit 5"},
		ExecIO{Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: &errb})
	if err != nil || code != 5 || out.String() != "got hello\n" || errb.String() != "e\n" {
		t.Fatalf("exec: code %d err %v out %q err %q", code, err, out.String(), errb.String())
	}
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.rt.Exec(tctx, c.id, c.opts.Bundle, []string{"sleep", "100"}, ExecIO{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exec past its deadline: %v", err)
	}
	var tty strings.Builder
	code, err = c.rt.Exec(ctx, c.id, c.opts.Bundle, []string{"sh", "-c", "[ -t 0 ] && echo tty"}, ExecIO{TTY: true, Stdout: &tty})
	if err != nil || code != 0 || !strings.Contains(tty.String(), "tty") {
		t.Fatalf("tty exec: code %d err %v out %q", code, err, tty.String())
	}
	if err := c.rt.Signal(ctx, c.id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.waitExit(t)
	if _, err := c.rt.Exec(ctx, c.id, c.opts.Bundle, []string{"true"}, ExecIO{}); err == nil {
		t.Fatal("exec in a stopped container succeeded")
	}
}
