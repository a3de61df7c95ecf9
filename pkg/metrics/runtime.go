package metrics

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// runtimeFamilies are the Go runtime and process metrics of the daemon,
// under the names client_golang's Go and process collectors give them.
func runtimeFamilies() []family {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	threads, _ := runtime.ThreadCreateProfile(nil)
	out := []family{
		gauge("go_goroutines", "Number of goroutines that currently exist.", "", float64(runtime.NumGoroutine())),
		gauge("go_threads", "Number of OS threads created.", "", float64(threads)),
		gauge("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting.", "", float64(runtime.GOMAXPROCS(0))),
		&gauges{fname: "go_info", help: "Information about the Go environment.", labels: []string{"version"},
			samples: []gaugeSample{{labels: []string{runtime.Version()}, v: 1}}},
		gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.", "", float64(ms.Alloc)),
		gauge("go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already.", "counter", float64(ms.TotalAlloc)),
		gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", "", float64(ms.Sys)),
		gauge("go_memstats_mallocs_total", "Total number of heap objects allocated.", "counter", float64(ms.Mallocs)),
		gauge("go_memstats_frees_total", "Total number of heap objects frees.", "counter", float64(ms.Frees)),
		gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", "", float64(ms.HeapAlloc)),
		gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", "", float64(ms.HeapSys)),
		gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", "", float64(ms.HeapIdle)),
		gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", "", float64(ms.HeapInuse)),
		gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", "", float64(ms.HeapReleased)),
		gauge("go_memstats_heap_objects", "Number of currently allocated objects.", "", float64(ms.HeapObjects)),
		gauge("go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator.", "", float64(ms.StackInuse)),
		gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", "", float64(ms.NextGC)),
		gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", "", float64(ms.LastGC)/1e9),
		gcDurations(),
	}
	return append(out, processFamilies()...)
}

// gcDurations is go_gc_duration_seconds: a summary of the GC pauses.
func gcDurations() family {
	var st debug.GCStats
	st.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&st)
	g := &gauges{fname: "go_gc_duration_seconds", help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
		typ: "summary", labels: []string{"quantile"}}
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		g.samples = append(g.samples, gaugeSample{labels: []string{q}, v: st.PauseQuantiles[i].Seconds()})
	}
	return &summary{gauges: g, sum: st.PauseTotal.Seconds(), count: float64(st.NumGC)}
}

// summary is a gauges family of quantiles with its _sum and _count.
type summary struct {
	*gauges
	sum, count float64
}

func (s *summary) write(w *bufio.Writer) {
	s.gauges.write(w)
	sample(w, s.fname+"_sum", nil, nil, s.sum)
	sample(w, s.fname+"_count", nil, nil, s.count)
}

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// processFamilies are the process_* metrics, read from /proc/self.
func processFamilies() []family {
	var out []family
	if fs, err := statFields(); err == nil {
		// Fields after the command, from field 3 (state) on: utime is field
		// 14, stime 15, starttime 22, vsize 23, rss 24.
		f := func(n int) float64 { v, _ := strconv.ParseFloat(fs[n-3], 64); return v }
		out = append(out,
			gauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", (f(14)+f(15))/clockTicks),
			gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", "", f(23)),
			gauge("process_resident_memory_bytes", "Resident memory size in bytes.", "", f(24)*float64(os.Getpagesize())))
		if bt, err := bootTime(); err == nil {
			out = append(out, gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "", bt+f(22)/clockTicks))
		}
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		out = append(out, gauge("process_open_fds", "Number of open file descriptors.", "", float64(len(ents))))
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
		out = append(out, gauge("process_max_fds", "Maximum number of open file descriptors.", "", float64(lim.Cur)))
	}
	return out
}

// statFields are the fields of /proc/self/stat after the command name.
func statFields() ([]string, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, os.ErrInvalid
	}
	fs := strings.Fields(string(b[i+1:]))
	if len(fs) < 22 {
		return nil, os.ErrInvalid
	}
	return fs, nil
}

// bootTime is the boot time, seconds since the epoch (btime of /proc/stat).
func bootTime() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, os.ErrNotExist
}
