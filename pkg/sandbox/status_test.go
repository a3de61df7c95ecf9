package sandbox

import (
	"context"
	"testing"
	"time"
)

func TestNetworkCheckInBackground(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	sb := e.run(podConfig())
	c, ok, err := e.m.LastNetworkCheck(ctx, sb.ID)
	if err != nil || !ok || !c.At.IsZero() {
		t.Fatalf("first call: %+v %v %v, want none yet", c, ok, err)
	}
	for deadline := time.Now().Add(20 * time.Second); c.At.IsZero(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no check result")
		}
		c, _, _ = e.m.LastNetworkCheck(ctx, sb.ID)
	}
	if c.Result != "ok" {
		t.Errorf("check of a healthy pod: %q", c.Result)
	}
	if err := e.m.Check(ctx, sb.ID); err != nil {
		t.Errorf("synchronous check: %v", err)
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	e.assertNothingLeft()
}
