package podstats

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/opencontainers/cgroups"
)

// blkio pairs the byte and operation counts of each device and direction.
func blkio(st *cgroups.BlkioStats) []BlkioEntry {
	type key struct {
		major, minor uint64
		op           string
	}
	var order []key
	byKey := map[key]*BlkioEntry{}
	get := func(e cgroups.BlkioStatEntry) *BlkioEntry {
		k := key{e.Major, e.Minor, e.Op}
		if b := byKey[k]; b != nil {
			return b
		}
		b := &BlkioEntry{Device: deviceName(e.Major, e.Minor), Major: e.Major, Minor: e.Minor, Op: e.Op}
		byKey[k] = b
		order = append(order, k)
		return b
	}
	for _, e := range st.IoServiceBytesRecursive {
		get(e).Bytes = e.Value
	}
	for _, e := range st.IoServicedRecursive {
		get(e).Ops = e.Value
	}
	out := make([]BlkioEntry, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out
}

var (
	devNamesMu sync.Mutex
	devNames   = map[[2]uint64]string{}
)

// deviceName is "/dev/NAME" of a block device number, from sysfs, or
// "MAJ:MIN" when sysfs does not name it.
func deviceName(major, minor uint64) string {
	k := [2]uint64{major, minor}
	devNamesMu.Lock()
	name, ok := devNames[k]
	devNamesMu.Unlock()
	if ok {
		return name
	}
	name = fmt.Sprintf("%d:%d", major, minor)
	if b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", major, minor)); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "DEVNAME="); ok && v != "" {
				name = "/dev/" + v
			}
		}
	}
	devNamesMu.Lock()
	devNames[k] = name
	devNamesMu.Unlock()
	return name
}
