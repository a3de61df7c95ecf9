package network

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/utils/sysctl"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/allocator"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/disk"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/vishvananda/netlink"
)

// The built-in network of a pod with no host port and no bandwidth limit is
// the bridge plugin with host-local addresses alone. Running the two plugin
// binaries costs two Go program starts (about 45 ms for ADD and 60 ms for
// DEL on the reference machine), so the runtime does what they do itself,
// with the packages the plugins are built from (containernetworking/plugins
// pkg/ip, pkg/ipam, pkg/ns and host-local's allocator and disk store): the
// same bridge, veth pair, addresses, routes and gateway, and the same
// address files under the same lock, so pods attached either way, a later
// exec of the plugins (GC at start-up, pods with ports) and a downgrade all
// see one state. An operator's configuration always runs its plugins.

// bridgeConf is the part of the bridge plugin's configuration the built-in
// network writes (builtinConfList).
type bridgeConf struct {
	Type string `json:"type"`
	IPAM struct {
		Type string `json:"type"`
	} `json:"ipam"`
	BrName       string `json:"bridge"`
	IsGW         bool   `json:"isGateway"`
	IsDefaultGW  bool   `json:"isDefaultGateway"`
	ForceAddress bool   `json:"forceAddress"`
	IPMasq       bool   `json:"ipMasq"`
	MTU          int    `json:"mtu"`
	HairpinMode  bool   `json:"hairpinMode"`
	PromiscMode  bool   `json:"promiscMode"`
	Vlan         int    `json:"vlan"`
	MacSpoofChk  bool   `json:"macspoofchk"`
}

// builtinBridge is an attachment the runtime wires itself.
type builtinBridge struct {
	conf bridgeConf
	// raw is the plugin's configuration with the network's name and
	// cniVersion, as libcni hands it to the plugin.
	raw     []byte
	network string
}

// inProcess returns the bridge configuration of a when the runtime attaches
// it itself: the built-in network with the bridge plugin and host-local
// addresses alone, in the shape builtinConfList writes.
func inProcess(a *Attachment, list *libcni.NetworkConfigList) (*builtinBridge, bool) {
	if a.Source != BuiltinSource || len(list.Plugins) != 1 {
		return nil, false
	}
	p := list.Plugins[0]
	var bc bridgeConf
	if err := json.Unmarshal(p.Bytes, &bc); err != nil {
		return nil, false
	}
	if bc.Type != "bridge" || bc.IPAM.Type != "host-local" || bc.BrName == "" || bc.IPMasq ||
		bc.PromiscMode || bc.Vlan != 0 || bc.MacSpoofChk {
		return nil, false
	}
	conf, err := libcni.InjectConf(p, map[string]any{"name": list.Name, "cniVersion": list.CNIVersion})
	if err != nil {
		return nil, false
	}
	return &builtinBridge{conf: bc, raw: conf.Bytes, network: list.Name}, true
}

// envArgs is CNI_ARGS of a.
func (a *Attachment) envArgs() string {
	kv := make([]string, 0, len(a.Args))
	for _, p := range a.Args {
		kv = append(kv, p[0]+"="+p[1])
	}
	return strings.Join(kv, ";")
}

// ipamConfig loads the host-local configuration and opens its address store.
func (b *builtinBridge) ipamConfig(a *Attachment) (*allocator.IPAMConfig, *disk.Store, error) {
	conf, _, err := allocator.LoadIPAMConfig(b.raw, a.envArgs())
	if err != nil {
		return nil, nil, fmt.Errorf("pod %s: network %s: host-local config: %w", a.PodID, b.network, err)
	}
	store, err := disk.New(conf.Name, conf.DataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("pod %s: network %s: address store: %w", a.PodID, b.network, err)
	}
	return conf, store, nil
}

