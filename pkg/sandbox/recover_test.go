package sandbox

import (
	"context"
	"os"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/metadata"
)

// crashAt rewrites pod sb's record as a crash at state would have left it.
func (e *env) crashAt(sb Sandbox, state State, edit func(*Sandbox)) {
	e.t.Helper()
	sb.State = state
	if edit != nil {
		edit(&sb)
	}
	if err := e.m.put(context.Background(), sb); err != nil {
		e.t.Fatal(err)
	}
}

// restart gives the env a new manager and recovers, as a daemon start does.
func (e *env) restart() {
	e.t.Helper()
	e.m = e.manager()
	if err := e.m.Recover(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func TestRecoverInterruptedCreate(t *testing.T) {
	e := newEnv(t, nil)
	cfg := podConfig()
	cfg.Namespaces.PID = NamespacePod
	sb := e.run(cfg)
	if !hasAddress(sb.ID) {
		t.Fatal("no address reserved")
	}
	// As left by a crash after the PID 1 started, before the pod was recorded ready.
	e.crashAt(sb, StateCreating, func(s *Sandbox) { s.Resources.PodInit, s.Resources.NetworkAttached, s.IPs = nil, false, nil })
	e.restart()
	e.assertGone(sb)
	e.assertNothingLeft()
	if alive(sb.Resources.PodInit) {
		t.Error("pod init of the rolled back pod still runs")
	}
	// The name is free.
	sb2 := e.run(cfg)
	if err := e.m.Remove(context.Background(), sb2.ID); err != nil {
		t.Fatal(err)
	}
	e.assertNothingLeft()
}

func TestRecoverInterruptedStopAndRemove(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	cfgA, cfgB := podConfig(), podConfig()
	cfgA.Namespaces.PID = NamespacePod
	a, b := e.run(cfgA), e.run(cfgB)
	e.crashAt(a, StateStopping, nil)
	e.crashAt(b, StateRemoving, nil)
	e.restart()
	got, err := e.m.Get(ctx, a.ID)
	if err != nil || got.State != StateNotReady || got.Resources.NetworkAttached {
		t.Errorf("interrupted stop not finished: %v %+v", err, got.State)
	}
	if alive(a.Resources.PodInit) || hasAddress(a.ID) {
		t.Error("stopped pod kept its PID 1 or address")
	}
	e.assertGone(b)
	if err := e.m.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	e.assertNothingLeft()
}

func TestRecoverStopsPodThatLostItsInit(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	cfg := podConfig()
	cfg.Namespaces.PID = NamespacePod
	sb := e.run(cfg)
	if err := kill(sb.Resources.PodInit); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.m.Get(ctx, sb.ID); got.State != StateNotReady {
		t.Errorf("pod without its PID 1 is %s", got.State)
	}
	e.restart()
	got, _ := e.m.Get(ctx, sb.ID)
	if got.State != StateNotReady || hasAddress(sb.ID) {
		t.Errorf("pod without its PID 1 after restart: %s, address kept %v", got.State, hasAddress(sb.ID))
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	e.assertNothingLeft()
}

// TestRecoverGC: an attachment whose pod has no record any more is torn
// down by the CNI GC at start-up; live pods keep theirs.
func TestRecoverGC(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	lost, live := e.run(podConfig()), e.run(podConfig())
	if err := e.store.Update(ctx, func(tx metadata.Tx) error { return tx.Delete(Bucket, lost.ID) }); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if hasAddress(lost.ID) {
		t.Error("GC kept the address of a pod with no record")
	}
	if !hasAddress(live.ID) {
		t.Error("GC released the address of a live pod")
	}
	if _, err := os.Stat(lost.Resources.Dir); !os.IsNotExist(err) {
		t.Errorf("state dir of a pod with no record kept: %v", err)
	}
	for _, d := range lost.Resources.Cgroup.Created {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s of a pod with no record kept", d)
		}
	}
	if err := e.m.Remove(ctx, live.ID); err != nil {
		t.Fatal(err)
	}
	e.assertGone(lost)
	e.assertNothingLeft()
}

// TestNoGCWithUnreadableRecord: one record that cannot be read makes the
// valid list incomplete, so GC does not run.
func TestNoGCWithUnreadableRecord(t *testing.T) {
	net := newFakeNetwork()
	e := newEnv(t, net)
	ctx := context.Background()
	sb := e.run(podConfig())
	e.restart()
	if net.gcCalls != 1 || len(net.gcValid) != 1 || net.gcValid[0].PodID != sb.ID {
		t.Fatalf("gc calls %d valid %v", net.gcCalls, net.gcValid)
	}
	bad := "f00d" + sb.ID[4:]
	if err := e.store.Update(ctx, func(tx metadata.Tx) error { return tx.Put(Bucket, bad, []byte("{garbage")) }); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if net.gcCalls != 1 {
		t.Error("GC ran with an unreadable record")
	}
	if err := e.store.Update(ctx, func(tx metadata.Tx) error { return tx.Delete(Bucket, bad) }); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	e.assertNothingLeft()
}
