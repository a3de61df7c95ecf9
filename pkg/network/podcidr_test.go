package network

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func TestParsePodCIDR(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "", want: ""},
		{in: "10.1.0.0/24", want: "10.1.0.0/24"},
		{in: "fd00::/64, 10.1.0.0/24", want: "10.1.0.0/24,fd00::/64"},
		{in: "10.1.0.1/24", bad: true},
		{in: "10.1.0.0/31", bad: true},
		{in: "10.1.0.0/24,10.2.0.0/24", bad: true},
		{in: "pods", bad: true},
	} {
		got, err := ParsePodCIDR(tc.in)
		if tc.bad {
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("%q: err %v, want invalid argument", tc.in, err)
			}
			continue
		}
		if err != nil || joinPrefixes(got) != tc.want {
			t.Errorf("%q: %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func podCIDRCNI(t *testing.T, confDir string) *CNI {
	cfg := config.Default()
	cfg.CNI.ConfDir = confDir
	cfg.CNI.BridgeName = "crishimx9"
	return NewCNI(func() *config.Config { return cfg })
}

func TestPodCIDRIsBuiltinSubnet(t *testing.T) {
	c := podCIDRCNI(t, filepath.Join(t.TempDir(), "none"))
	cidrs, err := ParsePodCIDR("10.99.0.0/24,fd99::/64")
	if err != nil {
		t.Fatal(err)
	}
	c.SetPodCIDR(cidrs)
	a, err := c.Plan("p1", "/ns", PodMeta{}, Capabilities{})
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Plugins []struct {
			IPAM struct {
				Ranges [][]IPRange         `json:"ranges"`
				Routes []map[string]string `json:"routes"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(a.ConfList, &list); err != nil {
		t.Fatal(err)
	}
	ipam := list.Plugins[0].IPAM
	if len(ipam.Ranges) != 2 || ipam.Ranges[0][0].Subnet != "10.99.0.0/24" || ipam.Ranges[1][0].Subnet != "fd99::/64" ||
		len(ipam.Routes) != 2 || ipam.Routes[1]["dst"] != "::/0" {
		t.Fatalf("ipam %+v", ipam)
	}
	if a.Capabilities.IPRanges != nil {
		t.Error("built-in network also got ipRanges")
	}
	c.SetPodCIDR(nil)
	if a, _ := c.Plan("p2", "/ns", PodMeta{}, Capabilities{}); !strings.Contains(string(a.ConfList), config.Default().CNI.Subnet) {
		t.Fatalf("cleared pod CIDR still used: %s", a.ConfList)
	}
}

func TestPodCIDRAsIPRangesCapability(t *testing.T) {
	dir := t.TempDir()
	conf := `{"cniVersion":"1.0.0","name":"ops","plugins":[{"type":"bridge","ipam":{"type":"host-local","capabilities":{"ipRanges":true}}}]}`
	if err := os.WriteFile(filepath.Join(dir, "10-ops.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c := podCIDRCNI(t, dir)
	cidrs, _ := ParsePodCIDR("10.98.0.0/24")
	c.SetPodCIDR(cidrs)
	a, err := c.Plan("p1", "/ns", PodMeta{}, Capabilities{})
	if err != nil {
		t.Fatal(err)
	}
	args := a.Capabilities.capabilityArgs()
	r, ok := args["ipRanges"].([][]IPRange)
	if !ok || len(r) != 1 || r[0][0].Subnet != "10.98.0.0/24" {
		t.Fatalf("capability args %v", args)
	}
}

func TestInterfaceStatsOfHostNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	links, err := InterfaceStats("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range links {
		if l.Name == "lo" {
			t.Error("loopback listed")
		}
		if i > 0 && links[i-1].Name > l.Name {
			t.Error("not sorted")
		}
	}
	if _, err := InterfaceStats("/nonexistent/netns"); err == nil {
		t.Error("missing namespace not reported")
	}
}
