package podstats

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
)

// readLimits reads the cgroup's CPU limits from its files and takes the
// memory limits from its stats.
func readLimits(dirs map[string]string, st *cgroups.Stats) Limits {
	l := Limits{
		Memory:     limitOf(st.MemoryStats.Usage.Limit),
		MemorySwap: limitOf(st.MemoryStats.SwapUsage.Limit),
	}
	if cgroups.IsCgroup2UnifiedMode() {
		dir := dirs[""]
		if f := strings.Fields(readString(dir, "cpu.max")); len(f) == 2 {
			if f[0] != "max" {
				l.CPUQuota, _ = strconv.ParseUint(f[0], 10, 64)
			}
			l.CPUPeriod, _ = strconv.ParseUint(f[1], 10, 64)
		}
		if w, err := strconv.ParseUint(readString(dir, "cpu.weight"), 10, 64); err == nil && w > 0 {
			l.CPUShares = sharesOfWeight(w)
		}
		return l
	}
	dir := dirs["cpu"]
	l.CPUPeriod = readUint(dir, "cpu.cfs_period_us")
	if q, err := strconv.ParseInt(readString(dir, "cpu.cfs_quota_us"), 10, 64); err == nil && q > 0 {
		l.CPUQuota = uint64(q)
	}
	l.CPUShares = readUint(dir, "cpu.shares")
	return l
}

// sharesOfWeight inverts runc's cgroup v1 shares to v2 weight conversion.
func sharesOfWeight(w uint64) uint64 {
	return 2 + (w-1)*262142/9999
}

func readString(dir, file string) string {
	if dir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readUint(dir, file string) uint64 {
	v, _ := strconv.ParseUint(readString(dir, file), 10, 64)
	return v
}
