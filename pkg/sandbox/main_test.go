package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"

	"github.com/cri-shim/cri-shim/pkg/config"
	"github.com/cri-shim/cri-shim/pkg/metadata"
	"github.com/cri-shim/cri-shim/pkg/network"
	"github.com/cri-shim/cri-shim/pkg/sandbox/podinit"
)

// The unit tests' own pod network, apart from the integration tests' and a
// developer's daemon.
const (
	testBridge = "crishimu0"
	testSubnet = "10.219.0.0/24"
)

// podInitEnv makes the test binary act as pod-init.
const podInitEnv = "CRI_SHIM_SANDBOX_TEST_PODINIT=1"

func TestMain(m *testing.M) {
	if os.Getenv(strings.Split(podInitEnv, "=")[0]) == "1" {
		os.Exit(podinit.Main())
	}
	if os.Geteuid() != 0 {
		fmt.Println("pkg/sandbox tests need root")
		os.Exit(1)
	}
	code := m.Run()
	if l, err := netlink.LinkByName(testBridge); err == nil {
		_ = netlink.LinkDel(l)
	}
	_ = os.RemoveAll(filepath.Join("/var/lib/cni/networks", network.BuiltinName(testBridge)))
	removeIdlePortmapChains()
	os.Exit(code)
}

// removeIdlePortmapChains removes the chains the portmap plugin shares
// among all pods once no pod uses them, so the tests leave iptables as
// they found it.
func removeIdlePortmapChains() {
	out, err := exec.Command("iptables", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Output()
	if err != nil || strings.Count(string(out), "\n") > 1 {
		return // absent, or some pod (maybe not ours) still maps a port
	}
	for _, r := range [][]string{
		{"-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
		{"-D", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
		{"-D", "POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ"},
		{"-F", "CNI-HOSTPORT-MASQ"}, {"-F", "CNI-HOSTPORT-SETMARK"},
		{"-X", "CNI-HOSTPORT-DNAT"}, {"-X", "CNI-HOSTPORT-MASQ"}, {"-X", "CNI-HOSTPORT-SETMARK"},
	} {
		_ = exec.Command("iptables", append([]string{"-t", "nat"}, r...)...).Run()
	}
}

// env is one test's runtime: a store, dirs, a config and a manager.
type env struct {
	t     *testing.T
	dir   string
	cfg   *config.Config
	store metadata.Store
	m     *Manager
	net   Network
}

func newEnv(t *testing.T, net Network) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.RootDir = filepath.Join(dir, "root")
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.CgroupParent = fmt.Sprintf("/crishim-unit-%d", os.Getpid())
	cfg.CNI.ConfDir = filepath.Join(dir, "net.d")
	cfg.CNI.BridgeName = testBridge
	cfg.CNI.Subnet = testSubnet
	cfg.CNI.PluginTimeout = config.Duration{Duration: 10 * time.Second}
	store, err := metadata.Open(cfg.RootDir)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, cfg: cfg, store: store, net: net}
	e.m = e.manager()
	t.Cleanup(func() { store.Close() })
	return e
}

// manager returns a new manager on the env's store, as a restart would.
func (e *env) manager() *Manager {
	e.t.Helper()
	m, err := New(Options{
		Store: e.store, Config: func() *config.Config { return e.cfg }, Network: e.net,
		PodInitExe: "/proc/self/exe", PodInitEnv: []string{podInitEnv},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

var podSeq int

func podConfig() Config {
	podSeq++
	return Config{
		Name: fmt.Sprintf("pod-%d", podSeq), Namespace: "ns", UID: fmt.Sprintf("uid-%d", podSeq),
		Labels:     map[string]string{"app": "test"},
		Namespaces: NamespaceOptions{PID: NamespaceContainer},
	}
}

func (e *env) run(cfg Config) Sandbox {
	e.t.Helper()
	id, err := e.m.Run(context.Background(), cfg)
	if err != nil {
		e.t.Fatalf("run pod: %v", err)
	}
	sb, err := e.m.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return sb
}

// assertGone checks that nothing of pod sb is left on the host.
func (e *env) assertGone(sb Sandbox) {
	e.t.Helper()
	r := sb.Resources
	if _, err := os.Stat(r.Dir); !errors.Is(err, os.ErrNotExist) {
		e.t.Errorf("pod dir %s left: %v", r.Dir, err)
	}
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(r.Dir))
	if err != nil || len(mounts) > 0 {
		e.t.Errorf("mounts left under %s: %v %v", r.Dir, mounts, err)
	}
	for _, d := range r.Cgroup.Created {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			e.t.Errorf("cgroup %s left", d)
		}
	}
	if procs := findPodInit(sb.ID); len(procs) > 0 {
		e.t.Errorf("pod init left: %+v", procs[0])
	}
	if r.Network != nil {
		e.assertNoAddress(sb.ID)
		if out, _ := exec.Command("iptables-save").Output(); bytes.Contains(out, []byte(sb.ID)) {
			e.t.Errorf("iptables rules of pod %s left", sb.ID)
		}
		if l, err := netlink.LinkByName(testBridge); err == nil {
			links, _ := netlink.LinkList()
			for _, x := range links {
				if x.Attrs().MasterIndex == l.Attrs().Index {
					e.t.Errorf("link %s still on the bridge", x.Attrs().Name)
				}
			}
		}
		if _, err := os.Stat(filepath.Join(e.cfg.CNICacheDir(), "results", fmt.Sprintf("%s-%s-eth0", network.BuiltinName(testBridge), sb.ID))); !errors.Is(err, os.ErrNotExist) {
			e.t.Errorf("cni cache entry left: %v", err)
		}
	}
	var found bool
	_ = e.store.View(context.Background(), func(tx metadata.Tx) error {
		_, err := tx.Get(Bucket, sb.ID)
		found = err == nil
		return nil
	})
	if found {
		e.t.Errorf("record of pod %s left", sb.ID)
	}
}

// assertNoAddress checks host-local holds no address for pod id.
func (e *env) assertNoAddress(id string) {
	e.t.Helper()
	dir := filepath.Join("/var/lib/cni/networks", network.BuiltinName(testBridge))
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, ent.Name()))
		if bytes.Contains(b, []byte(id)) {
			e.t.Errorf("address %s still reserved for pod %s", ent.Name(), id)
		}
	}
}

