package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// proc is a process seen in /proc.
type proc struct {
	pid, ppid int
	argv      []string
}

// listProcs reads every process's parent and command line. Processes that
// exit while being read are skipped.
func listProcs() ([]proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		ppid, err := parentPID(pid)
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		out = append(out, proc{pid: pid, ppid: ppid, argv: argv})
	}
	return out, nil
}

// parentPID reads the PPid line of /proc/PID/status.
func parentPID(pid int) (int, error) {
	v, err := statusField(pid, "PPid:")
	return int(v), err
}

// statusField reads a numeric field (its first number) of /proc/PID/status.
func statusField(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field); ok {
			fs := strings.Fields(rest)
			if len(fs) == 0 {
				break
			}
			return strconv.ParseInt(fs[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// memKiB is a process's resident set size and proportional set size in KiB.
type memKiB struct {
	RSS, PSS int64
}

// procMem reads VmRSS from /proc/PID/status and Pss from
// /proc/PID/smaps_rollup.
func procMem(pid int) (memKiB, error) {
	rss, err := statusField(pid, "VmRSS:")
	if err != nil {
		return memKiB{}, err
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return memKiB{}, err
	}
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("Pss:")); ok {
			fs := strings.Fields(string(rest))
			if len(fs) > 0 {
				pss, err := strconv.ParseInt(fs[0], 10, 64)
				return memKiB{RSS: rss, PSS: pss}, err
			}
		}
	}
	return memKiB{}, fmt.Errorf("/proc/%d/smaps_rollup: no Pss", pid)
}

// cpuSeconds is the user plus system CPU time a process has used.
func cpuSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces and parentheses.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unreadable", pid)
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unreadable", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unreadable", pid)
	}
	const clkTck = 100 // USER_HZ on Linux
	return float64(utime+stime) / clkTck, nil
}

// hostCPUSeconds is the CPU time the whole machine has spent busy (all
// CPUs: user, nice, system, irq, softirq, steal), from /proc/stat.
func hostCPUSeconds() (float64, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unreadable")
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += v
	}
	const clkTck = 100 // USER_HZ on Linux
	return float64(busy) / clkTck, nil
}
