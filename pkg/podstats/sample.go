// Package podstats reads the resource use of pods and containers from their
// cgroups (cgroup v1 or v2, through opencontainers/cgroups) and of pods from
// their network namespaces, for the CRI stats and metrics calls. A Reader
// keeps the previous CPU reading of each cgroup it sampled, to report CPU
// rates from deltas.
package podstats

import "time"

// Sample is one reading of a cgroup.
type Sample struct {
	// At is when it was read.
	At     time.Time
	CPU    CPU
	Memory Memory
	Pids   Pids
	// Blkio are the bytes and operations per device and direction (cgroup v1
	// blkio or v2 io); empty where the kernel keeps no per-device counts.
	Blkio []BlkioEntry
	// Limits are the cgroup's own limits.
	Limits Limits
	// Processes counts what runs in the cgroup; only Count unless the
	// reading was asked for details.
	Processes *Processes
}

// CPU is CPU time in nanoseconds.
type CPU struct {
	// UsageNanos is the total CPU time; UserNanos and SystemNanos split it.
	UsageNanos, UserNanos, SystemNanos uint64
	// NanoCores is the rate of UsageNanos since the previous reading of the
	// same key, in nanoseconds per second; 0 on the first.
	NanoCores uint64
	// CFS enforcement periods, throttled periods and throttled time.
	Periods, ThrottledPeriods, ThrottledNanos uint64
}

// Memory is memory use in bytes, and fault counts.
type Memory struct {
	// Usage is all memory charged, page cache included; MaxUsage its peak (v1).
	Usage, MaxUsage uint64
	// WorkingSet is Usage less inactive file pages: what the kubelet evicts on.
	WorkingSet uint64
	// RSS is anonymous memory and swap cache.
	RSS uint64
	// Cache is page cache; MappedFile the mapped part of it.
	Cache, MappedFile uint64
	// ActiveFile and InactiveFile split the page cache.
	ActiveFile, InactiveFile uint64
	// Kernel is kernel memory charged to the cgroup.
	Kernel uint64
	// Swap is swap in use.
	Swap uint64
	// Available is the limit less the working set; 0 without a limit.
	Available uint64
	// Failcnt counts hits of the limit (v1).
	Failcnt uint64
	// PageFaults and MajorPageFaults are cumulative fault counts.
	PageFaults, MajorPageFaults uint64
	// OOMKills counts processes the OOM killer ended in the cgroup.
	OOMKills uint64
}

// Pids are the tasks (threads) in the cgroup and their limit (0: none).
type Pids struct {
	Current, Limit uint64
}

// BlkioEntry is one block device counter.
type BlkioEntry struct {
	// Device is "/dev/NAME" when the kernel names the device, else "MAJ:MIN".
	Device       string
	Major, Minor uint64
	// Op is "Read", "Write", "Sync", "Async", "Discard" or "Total".
	Op string
	// Bytes and Ops are the bytes moved and operations done.
	Bytes, Ops uint64
}

// Limits are what the cgroup is allowed; 0 means unlimited (or not set).
type Limits struct {
	// CPUPeriod and CPUQuota are the CFS period and quota in microseconds.
	CPUPeriod, CPUQuota uint64
	// CPUShares is the relative CPU weight in cgroup v1 shares.
	CPUShares uint64
	// Memory and MemorySwap are the memory and memory+swap limits in bytes.
	Memory, MemorySwap uint64
}

// Processes counts what runs in the cgroup, its children included.
type Processes struct {
	Count, Threads, FileDescriptors, Sockets uint64
}