// hasAddress reports whether host-local holds an address for pod id.
func hasAddress(id string) bool {
	dir := filepath.Join("/var/lib/cni/networks", network.BuiltinName(testBridge))
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		if b, _ := os.ReadFile(filepath.Join(dir, ent.Name())); bytes.Contains(b, []byte(id)) {
			return true
		}
	}
	return false
}

// assertNothingLeft checks that the env's runtime left nothing anywhere:
// pod dirs, mounts, cgroups, records, addresses, links, pod init processes.
func (e *env) assertNothingLeft() {
	e.t.Helper()
	if ents, _ := os.ReadDir(filepath.Join(e.cfg.StateDir, Dir)); len(ents) > 0 {
		e.t.Errorf("pod dirs left: %d", len(ents))
	}
	if mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(e.dir)); len(mounts) > 0 {
		e.t.Errorf("mounts left: %v", mounts[0].Mountpoint)
	}
	ctrls, _ := os.ReadDir("/sys/fs/cgroup")
	for _, c := range ctrls {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c.Name(), e.cfg.CgroupParent)); err == nil {
			e.t.Errorf("cgroup %s/%s left", c.Name(), e.cfg.CgroupParent)
		}
	}
	n := 0
	_ = e.store.View(context.Background(), func(tx metadata.Tx) error {
		return tx.ForEach(Bucket, func(string, []byte) error { n++; return nil })
	})
	if n > 0 {
		e.t.Errorf("%d pod records left", n)
	}
	dir := filepath.Join("/var/lib/cni/networks", network.BuiltinName(testBridge))
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		if !strings.HasPrefix(ent.Name(), "last_reserved_ip") && ent.Name() != "lock" {
			e.t.Errorf("address %s left reserved", ent.Name())
		}
	}
	if l, err := netlink.LinkByName(testBridge); err == nil {
		links, _ := netlink.LinkList()
		for _, x := range links {
			if x.Attrs().MasterIndex == l.Attrs().Index {
				e.t.Errorf("link %s left on the bridge", x.Attrs().Name)
			}
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, pe := range procs {
		if b, err := os.ReadFile("/proc/" + pe.Name() + "/cmdline"); err == nil && bytes.Contains(b, []byte("\x00"+podinit.Command+"\x00")) {
			if st, _ := os.ReadFile("/proc/" + pe.Name() + "/status"); bytes.Contains(st, []byte(fmt.Sprintf("PPid:\t%d\n", os.Getpid()))) {
				e.t.Errorf("pod init %s left", pe.Name())
			}
		}
	}
}