// add attaches the pod as the bridge plugin's ADD with host-local does.
// What it made is undone when it fails.
func (b *builtinBridge) add(ctx context.Context, a *Attachment) (res *Result, err error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("pod %s: network %s (built-in, in process): "+format, append([]any{a.PodID, b.network}, args...)...)
	}
	ipamConf, store, err := b.ipamConfig(a)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	defer func() {
		if err != nil {
			if derr := b.del(a); derr != nil {
				err = errors.Join(err, fmt.Errorf("rollback: %w", derr))
			}
		}
	}()

	br, err := ensureBridge(b.conf.BrName, b.conf.MTU)
	if err != nil {
		return nil, fail("%w", err)
	}
	netns, err := ns.GetNS(a.NetNS)
	if err != nil {
		return nil, fail("open netns %s: %w", a.NetNS, err)
	}
	defer netns.Close()

	hostIface, contIface, err := setupVeth(netns, br, a.IfName, b.conf.MTU, b.conf.HairpinMode)
	if err != nil {
		return nil, fail("%w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fail("%w", err)
	}

	result := &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{{Name: br.Attrs().Name}, hostIface, contIface},
	}
	for idx := range ipamConf.Ranges {
		alloc := allocator.NewIPAllocator(&ipamConf.Ranges[idx], store, idx)
		ipConf, err := alloc.Get(a.PodID, a.IfName, nil)
		if err != nil {
			return nil, fail("host-local: failed to allocate for range %d: %w", idx, err)
		}
		result.IPs = append(result.IPs, ipConf)
	}
	if len(result.IPs) == 0 {
		return nil, fail("host-local: no address range")
	}
	result.Routes = ipamConf.Routes

	var gws []net.IPNet
	for _, ipc := range result.IPs {
		ipc.Interface = types100.Int(2)
		if ipc.Gateway == nil && b.conf.IsGW {
			ipc.Gateway = ip.NextIP(ipc.Address.IP.Mask(ipc.Address.Mask))
		}
		if b.conf.IsGW {
			gws = append(gws, net.IPNet{IP: ipc.Gateway, Mask: ipc.Address.Mask})
		}
	}
	if b.conf.IsDefaultGW {
		addDefaultRoutes(result)
	}

	if err := netns.Do(func(ns.NetNS) error {
		_, _ = sysctl.Sysctl(fmt.Sprintf("net/ipv6/conf/%s/accept_dad", a.IfName), "0")
		_, _ = sysctl.Sysctl(fmt.Sprintf("net/ipv4/conf/%s/arp_notify", a.IfName), "1")
		return ipam.ConfigureIface(a.IfName, result)
	}); err != nil {
		return nil, fail("configure %s: %w", a.IfName, err)
	}

	for _, gw := range gws {
		family := netlink.FAMILY_V4
		if gw.IP.To4() == nil {
			family = netlink.FAMILY_V6
		}
		if err := ensureAddr(br, family, &gw, b.conf.ForceAddress); err != nil {
			return nil, fail("%w", err)
		}
		if br, err = bridgeByName(b.conf.BrName); err != nil {
			return nil, fail("%w", err)
		}
		if family == netlink.FAMILY_V4 {
			err = ip.EnableIP4Forward()
		} else {
			err = ip.EnableIP6Forward()
		}
		if err != nil {
			return nil, fail("enable forwarding: %w", err)
		}
	}

	// The bridge port must come up, as the plugin checks.
	var state netlink.LinkOperState
	for _, wait := range []time.Duration{0, 50 * time.Millisecond, 500 * time.Millisecond, time.Second, time.Second} {
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, fail("%w", ctx.Err())
			}
		}
		l, err := netlinksafe.LinkByName(hostIface.Name)
		if err != nil {
			return nil, fail("lookup %s: %w", hostIface.Name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return resultOf(result)
		}
		state = l.Attrs().OperState
	}
	return nil, fail("bridge port %s in state %s", hostIface.Name, state)
}

