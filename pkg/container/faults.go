package container

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// FaultEnv is the environment variable that injects faults into container
// operations, for tests only: "step=action[,step=action]". Actions:
// "error" fails the step, "kill" kills the daemon with SIGKILL at it,
// "hang" blocks it for an hour. Steps: "create-record" (record written),
// "create-rootfs" (rootfs mounted), "create-monitor" (monitor and parked
// init running, not yet recorded), "start" (process released, not yet
// recorded), "stop" (signal sent, exit not yet awaited), "remove" (removal
// recorded, nothing torn down yet).
const FaultEnv = "CRI_SHIM_TEST_CONTAINER_FAULTS"

// faults maps steps to actions; nil (the production case) costs one check.
type faults map[string]string

func faultsFromEnv() faults {
	v := os.Getenv(FaultEnv)
	if v == "" {
		return nil
	}
	f := faults{}
	for _, kv := range strings.Split(v, ",") {
		if step, action, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			f[step] = action
		}
	}
	return f
}

// at acts out the fault injected at step, if any.
func (f faults) at(step string) error {
	if f == nil {
		return nil
	}
	switch f[step] {
	case "error":
		return fmt.Errorf("injected fault at step %s", step)
	case "kill":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Hour)
	case "hang":
		time.Sleep(time.Hour)
	}
	return nil
}
