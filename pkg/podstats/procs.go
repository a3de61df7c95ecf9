package podstats

import (
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
)

// procsDir is a directory of the cgroup whose cgroup.procs lists its
// processes: the pids, memory or unified one.
func procsDir(dirs map[string]string) string {
	for _, k := range []string{"pids", "memory", "cpu", ""} {
		if d := dirs[k]; d != "" {
			return d
		}
	}
	return ""
}

// countProcesses counts the processes in the cgroup at dir and its
// children and, with detail, their threads, open descriptors and sockets.
// Processes that exit meanwhile are skipped.
func countProcesses(dir string, detail bool) *Processes {
	p := &Processes{}
	if dir == "" {
		return p
	}
	pids, err := cgroups.GetAllPids(dir)
	if err != nil {
		return p
	}
	if !detail {
		p.Count = uint64(len(pids))
		return p
	}
	for _, pid := range pids {
		proc := "/proc/" + strconv.Itoa(pid)
		tasks, err := os.ReadDir(proc + "/task")
		if err != nil {
			continue
		}
		p.Count++
		p.Threads += uint64(len(tasks))
		fds, err := os.ReadDir(proc + "/fd")
		if err != nil {
			continue
		}
		p.FileDescriptors += uint64(len(fds))
		for _, fd := range fds {
			if target, err := os.Readlink(proc + "/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, "socket:") {
				p.Sockets++
			}
		}
	}
	return p
}
