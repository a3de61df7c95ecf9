package network

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"

	"github.com/cri-shim/cri-shim/pkg/config"
)

// The pod network of these tests, apart from every other user of the machine.
const (
	testBridge = "crishimpf0"
	testSubnet = "10.235.0.0/24"
)

// builtinEnv is a CNI whose built-in network runs on the test bridge with
// host-local's address files in a temporary dir.
type builtinEnv struct {
	c       *CNI
	cfg     *config.Config
	dataDir string
}

func newBuiltinEnv(t *testing.T) *builtinEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes network namespaces, a bridge and veths")
	}
	c, cfg := testCNI(t, 0)
	cfg.CNI.BridgeName, cfg.CNI.Subnet = testBridge, testSubnet
	cfg.CNI.BinDirs = []string{"/opt/cni/bin"}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(testBridge); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				t.Errorf("remove bridge %s: %v", testBridge, err)
			}
		}
	})
	return &builtinEnv{c: c, cfg: cfg, dataDir: t.TempDir()}
}

// plan plans pod id in a new network namespace (removed at cleanup), with
// the address files in the env's data dir.
func (e *builtinEnv) plan(t *testing.T, id string) *Attachment {
	t.Helper()
	netns, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		netns.Close()
		if err := testutils.UnmountNS(netns); err != nil {
			t.Errorf("remove netns: %v", err)
		}
	})
	a, err := e.c.Plan(id, netns.Path(), PodMeta{Namespace: "ns", Name: id, UID: "uid-" + id}, Capabilities{})
	if err != nil {
		t.Fatal(err)
	}
	var list map[string]any
	if err := json.Unmarshal(a.ConfList, &list); err != nil {
		t.Fatal(err)
	}
	plugins := list["plugins"].([]any)
	if len(plugins) != 1 {
		t.Fatalf("built-in network of a pod without ports: %d plugins, want the bridge alone", len(plugins))
	}
	plugins[0].(map[string]any)["ipam"].(map[string]any)["dataDir"] = e.dataDir
	if a.ConfList, err = json.Marshal(list); err != nil {
		t.Fatal(err)
	}
	l, err := a.list()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inProcess(a, l); !ok {
		t.Fatal("the built-in network of a pod without ports is not attached in process")
	}
	return a
}

// reserved returns the pod IDs that own an address of the network.
func (e *builtinEnv) reserved(t *testing.T, a *Attachment) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(filepath.Join(e.dataDir, a.Network))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if net.ParseIP(ent.Name()) == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.dataDir, a.Network, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[ent.Name()] = strings.SplitN(string(b), "\r\n", 2)[0]
	}
	return out
}

func linkIn(t *testing.T, nsPath, name string) (netlink.Link, []netlink.Addr) {
	t.Helper()
	var l netlink.Link
	var addrs []netlink.Addr
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		if l, err = netlink.LinkByName(name); err != nil {
			return err
		}
		addrs, err = netlink.AddrList(l, netlink.FAMILY_V4)
		return err
	})
	if err != nil {
		return nil, nil
	}
	return l, addrs
}

