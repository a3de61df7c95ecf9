// Package faultinject injects faults at named steps of the runtime's
// operations, for tests only: an environment variable holds
// "step=action[,step=action]", and nothing is injected without it.
// Actions: "error" fails the step, "kill" kills the daemon with SIGKILL at
// it, "hang" blocks it for an hour (for a test to kill the daemon mid-step),
// "sleepDURATION" (e.g. "sleep2s") delays it.
package faultinject

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// Points maps steps to actions; nil (the production case) costs one check.
type Points map[string]string

// FromEnv reads the points from environment variable name (nil when unset).
func FromEnv(name string) Points {
	v := os.Getenv(name)
	if v == "" {
		return nil
	}
	p := Points{}
	for _, kv := range strings.Split(v, ",") {
		if step, action, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			p[step] = action
		}
	}
	return p
}

// At acts out the fault injected at step, if any.
func (p Points) At(step string) error {
	if p == nil {
		return nil
	}
	action := p[step]
	if d, ok := strings.CutPrefix(action, "sleep"); ok {
		if d, err := time.ParseDuration(d); err == nil {
			time.Sleep(d)
			return nil
		}
	}
	switch action {
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
