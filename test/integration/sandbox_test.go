package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// listenIn starts a TCP echo-once server inside a pod's network namespace
// on addr; the socket stays in the pod's namespace.
func listenIn(t *testing.T, pin, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := inNetNS(pin, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen in pod: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Fprintf(c, "pod says %s", line)
			c.Close()
		}
	}()
	return l
}

// talk dials addr (from the caller's thread namespace), sends a line and
// returns the answer.
func talk(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "hello\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestPodsReachEachOther(t *testing.T) {
	d := startPodDaemon(t, "", "")
	a, b := d.run(podRequest("pod-a")), d.run(podRequest("pod-b"))
	ipA, ipB := d.status(a).GetNetwork().GetIp(), d.status(b).GetNetwork().GetIp()
	subnet := netip.MustParsePrefix(itSubnet)
	for _, ip := range []string{ipA, ipB} {
		if addr, err := netip.ParseAddr(ip); err != nil || !subnet.Contains(addr) {
			t.Fatalf("pod ip %q not in %s", ip, itSubnet)
		}
	}
	if ipA == ipB {
		t.Fatal("two pods got the same address")
	}
	pinA, pinB := d.info(a).NamespacePaths["net"], d.info(b).NamespacePaths["net"]
	listenIn(t, pinA, net.JoinHostPort(ipA, "8080"))
	var got string
	if err := inNetNS(pinB, func() (err error) {
		got, err = talk(net.JoinHostPort(ipA, "8080"))
		return err
	}); err != nil || got != "pod says hello" {
		t.Fatalf("pod b -> pod a: %q %v", got, err)
	}
	// lo is up in the pod.
	listenIn(t, pinB, "127.0.0.1:9090")
	if err := inNetNS(pinB, func() (err error) {
		got, err = talk("127.0.0.1:9090")
		return err
	}); err != nil || got != "pod says hello" {
		t.Fatalf("pod loopback: %q %v", got, err)
	}
	if c := d.networkCheck(a); c != "ok" {
		t.Errorf("CNI CHECK of a running pod: %q", c)
	}
	d.stopAndRemove(a)
	d.stopAndRemove(b)
}

func TestHostPort(t *testing.T) {
	d := startPodDaemon(t, "", "")
	const hostPort = 18091
	cfg := podRequest("hostport")
	cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 8080, HostPort: hostPort}}
	id := d.run(cfg)
	ip := d.status(id).GetNetwork().GetIp()
	listenIn(t, d.info(id).NamespacePaths["net"], net.JoinHostPort(ip, "8080"))

	hostIP := hostAddress(t)
	for _, addr := range []string{"127.0.0.1", hostIP} {
		got, err := talk(net.JoinHostPort(addr, strconv.Itoa(hostPort)))
		if err != nil || got != "pod says hello" {
			t.Errorf("host port via %s: %q %v", addr, got, err)
		}
	}
	if c := d.networkCheck(id); c != "ok" {
		t.Errorf("CNI CHECK with a port mapping: %q", c)
	}
	d.stopAndRemove(id)
	if _, err := talk(net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))); err == nil {
		t.Error("host port still forwarded after the pod stopped")
	}
}

// hostAddress is the host's first global IPv4 address (not loopback).
func hostAddress(t *testing.T) string {
	t.Helper()
	links, _ := netlink.LinkList()
	for _, l := range links {
		if l.Attrs().Name == itBridge || l.Attrs().Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			if a.IP.IsGlobalUnicast() {
				return a.IP.String()
			}
		}
	}
	t.Skip("no host address")
	return ""
}

