package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"github.com/cri-shim/cri-shim/internal/faultinject"
	"github.com/cri-shim/cri-shim/internal/testrootfs"
	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/metadata"
	"github.com/cri-shim/cri-shim/pkg/oci"
)

// The test binary stands in for cri-shim as container init and create command.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
	if len(os.Args) > 1 && os.Args[1] == oci.CreateArg {
		os.Exit(oci.CreateMain(os.Args[2:]))
	}
}

const testCgroupParent = "/cri-shim-test-container"

func TestMain(m *testing.M) {
	code := m.Run()
	if layerDir != "" {
		_ = os.RemoveAll(layerDir)
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + testCgroupParent)
	for _, d := range dirs {
		_ = os.Remove(d)
	}
	os.Exit(code)
}

type fakePods struct{ pod *Pod }

func (f *fakePods) Pod(ctx context.Context, id string) (*Pod, error) {
	if f.pod == nil || id != f.pod.Sandbox.ID {
		return nil, errdefs.ErrNotFound
	}
	return f.pod, nil
}

type fakeImages struct {
	img   *Image
	extra map[string]*Image // more images by name
	mu    sync.Mutex
	pins  map[string]string
}

func (f *fakeImages) Resolve(ctx context.Context, ref string) (*Image, error) {
	if img, ok := f.extra[ref]; ok {
		return img, nil
	}
	if ref != "busybox" && ref != f.img.ID {
		return nil, errdefs.ErrNotFound
	}
	return f.img, nil
}

func (f *fakeImages) Lease(ctx context.Context, owner, ref string) (*Image, error) {
	img, err := f.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pins[owner] = img.ID
	return img, nil
}

func (f *fakeImages) Release(ctx context.Context, owner string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pins, owner)
	return nil
}

func (f *fakeImages) Leases(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.pins {
		out = append(out, k)
	}
	return out, nil
}

type env struct {
	dir    string
	store  metadata.Store
	pods   *fakePods
	images *fakeImages
	m      *Manager
	logDir string
}

var layerOnce sync.Once
var layerDir string

func newEnv(t *testing.T) *env {
	t.Helper()
	layerOnce.Do(func() {
		layerDir, _ = os.MkdirTemp("", "cri-shim-test-layer-")
		if err := testrootfs.Busybox(layerDir); err != nil {
			panic(err)
		}
	})
	dir := t.TempDir()
	store, err := metadata.Open(filepath.Join(dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, store: store, logDir: filepath.Join(dir, "logs")}
	e.pods = &fakePods{pod: &Pod{
		Ready:        true,
		LogDirectory: e.logDir,
		CgroupParent: testCgroupParent,
		Sandbox: spec.Sandbox{
			ID: "pod1", Name: "p", Namespace: "ns", UID: "u",
			NetNS: spec.NamespacePath{Host: true}, IPCNS: spec.NamespacePath{Host: true}, UTSNS: spec.NamespacePath{Host: true},
			PIDNS: spec.NamespacePath{Host: true},
		},
	}}
	e.images = &fakeImages{img: &Image{ID: "sha256:feed", Ref: "busybox:latest", Layers: []string{layerDir},
		Config: ocispec.ImageConfig{Cmd: []string{"sh"}}}, pins: map[string]string{}}
	e.m = e.manager()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, r := range e.m.List(ctx, Filter{}) {
			if err := e.m.Remove(ctx, r.ID); err != nil {
				t.Errorf("cleanup %s: %v", r.ID, err)
			}
		}
		store.Close()
	})
	return e
}

func (e *env) manager() *Manager {
	return New(Options{
		Root: filepath.Join(e.dir, "root"), State: filepath.Join(e.dir, "state"),
		Store: e.store, Pods: e.pods, Images: e.images, Binary: os.Args[0],
		Host: spec.Host{OOMScoreAdjFloor: -1000, HugetlbController: true, SwapAccounting: false},
	})
}

