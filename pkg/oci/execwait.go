package oci

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"
)

// initComm is the name nsexec gives libcontainer's init (stage 2) until it
// execs the container's process.
const initComm = "runc:[2:INIT]"

// execWaitLimit bounds the wait for an init's exec: past it Start returns
// anyway (the exec is the init's last step; it does not block).
const execWaitLimit = 2 * time.Second

// waitExec waits until the process pid, started at startTime (clock ticks
// since boot, as /proc/PID/stat gives it), is no longer libcontainer's init:
// it exec'd, exited, or its PID is another process's.
func waitExec(ctx context.Context, pid int, startTime uint64) error {
	deadline := time.Now().Add(execWaitLimit)
	pause := 50 * time.Microsecond
	for {
		comm, start, err := procStat(pid)
		if err != nil || start != startTime || comm != initComm {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("init %d has not exec'd the container's process after %v", pid, execWaitLimit)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for init %d to exec: %w", pid, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Millisecond)
	}
}

// procStat reads a process's name (comm) and start time from
// /proc/PID/stat; a zombie has none to report (an error).
func procStat(pid int) (comm string, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, err
	}
	// "PID (COMM) STATE PPID ..." where COMM may hold spaces and ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := bytes.Fields(b[end+1:])
	// f[0] is the state (field 3), the start time is field 22.
	if len(f) < 20 {
		return "", 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	if f[0][0] == 'Z' || f[0][0] == 'X' {
		return "", 0, fmt.Errorf("process %d has exited", pid)
	}
	start, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return string(b[open+1 : end]), start, nil
}