// del detaches the pod as the bridge plugin's DEL with host-local does:
// what is already gone is no error.
func (b *builtinBridge) del(a *Attachment) error {
	ipamConf, store, err := b.ipamConfig(a)
	if err != nil {
		return err
	}
	defer store.Close()
	var errs []error
	if a.NetNS != "" {
		err := ns.WithNetNSPath(a.NetNS, func(ns.NetNS) error {
			if _, err := ip.DelLinkByNameAddr(a.IfName); err != nil && !errors.Is(err, ip.ErrLinkNotFound) {
				return err
			}
			return nil
		})
		var gone ns.NSPathNotExistErr
		if err != nil && !errors.As(err, &gone) {
			errs = append(errs, fmt.Errorf("delete %s in %s: %w", a.IfName, a.NetNS, err))
		}
	}
	for idx := range ipamConf.Ranges {
		if err := allocator.NewIPAllocator(&ipamConf.Ranges[idx], store, idx).Release(a.PodID, a.IfName); err != nil {
			errs = append(errs, fmt.Errorf("host-local: release: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pod %s: network %s (built-in, in process): %w", a.PodID, b.network, err)
	}
	return nil
}

// check verifies what add made: the pod's addresses reserved, the bridge up
// and the pod's interface up with its addresses.
func (b *builtinBridge) check(a *Attachment) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("pod %s: cni check on network %s (built-in, in process): "+format, append([]any{a.PodID, b.network}, args...)...)
	}
	_, store, err := b.ipamConfig(a)
	if err != nil {
		return err
	}
	store.Lock()
	ips := store.GetByID(a.PodID, a.IfName)
	store.Unlock()
	store.Close()
	if len(ips) == 0 {
		return fail("host-local: no address reserved for %s", a.IfName)
	}
	br, err := bridgeByName(b.conf.BrName)
	if err != nil {
		return fail("%w", err)
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		return fail("bridge %s is down", b.conf.BrName)
	}
	err = ns.WithNetNSPath(a.NetNS, func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName(a.IfName)
		if err != nil {
			return fmt.Errorf("interface %s: %w", a.IfName, err)
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			return fmt.Errorf("interface %s is down", a.IfName)
		}
		addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("addresses of %s: %w", a.IfName, err)
		}
	next:
		for _, want := range ips {
			for _, have := range addrs {
				if have.IP.Equal(want) {
					continue next
				}
			}
			return fmt.Errorf("interface %s lacks its address %s", a.IfName, want)
		}
		return nil
	})
	if err != nil {
		return fail("%w", err)
	}
	return nil
}

// hostLocalDataDir is where host-local keeps addresses when its config
// names no dataDir.
const hostLocalDataDir = "/var/lib/cni/networks"

// gcBuiltinAddresses releases every host-local address of the built-in
// network list that no attachment in valid holds, as host-local's GC does.
func gcBuiltinAddresses(list *libcni.NetworkConfigList, valid []types.GCAttachment) error {
	if len(list.Plugins) == 0 {
		return nil
	}
	conf, err := libcni.InjectConf(list.Plugins[0], map[string]any{"name": list.Name, "cniVersion": list.CNIVersion})
	if err != nil {
		return fmt.Errorf("gc of network %s: %w", list.Name, err)
	}
	ipamConf, _, err := allocator.LoadIPAMConfig(conf.Bytes, "")
	if err != nil {
		return fmt.Errorf("gc of network %s: host-local config: %w", list.Name, err)
	}
	// No address was ever given on this network: nothing to collect, and
	// no store to make (disk.New would create its dir).
	dataDir := ipamConf.DataDir
	if dataDir == "" {
		dataDir = hostLocalDataDir
	}
	if _, err := os.Stat(filepath.Join(dataDir, ipamConf.Name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	store, err := disk.New(ipamConf.Name, ipamConf.DataDir)
	if err != nil {
		return fmt.Errorf("gc of network %s: address store: %w", list.Name, err)
	}
	defer store.Close()
	if err := store.GC(valid); err != nil {
		return fmt.Errorf("gc of network %s: addresses: %w", list.Name, err)
	}
	return nil
}

// dropCachedResult removes libcni's cached result of a, which an ADD
// through the plugins (an older runtime, or a pod with ports) left; libcni's
// own DEL would have.
func dropCachedResult(cacheDir, network string, a *Attachment) error {
	p, err := securejoin.SecureJoin(cacheDir, "results/"+network+"-"+a.PodID+"-"+a.IfName)
	if err != nil {
		return fmt.Errorf("pod %s: cni cache: %w", a.PodID, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pod %s: cni cache: %w", a.PodID, err)
	}
	return nil
}

// addDefaultRoutes adds a default route through each family's first
// gateway, unless the result has one (isDefaultGateway).
func addDefaultRoutes(result *types100.Result) {
	seen := map[bool]bool{}
	for _, r := range result.Routes {
		if r.GW != nil {
			if ones, _ := r.Dst.Mask.Size(); ones == 0 {
				seen[r.Dst.IP.To4() != nil] = true
			}
		}
	}
	for _, ipc := range result.IPs {
		v4 := ipc.Address.IP.To4() != nil
		if seen[v4] || ipc.Gateway == nil {
			continue
		}
		dst := net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}
		if !v4 {
			dst = net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
		}
		result.Routes = append(result.Routes, &types.Route{Dst: dst, GW: ipc.Gateway})
		seen[v4] = true
	}
}

// ensureBridge makes the bridge if it is missing and brings it up, as the
// bridge plugin does.
func ensureBridge(name string, mtu int) (*netlink.Bridge, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.MTU = mtu
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("could not add bridge %q: %w", name, err)
	}
	br, err := bridgeByName(name)
	if err != nil {
		return nil, err
	}
	// The plugin owns the routes of the bridge.
	_, _ = sysctl.Sysctl(fmt.Sprintf("net/ipv6/conf/%s/accept_ra", name), "0")
	if err := netlink.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("bridge %q up: %w", name, err)
	}
	return br, nil
}