// TestBuiltinInProcess: the built-in network attaches pods without running
// a plugin: distinct addresses of the subnet recorded in host-local's files,
// the gateway on the bridge, the interface up in the pod; CHECK sees it;
// DEL releases the address and removes the interface, twice without error,
// and works from the recorded attachment alone (a restarted runtime).
func TestBuiltinInProcess(t *testing.T) {
	e := newBuiltinEnv(t)
	ctx := context.Background()
	_, subnet, _ := net.ParseCIDR(testSubnet)

	a1, a2 := e.plan(t, "pod1"), e.plan(t, "pod2")
	r1, err := e.c.Add(ctx, a1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.c.Add(ctx, a2)
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.IPs) != 1 || len(r2.IPs) != 1 || r1.IPs[0] == r2.IPs[0] ||
		!subnet.Contains(net.ParseIP(r1.IPs[0])) || !subnet.Contains(net.ParseIP(r2.IPs[0])) {
		t.Fatalf("addresses %v and %v: want two distinct addresses of %s", r1.IPs, r2.IPs, testSubnet)
	}
	if got := e.reserved(t, a1); got[r1.IPs[0]] != "pod1" || got[r2.IPs[0]] != "pod2" || len(got) != 2 {
		t.Fatalf("host-local reservations %v", got)
	}
	br, err := netlink.LinkByName(testBridge)
	if err != nil {
		t.Fatal(err)
	}
	gws, err := netlink.AddrList(br, netlink.FAMILY_V4)
	if err != nil || len(gws) != 1 || gws[0].IPNet.String() != "10.235.0.1/24" {
		t.Fatalf("bridge addresses %v (%v), want the gateway 10.235.0.1/24", gws, err)
	}
	l, addrs := linkIn(t, a1.NetNS, DefaultIfName)
	if l == nil || l.Attrs().Flags&net.FlagUp == 0 || len(addrs) != 1 || addrs[0].IP.String() != r1.IPs[0] {
		t.Fatalf("pod1's %s: %v with %v", DefaultIfName, l, addrs)
	}
	var gotDefault bool
	_ = ns.WithNetNSPath(a1.NetNS, func(ns.NetNS) error {
		routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range routes {
			if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == "10.235.0.1" {
				gotDefault = true
			}
		}
		return nil
	})
	if !gotDefault {
		t.Fatal("no default route through the gateway in the pod")
	}
	if err := e.c.Check(ctx, a1); err != nil {
		t.Fatalf("check: %v", err)
	}

	if err := e.c.Del(ctx, a1); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Del(ctx, a1); err != nil {
		t.Fatalf("second del: %v", err)
	}
	if got := e.reserved(t, a1); len(got) != 1 || got[r2.IPs[0]] != "pod2" {
		t.Fatalf("after del of pod1: reservations %v", got)
	}
	if l, _ := linkIn(t, a1.NetNS, DefaultIfName); l != nil {
		t.Fatalf("pod1's %s still there after del", DefaultIfName)
	}
	if err := e.c.Check(ctx, a1); err == nil {
		t.Fatal("check of a deleted attachment passed")
	}

	// A restarted runtime has only the recorded attachment.
	raw, err := json.Marshal(a2)
	if err != nil {
		t.Fatal(err)
	}
	var rec Attachment
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	c2 := NewCNI(func() *config.Config { return e.cfg })
	if err := c2.Check(ctx, &rec); err != nil {
		t.Fatalf("check after restart: %v", err)
	}
	if err := c2.Del(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	if got := e.reserved(t, a2); len(got) != 0 {
		t.Fatalf("after del of every pod: reservations %v", got)
	}
}

// TestBuiltinInProcessRollback: an ADD that fails (the pod's namespace is
// gone) keeps no address.
func TestBuiltinInProcessRollback(t *testing.T) {
	e := newBuiltinEnv(t)
	a := e.plan(t, "pod1")
	a.NetNS = filepath.Join(t.TempDir(), "gone")
	if _, err := e.c.Add(context.Background(), a); err == nil || !strings.Contains(err.Error(), "pod1") {
		t.Fatalf("add into a missing netns: %v", err)
	}
	if got := e.reserved(t, a); len(got) != 0 {
		t.Fatalf("failed add left reservations %v", got)
	}
	if err := e.c.Del(context.Background(), a); err != nil {
		t.Fatalf("del after a failed add: %v", err)
	}
}

// TestBuiltinInProcessDelOfPluginAdd: a pod attached by the plugins (an
// older runtime) is detached in process: address released, interface and
// libcni's cached result gone; and the plugins' GC keeps what is valid.
func TestBuiltinInProcessDelOfPluginAdd(t *testing.T) {
	e := newBuiltinEnv(t)
	if _, err := FindPlugin("bridge", e.cfg.CNI.BinDirs); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	a, live := e.plan(t, "pod1"), e.plan(t, "pod2")
	list, err := a.list()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.lib().AddNetworkList(ctx, list, a.runtimeConf()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Add(ctx, live); err != nil {
		t.Fatal(err)
	}
	cached := filepath.Join(e.cfg.CNICacheDir(), "results", list.Name+"-pod1-"+DefaultIfName)
	if _, err := os.Stat(cached); err != nil {
		t.Fatalf("libcni cached no result: %v", err)
	}
	if err := e.c.Check(ctx, a); err != nil {
		t.Fatalf("in-process check of a plugin-made attachment: %v", err)
	}
	if err := e.c.Del(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cached); !os.IsNotExist(err) {
		t.Fatalf("cached result after del: %v", err)
	}
	// GC at start-up keeps the address of a valid pod attached in process,
	// and releases it once no record names it (the bridge plugin has no GC
	// of its own).
	valid := []types.GCAttachment{{ContainerID: live.PodID, IfName: live.IfName}}
	if err := e.c.lib().GCNetworkList(ctx, list, &libcni.GCArgs{ValidAttachments: valid}); err != nil {
		t.Fatal(err)
	}
	if err := gcBuiltinAddresses(list, valid); err != nil {
		t.Fatal(err)
	}
	if got := e.reserved(t, live); len(got) != 1 {
		t.Fatalf("GC with pod2 valid left reservations %v", got)
	}
	if err := gcBuiltinAddresses(list, []types.GCAttachment{}); err != nil {
		t.Fatal(err)
	}
	if got := e.reserved(t, live); len(got) != 0 {
		t.Fatalf("GC with no valid attachment kept %v", got)
	}
	if err := e.c.Del(ctx, live); err != nil {
		t.Fatal(err)
	}
}

// TestBuiltinGCMakesNoStore: start-up GC of a built-in network that never
// gave an address leaves nothing on the host.
func TestBuiltinGCMakesNoStore(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "networks")
	var list map[string]any
	if err := json.Unmarshal(BuiltinConfList(testBridge, testSubnet), &list); err != nil {
		t.Fatal(err)
	}
	list["plugins"].([]any)[0].(map[string]any)["ipam"].(map[string]any)["dataDir"] = dataDir
	raw, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	l, err := libcni.NetworkConfFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := gcBuiltinAddresses(l, []types.GCAttachment{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("GC made %s: %v", dataDir, err)
	}
}
