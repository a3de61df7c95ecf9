package sandbox

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// traceLevel is the log verbosity of the per-step timings.
const traceLevel = 4

// stepTimer notes how long each step of an operation took, for one log line.
type stepTimer struct {
	start, last time.Time
	steps       []string
}

func newStepTimer() *stepTimer {
	now := time.Now()
	return &stepTimer{start: now, last: now}
}

// mark ends step name.
func (t *stepTimer) mark(name string) {
	now := time.Now()
	t.steps = append(t.steps, fmt.Sprintf("%s %s", name, now.Sub(t.last).Round(10*time.Microsecond)))
	t.last = now
}

// note records a step that ran alongside the others.
func (t *stepTimer) note(name string, d time.Duration) {
	t.steps = append(t.steps, fmt.Sprintf("%s %s", name, d.Round(10*time.Microsecond)))
}

// log writes the timings of what was done to pod id.
func (t *stepTimer) log(what, id string) {
	if klog.V(traceLevel).Enabled() {
		klog.Infof("pod %s %s in %s: %s", id, what, time.Since(t.start).Round(10*time.Microsecond), strings.Join(t.steps, ", "))
	}
}
