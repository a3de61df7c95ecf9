package main

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// benchExec times n ExecSync calls of /bin/true in a running container,
// one after the other, after a few untimed ones.
func benchExec(ctx context.Context, t *target, res *Results, n int) (err error) {
	podID, ctrID, _, err := t.startPod(ctx, "exec")
	if podID != "" {
		defer func() {
			if rmErr := t.removePod(context.WithoutCancel(ctx), podID); err == nil {
				err = rmErr
			}
		}()
	}
	if err != nil {
		return err
	}
	req := &runtimeapi.ExecSyncRequest{ContainerId: ctrID, Cmd: []string{"/bin/true"}, Timeout: 10}
	var samples []float64
	for i := range n + 5 {
		t0 := time.Now()
		r, err := t.rt.ExecSync(ctx, req)
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("%s: ExecSync: %w", t.name, err)
		}
		if r.GetExitCode() != 0 {
			return fmt.Errorf("%s: ExecSync /bin/true exited %d: %s", t.name, r.GetExitCode(), r.GetStderr())
		}
		if i >= 5 {
			samples = append(samples, ms(d))
		}
	}
	res.latency("exec.sync", "exec", "ExecSync /bin/true in a running container", t.name, samples)
	return nil
}
