package spec

import (
	"maps"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func TestResources(t *testing.T) {
	in := newInput(t)
	in.Host = Host{Capabilities: testHostCaps, SwapAccounting: true, HugetlbController: true, OOMScoreAdjFloor: -100}
	in.Resources = &Resources{
		CPUPeriod: 100000, CPUQuota: 50000, CPUShares: 512,
		MemoryLimit: 64 << 20, OOMScoreAdj: 500,
		CpusetCPUs: "0-1", CpusetMems: "0",
		HugepageLimits: []HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}},
		Unified:        map[string]string{"memory.high": "50000000"},
	}
	s := mustBuild(t, in)
	r := s.Linux.Resources
	if *r.CPU.Period != 100000 || *r.CPU.Quota != 50000 || *r.CPU.Shares != 512 || r.CPU.Cpus != "0-1" || r.CPU.Mems != "0" {
		t.Errorf("cpu %+v", r.CPU)
	}
	if *r.Memory.Limit != 64<<20 || r.Memory.Swap == nil || *r.Memory.Swap != 64<<20 {
		t.Errorf("memory %+v: want limit and swap 64 MiB", r.Memory)
	}
	if len(r.HugepageLimits) != 1 || r.HugepageLimits[0].Pagesize != "2MB" || r.HugepageLimits[0].Limit != 4<<20 {
		t.Errorf("hugepages %+v", r.HugepageLimits)
	}
	if !maps.Equal(r.Unified, in.Resources.Unified) {
		t.Errorf("unified %v", r.Unified)
	}
	if *s.Process.OOMScoreAdj != 500 {
		t.Errorf("oom_score_adj %d", *s.Process.OOMScoreAdj)
	}
	if len(r.Devices) != 1 || r.Devices[0].Allow {
		t.Errorf("device rules %+v, want deny-all only", r.Devices)
	}
}

func TestResourceHostFacts(t *testing.T) {
	for _, tc := range []struct {
		name              string
		swapAccounting    bool
		limit, swap       int64
		wantSwap          int64 // 0 = unset
		hugetlb           bool
		wantHugepageLimit bool
	}{
		{name: "explicit swap", swapAccounting: true, limit: 100, swap: 300, wantSwap: 300, hugetlb: true, wantHugepageLimit: true},
		{name: "no swap accounting", limit: 100, swap: 300},
		{name: "no swap accounting, limit only", limit: 100},
		{name: "no hugetlb controller", swapAccounting: true, limit: 100, wantSwap: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.Host.SwapAccounting, in.Host.HugetlbController = tc.swapAccounting, tc.hugetlb
			in.Resources = &Resources{MemoryLimit: tc.limit, MemorySwapLimit: tc.swap, HugepageLimits: []HugepageLimit{{PageSize: "1GB", Limit: 0}}}
			r := mustBuild(t, in).Linux.Resources
			if (r.Memory.Swap == nil) != (tc.wantSwap == 0) || (r.Memory.Swap != nil && *r.Memory.Swap != tc.wantSwap) {
				t.Errorf("swap %v, want %d", r.Memory.Swap, tc.wantSwap)
			}
			if (len(r.HugepageLimits) > 0) != tc.wantHugepageLimit {
				t.Errorf("hugepage limits %+v", r.HugepageLimits)
			}
		})
	}
}

func TestOOMScoreAdj(t *testing.T) {
	for _, tc := range []struct {
		floor     int
		req, want int64
	}{
		{0, -998, 0},
		{0, 1000, 1000},
		{-500, -998, -500},
		{-1000, -998, -998},
		{200, 100, 200},
	} {
		in := newInput(t)
		in.Host.OOMScoreAdjFloor = tc.floor
		in.Resources = &Resources{OOMScoreAdj: tc.req}
		if got := *mustBuild(t, in).Process.OOMScoreAdj; int64(got) != tc.want {
			t.Errorf("floor %d request %d: got %d, want %d", tc.floor, tc.req, got, tc.want)
		}
	}
	in := newInput(t)
	if s := mustBuild(t, in); s.Process.OOMScoreAdj != nil {
		t.Errorf("oom_score_adj %d without resources", *s.Process.OOMScoreAdj)
	}
}

func TestResourceErrors(t *testing.T) {
	for name, r := range map[string]Resources{
		"oom too low":     {OOMScoreAdj: -1001},
		"oom too high":    {OOMScoreAdj: 1001},
		"negative period": {CPUPeriod: -1},
		"negative shares": {CPUShares: -2},
	} {
		t.Run(name, func(t *testing.T) {
			in := newInput(t)
			in.Resources = &r
			wantErr(t, in, errdefs.ErrInvalidArgument)
		})
	}
}
