package oci

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// InitSignals describes a container's init for a log line when it did not
// stop on its stop signal: libcontainer's status of it (which decides
// whether a signal is sent at all), its PID and, from /proc, its state and
// signal masks (pending, blocked, ignored, caught).
func (r *Runtime) InitSignals(id string) string {
	c, err := r.load(id)
	if err != nil {
		return err.Error()
	}
	status, err := c.Status()
	if err != nil {
		return fmt.Sprintf("container %s: status: %v", id, err)
	}
	st, err := c.State()
	if err != nil {
		return fmt.Sprintf("container %s: %s, state: %v", id, status, err)
	}
	pid := st.InitProcessPid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return fmt.Sprintf("libcontainer status %s, init %d: %v", status, pid, err)
	}
	fields := []string{"Name", "State", "PPid", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"}
	var parts []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && slices.Contains(fields, k) {
			parts = append(parts, k+"="+strings.TrimSpace(v))
		}
	}
	return fmt.Sprintf("libcontainer status %s, init %d: %s", status, pid, strings.Join(parts, " "))
}