func TestPodDNSHostnameAndFiles(t *testing.T) {
	d := startPodDaemon(t, "", "")
	cfg := podRequest("dns")
	cfg.Hostname = "pod-host-name"
	cfg.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"10.218.0.53", "fd00::53"}, Searches: []string{"ns.svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5", "edns0"}}
	id := d.run(cfg)
	info := d.info(id)
	resolv, _ := os.ReadFile(info.Sandbox.Resources.ResolvPath)
	want := "search ns.svc.cluster.local svc.cluster.local\nnameserver 10.218.0.53\nnameserver fd00::53\noptions ndots:5 edns0\n"
	if string(resolv) != want {
		t.Errorf("resolv.conf:\n%s\nwant:\n%s", resolv, want)
	}
	if h := nsRun(t, []string{"--uts=" + info.NamespacePaths["uts"]}, "hostname"); h != "pod-host-name" {
		t.Errorf("hostname in the pod's UTS namespace: %q", h)
	}
	if b, _ := os.ReadFile(info.Sandbox.Resources.HostnamePath); string(b) != "pod-host-name\n" {
		t.Errorf("hostname file %q", b)
	}
	if b, _ := os.ReadFile(info.Sandbox.Resources.HostsPath); !strings.Contains(string(b), "localhost") {
		t.Errorf("hosts file %q", b)
	}
	if fi, err := os.Stat(info.Sandbox.Resources.ShmPath); err != nil || fi.Mode().Perm() != 0o777 || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("shm %v %v", fi, err)
	}
	// Without DNS config: the host's resolv.conf.
	plain := d.run(podRequest("no-dns"))
	host, _ := os.ReadFile("/etc/resolv.conf")
	if b, _ := os.ReadFile(d.info(plain).Sandbox.Resources.ResolvPath); string(b) != string(host) {
		t.Errorf("pod without DNS config: resolv.conf %q, want the host's", b)
	}
	d.stopAndRemove(id)
	d.stopAndRemove(plain)
}

func TestHostNetworkPod(t *testing.T) {
	d := startPodDaemon(t, "", "")
	cfg := podRequest("hostnet")
	// A PID namespace of its own, so that its PID 1 shows what the pod's processes see.
	cfg.Linux.SecurityContext.NamespaceOptions = &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_POD, Ipc: runtimeapi.NamespaceMode_NODE,
	}
	id := d.run(cfg)
	st := d.status(id)
	opts := st.GetLinux().GetNamespaces().GetOptions()
	if opts.GetNetwork() != runtimeapi.NamespaceMode_NODE || opts.GetPid() != runtimeapi.NamespaceMode_POD || opts.GetIpc() != runtimeapi.NamespaceMode_NODE {
		t.Errorf("namespace options %v", opts)
	}
	if st.GetNetwork().GetIp() != "" {
		t.Errorf("host-network pod has a pod IP %q", st.GetNetwork().GetIp())
	}
	info := d.info(id)
	if len(info.NamespacePaths) != 1 || info.NamespacePaths["pid"] == "" || info.Sandbox.Resources.ShmPath != "/dev/shm" {
		t.Errorf("host-namespace pod has its own namespaces %v or shm %s", info.NamespacePaths, info.Sandbox.Resources.ShmPath)
	}
	// The pod's processes see the host's links.
	podLinks := nsRun(t, []string{"--target", strconv.Itoa(info.Sandbox.Resources.PodInit.PID), "--net", "--uts"}, "ip", "-o", "link", "show")
	hostLinks, _ := netlink.LinkList()
	for _, l := range hostLinks {
		if !strings.Contains(podLinks, ": "+l.Attrs().Name+":") && !strings.Contains(podLinks, ": "+l.Attrs().Name+"@") {
			t.Errorf("host link %s not seen from the pod:\n%s", l.Attrs().Name, podLinks)
		}
	}
	host, _ := os.Hostname()
	if h := nsRun(t, []string{"--target", strconv.Itoa(info.Sandbox.Resources.PodInit.PID), "--uts"}, "hostname"); h != host {
		t.Errorf("hostname in the pod %q, want the host's %q", h, host)
	}
	if b, _ := os.ReadFile(info.Sandbox.Resources.HostnamePath); string(b) != host+"\n" {
		t.Errorf("hostname file %q, want the host's %q", b, host)
	}
	if _, err := os.Stat(info.Sandbox.Resources.ResolvPath); err != nil {
		t.Error(err)
	}
	// Network sysctls are refused with the host's network.
	bad := podRequest("hostnet-sysctl")
	bad.Linux.SecurityContext.NamespaceOptions = cfg.Linux.SecurityContext.NamespaceOptions
	bad.Linux.Sysctls = map[string]string{"net.core.somaxconn": "1024"}
	if _, err := d.Runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: bad}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("net sysctl in a host-network pod: %v, want InvalidArgument", err)
	}
	d.stopAndRemove(id)
}

