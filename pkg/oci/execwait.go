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
// since boot, as /proc/PID/stat gives it), can no longer lose a signal as
// libcontainer's init: it is inside its exec with its other threads gone
// (one thread left: a signal now waits for the new program), it exec'd, it
// exited, or its PID is another process's.
func waitExec(ctx context.Context, pid int, startTime uint64) error {
	deadline := time.Now().Add(execWaitLimit)
	pause := 50 * time.Microsecond
	for {
		st, err := procStat(pid)
		if err != nil || st.start != startTime || st.comm != initComm || st.threads == 1 {
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

// stat is what waitExec reads of a process.
type stat struct {
	comm    string
	threads int
	start   uint64
}

// procStat reads a process's name (comm), thread count and start time from
// /proc/PID/stat; a zombie has none to report (an error).
func procStat(pid int) (stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	// "PID (COMM) STATE PPID ..." where COMM may hold spaces and ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return stat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := bytes.Fields(b[end+1:])
	// f[0] is field 3 (state): the thread count is field 20, the start
	// time field 22.
	if len(f) < 20 {
		return stat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	if f[0][0] == 'Z' || f[0][0] == 'X' {
		return stat{}, fmt.Errorf("process %d has exited", pid)
	}
	threads, err := strconv.Atoi(string(f[17]))
	if err != nil {
		return stat{}, fmt.Errorf("/proc/%d/stat: threads: %w", pid, err)
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return stat{}, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return stat{comm: string(b[open+1 : end]), threads: threads, start: start}, nil
}