func bridgeByName(name string) (*netlink.Bridge, error) {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("could not look up bridge %q: %w", name, err)
	}
	br, ok := l.(*netlink.Bridge)
	if !ok {
		return nil, fmt.Errorf("%q already exists but is not a bridge", name)
	}
	return br, nil
}

// setupVeth makes the veth pair with ifName in netns and its peer on the
// bridge, with hairpin mode as asked.
func setupVeth(netns ns.NetNS, br *netlink.Bridge, ifName string, mtu int, hairpin bool) (host, cont *types100.Interface, err error) {
	host, cont = &types100.Interface{}, &types100.Interface{}
	err = netns.Do(func(hostNS ns.NetNS) error {
		hostVeth, contVeth, err := ip.SetupVeth(ifName, mtu, "", hostNS)
		if err != nil {
			return err
		}
		cont.Name, cont.Mac, cont.Sandbox = contVeth.Name, contVeth.HardwareAddr.String(), netns.Path()
		host.Name = hostVeth.Name
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("veth %s: %w", ifName, err)
	}
	hostVeth, err := netlinksafe.LinkByName(host.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("lookup %q: %w", host.Name, err)
	}
	host.Mac = hostVeth.Attrs().HardwareAddr.String()
	if err := netlink.LinkSetMaster(hostVeth, br); err != nil {
		return nil, nil, fmt.Errorf("connect %q to bridge %s: %w", host.Name, br.Attrs().Name, err)
	}
	if err := netlink.LinkSetHairpin(hostVeth, hairpin); err != nil {
		return nil, nil, fmt.Errorf("hairpin mode of %s: %w", host.Name, err)
	}
	return host, cont, nil
}

// ensureAddr puts the gateway address ipn on the bridge, replacing an
// address of another subnet with forceAddress, and pins the bridge's MAC, as
// the bridge plugin does.
func ensureAddr(br netlink.Link, family int, ipn *net.IPNet, forceAddress bool) error {
	addrs, err := netlinksafe.AddrList(br, family)
	if err != nil {
		return fmt.Errorf("addresses of bridge %s: %w", br.Attrs().Name, err)
	}
	found := false
	for _, a := range addrs {
		if a.IPNet.String() == ipn.String() {
			found = true
			break
		}
		if family == netlink.FAMILY_V4 || a.IPNet.Contains(ipn.IP) || ipn.Contains(a.IPNet.IP) {
			if !forceAddress {
				return fmt.Errorf("%q already has an IP address different from %v", br.Attrs().Name, ipn)
			}
			if err := netlink.AddrDel(br, &netlink.Addr{IPNet: a.IPNet}); err != nil {
				return fmt.Errorf("remove address %s of bridge %s: %w", a.IPNet, br.Attrs().Name, err)
			}
		}
	}
	if !found {
		if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: ipn}); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("could not add IP address %s to %q: %w", ipn, br.Attrs().Name, err)
		}
	}
	// Pin the bridge's MAC, or it takes the lowest of its ports' and
	// changes as pods come and go.
	hw := br.Attrs().HardwareAddr
	if isZeroMAC(hw) {
		// The kernel zeroes it when the last port left: make one up as
		// the kernel does (random, unicast, locally administered).
		hw = make(net.HardwareAddr, 6)
		if _, err := rand.Read(hw); err != nil {
			return fmt.Errorf("bridge %s: random MAC: %w", br.Attrs().Name, err)
		}
		hw[0] = hw[0]&0xfe | 0x02
	}
	if err := netlink.LinkSetHardwareAddr(br, hw); err != nil {
		return fmt.Errorf("could not set the MAC of bridge %s: %w", br.Attrs().Name, err)
	}
	return nil
}

func isZeroMAC(hw net.HardwareAddr) bool {
	for _, b := range hw {
		if b != 0 {
			return false
		}
	}
	return true
}