func TestPodSysctls(t *testing.T) {
	d := startPodDaemon(t, "", "")
	cfg := podRequest("sysctls")
	cfg.Linux.Sysctls = map[string]string{
		"net.ipv4.ip_unprivileged_port_start": "81",
		"net.ipv4.ping_group_range":           "0 2147483647",
		"kernel.shm_rmid_forced":              "1",
		"fs.mqueue.msg_max":                   "100",
	}
	id := d.run(cfg)
	ns := d.info(id).NamespacePaths
	netFlags := []string{"--net=" + ns["net"]}
	ipc := []string{"--ipc=" + ns["ipc"]}
	for _, c := range []struct {
		flags      []string
		file, want string
	}{
		{netFlags, "/proc/sys/net/ipv4/ip_unprivileged_port_start", "81"},
		{netFlags, "/proc/sys/net/ipv4/ping_group_range", "0\t2147483647"},
		{ipc, "/proc/sys/kernel/shm_rmid_forced", "1"},
		{ipc, "/proc/sys/fs/mqueue/msg_max", "100"},
	} {
		if got := nsRun(t, c.flags, "cat", c.file); got != c.want {
			t.Errorf("%s in the pod: %q, want %q", c.file, got, c.want)
		}
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); strings.TrimSpace(string(b)) == "81" {
		t.Error("the pod's sysctl reached the host")
	}
	for _, sysctls := range []map[string]string{{"kernel.panic": "1"}, {"vm.swappiness": "1"}, {"net.ipv4.no_such_thing": "1"}} {
		bad := podRequest("bad-sysctl")
		bad.Linux.Sysctls = sysctls
		if _, err := d.Runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: bad}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("sysctls %v: %v, want InvalidArgument", sysctls, err)
		}
	}
	d.stopAndRemove(id)
}

func TestPodStatusListAndIdempotence(t *testing.T) {
	d := startPodDaemon(t, "", "")
	ctx := context.Background()
	cfg := podRequest("status")
	cfg.Annotations = map[string]string{"note": "kept"}
	cfg.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_POD
	before := time.Now().UnixNano()
	id := d.run(cfg)
	st := d.status(id)
	md := st.GetMetadata()
	if st.GetId() != id || md.GetName() != "status" || md.GetNamespace() != "it" || md.GetUid() != cfg.Metadata.Uid ||
		st.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY || st.GetCreatedAt() < before ||
		st.GetLabels()["name"] != "status" || st.GetAnnotations()["note"] != "kept" || st.GetRuntimeHandler() != "" ||
		st.GetLinux().GetNamespaces().GetOptions().GetPid() != runtimeapi.NamespaceMode_POD {
		t.Errorf("status %v", st)
	}
	info := d.info(id)
	if info.Sandbox.Resources.PodInit == nil || info.NamespacePaths["pid"] != fmt.Sprintf("/proc/%d/ns/pid", info.Sandbox.Resources.PodInit.PID) {
		t.Errorf("pod PID namespace: %+v", info)
	}

	// Duplicates, bad requests.
	if _, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("same name, uid and attempt: %v", err)
	}
	if _, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podRequest("h"), RuntimeHandler: "kata"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unknown runtime handler: %v", err)
	}
	if _, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no metadata: %v", err)
	}
	other := d.run(podRequest("other"))

	list := func(f *runtimeapi.PodSandboxFilter) []string {
		resp, err := d.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range resp.GetItems() {
			ids = append(ids, p.GetId())
		}
		return ids
	}
	if got := list(nil); len(got) != 2 {
		t.Errorf("list all: %v", got)
	}
	if got := list(&runtimeapi.PodSandboxFilter{Id: id[:10]}); len(got) != 1 || got[0] != id {
		t.Errorf("list by id prefix: %v", got)
	}
	if got := list(&runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"name": "other"}}); len(got) != 1 || got[0] != other {
		t.Errorf("list by label: %v", got)
	}

	if _, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if st := d.status(id); st.GetState() != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("state after stop %v", st.GetState())
	}
	notReady := &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY}
	if got := list(&runtimeapi.PodSandboxFilter{State: notReady}); len(got) != 1 || got[0] != id {
		t.Errorf("list not ready: %v", got)
	}
	if _, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Errorf("second stop: %v", err)
	}
	for _, unknown := range []string{"6f1d7a52-3c2b-4a8e-9b1e-0d2f4c6a8e10", strings.Repeat("ab", 32)} {
		if _, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: unknown}); err != nil {
			t.Errorf("stop unknown pod: %v", err)
		}
		if _, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: unknown}); err != nil {
			t.Errorf("remove unknown pod: %v", err)
		}
		if _, err := d.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: unknown}); status.Code(err) != codes.NotFound {
			t.Errorf("status of unknown pod: %v", err)
		}
	}
	if _, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Errorf("second remove: %v", err)
	}
	// Remove stops a running pod first.
	if _, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: other}); err != nil {
		t.Fatal(err)
	}
	if got := list(nil); len(got) != 0 {
		t.Errorf("pods left: %v", got)
	}
	// The name is free again.
	d.stopAndRemove(d.run(cfg))
}

