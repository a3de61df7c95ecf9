package oci

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/procfs"
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
		if err != nil || st.Starttime != startTime || st.Comm != initComm || st.NumThreads == 1 {
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

// procStat reads a process's /proc/PID/stat; a zombie has nothing to
// report (an error).
func procStat(pid int) (procfs.ProcStat, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	st, err := p.Stat()
	if err != nil {
		return procfs.ProcStat{}, err
	}
	if st.State == "Z" || st.State == "X" {
		return procfs.ProcStat{}, fmt.Errorf("process %d has exited", pid)
	}
	return st, nil
}