func (e *env) create(t *testing.T, name string, args ...string) string {
	t.Helper()
	id, err := e.m.Create(context.Background(), CreateRequest{
		PodID: "pod1", Image: "busybox", LogPath: name + ".log",
		Input: spec.Input{Name: name, Command: args, Security: spec.SecurityContext{
			Namespaces: spec.NamespaceOptions{Network: spec.NamespacePod, IPC: spec.NamespacePod, PID: spec.NamespaceContainer},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) waitState(t *testing.T, id string, want State) Record {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := e.m.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %s, want %s", id, r.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, "hello", "sh", "-c", "echo hi; exit 3")
	r, _ := e.m.Get(ctx, id)
	if r.State != StateCreated || r.ImageID != "sha256:feed" || e.images.pins[id] != "sha256:feed" {
		t.Fatalf("after create: %+v pins %v", r, e.images.pins)
	}
	if _, err := e.m.Create(ctx, CreateRequest{PodID: "pod1", Image: "busybox", Input: spec.Input{Name: "hello", Command: []string{"true"}}}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := e.m.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	r = e.waitState(t, id, StateExited)
	if r.ExitCode != 3 || r.Reason != ReasonError || r.StartedAt == 0 || r.FinishedAt < r.StartedAt {
		t.Fatalf("exited: %+v", r)
	}
	log, _ := os.ReadFile(filepath.Join(e.logDir, "hello.log"))
	if !strings.Contains(string(log), " stdout F hi\n") {
		t.Fatalf("log %q", log)
	}
	if err := e.m.Start(ctx, id); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("start of an exited container: %v", err)
	}
	if err := e.m.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Remove(ctx, id); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := e.m.Get(ctx, id); !errdefs.IsNotFound(err) {
		t.Fatalf("get after remove: %v", err)
	}
	if len(e.images.pins) != 0 {
		t.Fatalf("pins left: %v", e.images.pins)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "root", id)); !os.IsNotExist(err) {
		t.Fatalf("writable layer left: %v", err)
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, "stubborn", "sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done")
	if err := e.m.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitLog(t, filepath.Join(e.logDir, "stubborn.log"), "ready")
	start := time.Now()
	if err := e.m.Stop(ctx, id, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r, _ := e.m.Get(ctx, id)
	if r.State != StateExited || r.ExitCode != 137 {
		t.Fatalf("after stop: %+v", r)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Fatal("SIGKILL came before the timeout")
	}
	if err := e.m.Stop(ctx, id, time.Second); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestStopGraceful(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, "polite", "sh", "-c", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done")
	if err := e.m.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitLog(t, filepath.Join(e.logDir, "polite.log"), "ready") // the trap is set
	if err := e.m.Stop(ctx, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.m.Get(ctx, id); r.ExitCode != 0 || r.Reason != ReasonCompleted {
		t.Fatalf("after stop: %+v", r)
	}
}

// TestStartHoldsNoLock: while a start is between the process's start and
// its record (a fault point sleeps there), the container answers status
// queries (created, as before the start) instead of waiting on the start;
// an exit in that window is recorded after the start is (started before
// it finished, not "never ran"), in that order; a stop waits for the start
// and stops the started process with its grace.
func TestStartHoldsNoLock(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	var events []State
	e.m.o.Events = func(ev Event) {
		mu.Lock()
		events = append(events, ev.State)
		mu.Unlock()
	}
	e.m.faults = faultinject.Points{"start": "sleep2s"}

	quick := e.create(t, "quick", "sh", "-c", "echo ran; exit 5")
	started := make(chan error, 1)
	go func() { started <- e.m.Start(ctx, quick) }()
	waitLog(t, filepath.Join(e.logDir, "quick.log"), "ran") // the process ran and exits
	r, err := e.m.Get(ctx, quick)
	select {
	case err := <-started:
		t.Fatalf("start (%v) ended before the status query returned: the query waited on it", err)
	default:
	}
	if err != nil || r.State != StateCreated {
		t.Fatalf("status during the start: %+v, %v; want created", r, err)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	r = e.waitState(t, quick, StateExited)
	if r.ExitCode != 5 || r.StartedAt == 0 || r.StartedAt >= r.FinishedAt {
		t.Fatalf("exit during the start: %+v; want exit 5, started before it finished", r)
	}
	mu.Lock()
	got := fmt.Sprint(events)
	mu.Unlock()
	if want := fmt.Sprint([]State{StateCreated, StateRunning, StateExited}); got != want {
		t.Fatalf("events %s, want %s", got, want)
	}

	polite := e.create(t, "polite", "sh", "-c", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done")
	go func() { started <- e.m.Start(ctx, polite) }()
	waitLog(t, filepath.Join(e.logDir, "polite.log"), "ready") // the trap is set
	if err := e.m.Stop(ctx, polite, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatalf("start: %v", err)
	}
	if r, _ := e.m.Get(ctx, polite); r.State != StateExited || r.ExitCode != 0 || r.Reason != ReasonCompleted {
		t.Fatalf("stopped during its start: %+v; want exit 0 on SIGTERM", r)
	}
}

// TestRemoveHoldsNoLock: while a removal tears the container down (a
// fault point sleeps first), status queries answer (removing) instead of
// waiting on it, and a second remove waits for the first and succeeds.
func TestRemoveHoldsNoLock(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, "gone", "true")
	e.m.faults = faultinject.Points{"remove": "sleep2s"}
	removed := make(chan error, 1)
	go func() { removed <- e.m.Remove(ctx, id) }()
	for {
		r, err := e.m.Get(ctx, id)
		select {
		case err := <-removed:
			t.Fatalf("remove (%v) ended before a status query saw it removing: the queries waited on it", err)
		default:
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.State == StateRemoving {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.m.Remove(ctx, id); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Get(ctx, id); !errdefs.IsNotFound(err) {
		t.Fatalf("get after remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "root", id)); !os.IsNotExist(err) {
		t.Fatalf("writable layer left: %v", err)
	}
}

// waitLog waits until a container's log has a line containing s.
func waitLog(t *testing.T, path, s string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), s) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never logged %q", path, s)
}

func TestRecoverRunningAndExited(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	running := e.create(t, "runner", "sh", "-c", "echo before; sleep 1000")
	if err := e.m.Start(ctx, running); err != nil {
		t.Fatal(err)
	}
	created := e.create(t, "parked", "true")
	// A "restart": a new manager over the same store and dirs.
	e.m = e.manager()
	if err := e.m.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.m.Get(ctx, running); r.State != StateRunning {
		t.Fatalf("running container after recover: %+v", r)
	}
	if r, _ := e.m.Get(ctx, created); r.State != StateCreated {
		t.Fatalf("created container after recover: %+v", r)
	}
	if err := e.m.Stop(ctx, running, 0); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.m.Get(ctx, running); r.State != StateExited || r.ExitCode != 137 {
		t.Fatalf("stopped after recover: %+v", r)
	}
	if err := e.m.Start(ctx, created); err != nil {
		t.Fatal(err)
	}
	if r := e.waitState(t, created, StateExited); r.ExitCode != 0 {
		t.Fatalf("%+v", r)
	}
}

func TestLogPathOutsidePodDirRefused(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"../escape.log", "/etc/evil.log", "a/../../b.log"} {
		_, err := e.m.Create(context.Background(), CreateRequest{PodID: "pod1", Image: "busybox", LogPath: p,
			Input: spec.Input{Name: "x" + strings.ReplaceAll(p, "/", "_"), Command: []string{"true"}}})
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("log path %q: %v", p, err)
		}
	}
	if n := len(e.m.List(context.Background(), Filter{})); n != 0 {
		t.Fatalf("%d containers left by refused creates", n)
	}
	entries, _ := os.ReadDir(filepath.Join(e.dir, "root"))
	if len(entries) != 0 {
		t.Fatalf("writable layers left by refused creates: %v", entries)
	}
}

func TestCreateFailureRollsBack(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.Create(context.Background(), CreateRequest{PodID: "pod1", Image: "busybox", LogPath: "bad.log",
		Input: spec.Input{Name: "bad", Command: []string{"/no/such/binary"}, Security: spec.SecurityContext{
			Namespaces: spec.NamespaceOptions{PID: spec.NamespaceContainer}}}})
	if err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
		t.Fatalf("create of a missing binary: %v", err)
	}
	var n int
	_ = e.store.View(context.Background(), func(tx metadata.Tx) error {
		return tx.ForEach(bucket, func(string, []byte) error { n++; return nil })
	})
	if n != 0 || len(e.images.pins) != 0 {
		t.Fatalf("records %d, pins %v after a failed create", n, e.images.pins)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "state")); len(entries) > 2 {
		t.Fatalf("state left: %v", entries)
	}
	// The name is free again.
	id := e.create(t, "bad", "true")
	if id == "" {
		t.Fatal("no id")
	}
}

func TestExecSyncAndAttach(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, "execs", "sh", "-c", "while true; do echo tick; sleep 0.1; done")
	if err := e.m.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	res, err := e.m.ExecSync(ctx, id, []string{"sh", "-c", "echo out; echo err >&2; exit 2"}, 10*time.Second)
	if err != nil || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 2 {
		t.Fatalf("exec sync: %+v %v", res, err)
	}
	if _, err := e.m.ExecSync(ctx, id, []string{"sleep", "10"}, 200*time.Millisecond); !errdefs.IsDeadlineExceeded(err) {
		t.Fatalf("exec sync timeout: %v", err)
	}
	res, err = e.m.ExecSync(ctx, id, []string{"sh", "-c", "head -c 17000000 /dev/zero"}, 30*time.Second)
	if err != nil || len(res.Stdout) != MaxExecOutput || !res.Truncated {
		t.Fatalf("big output: %d bytes, truncated %v, %v", len(res.Stdout), res != nil && res.Truncated, err)
	}
	actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	var out strings.Builder
	if err := e.m.Attach(actx, id, nil, &out, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "tick") {
		t.Fatalf("attach saw %q", out.String())
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, "busy", "sh", "-c", "while true; do :; done")
	if err := e.m.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	first, err := e.m.Stats(ctx, id)
	if err != nil || !first.Live || first.CPUUsageNanos == 0 && first.MemoryUsage == 0 {
		t.Fatalf("first sample: %+v %v", first, err)
	}
	// The busy loop gets CPU time sooner or later, even on a loaded machine.
	var second *Stats
	for i := 0; i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		if second, err = e.m.Stats(ctx, id); err == nil && second.CPUNanoCores > 0 {
			break
		}
	}
	if err != nil || second.CPUNanoCores == 0 || second.CPUUsageNanos <= first.CPUUsageNanos || second.Pids == 0 {
		t.Fatalf("second sample: %+v %v", second, err)
	}
	if second.MemoryWorkingSet == 0 || second.WritableLayer.Inodes == 0 {
		t.Fatalf("memory or writable layer missing: %+v", second)
	}
}