func TestBandwidthAnnotations(t *testing.T) {
	d := startPodDaemon(t, "", "")
	cfg := podRequest("bandwidth")
	cfg.Annotations = map[string]string{"kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "20M"}
	id := d.run(cfg)
	veth := ""
	if br, err := netlink.LinkByName(itBridge); err == nil {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				veth = l.Attrs().Name
			}
		}
	}
	out, err := exec.Command("tc", "qdisc", "show", "dev", veth).CombinedOutput()
	if err != nil {
		t.Skipf("tc: %v %s", err, out)
	}
	if !strings.Contains(string(out), "tbf") {
		t.Errorf("no rate limit on the pod's host interface %s:\n%s", veth, out)
	}
	d.stopAndRemove(id)
	links, _ := netlink.LinkList()
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "bwp") {
			t.Errorf("bandwidth ifb %s left", l.Attrs().Name)
		}
	}
}

func TestDualStackOperatorNetwork(t *testing.T) {
	if b, _ := os.ReadFile("/proc/sys/net/ipv6/conf/default/disable_ipv6"); strings.TrimSpace(string(b)) == "1" {
		t.Skip("IPv6 disabled")
	}
	d := startPodDaemon(t, "", "")
	const name = "crishim-it-dualstack"
	d.networks = append(d.networks, name)
	conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":%q,"plugins":[{"type":"bridge","bridge":%q,"isGateway":true,
	  "ipam":{"type":"host-local","ranges":[[{"subnet":"fd00:218::/64"}],[{"subnet":%q}]]}},
	  {"type":"portmap","capabilities":{"portMappings":true}}]}`, name, itBridge, itSubnet)
	writeNetConf(t, d, "10-dual.conflist", conf)
	id := d.run(podRequest("dual"))
	st := d.status(id).GetNetwork()
	v4, err4 := netip.ParseAddr(st.GetIp())
	if err4 != nil || !v4.Is4() || len(st.GetAdditionalIps()) != 1 || !strings.HasPrefix(st.GetAdditionalIps()[0].GetIp(), "fd00:218::") {
		t.Errorf("pod ips %v, want IPv4 first then fd00:218::/64", st)
	}
	d.stopAndRemove(id)
}

// writeNetConf writes an operator network configuration for the daemon.
func writeNetConf(t *testing.T, d *podDaemon, file, conf string) {
	t.Helper()
	dir := confDirOfRuntime(t, d.Runtime)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/"+file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}
