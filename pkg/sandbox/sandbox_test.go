package sandbox

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/sandbox/podns"
)

func TestPodLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	cfg := podConfig()
	cfg.Hostname = "unit-pod"
	cfg.DNS = &DNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"svc.local"}, Options: []string{"ndots:5"}}
	cfg.Sysctls = map[string]string{
		"net.ipv4.ip_unprivileged_port_start": "80",
		"kernel.shm_rmid_forced":              "1",
		"fs.mqueue.msg_max":                   "100",
	}
	cfg.Namespaces.PID = NamespacePod
	sb := e.run(cfg)
	r := sb.Resources

	if !sb.Ready() || len(sb.IPs) != 1 || !netip.MustParsePrefix(testSubnet).Contains(netip.MustParseAddr(sb.IPs[0])) {
		t.Fatalf("pod %+v: want ready with one address in %s", sb, testSubnet)
	}
	for k, pin := range map[podns.Kind]string{podns.Net: r.NetNS, podns.IPC: r.IPCNS, podns.UTS: r.UTSNS} {
		if !podns.Pinned(k, pin) {
			t.Errorf("%s namespace not pinned at %s", k, pin)
		}
	}
	// Inside the pod's namespaces: hostname, lo, sysctls.
	var uts unix.Utsname
	got := map[string]string{}
	err := podns.Do(map[podns.Kind]string{podns.Net: r.NetNS, podns.IPC: r.IPCNS, podns.UTS: r.UTSNS}, func() error {
		if err := unix.Uname(&uts); err != nil {
			return err
		}
		for _, f := range []string{"net/ipv4/ip_unprivileged_port_start", "kernel/shm_rmid_forced", "fs/mqueue/msg_max", "net/ipv4/conf/lo/forwarding"} {
			b, err := os.ReadFile("/proc/sys/" + f)
			if err != nil {
				return err
			}
			got[f] = strings.TrimSpace(string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if h := unix.ByteSliceToString(uts.Nodename[:]); h != "unit-pod" {
		t.Errorf("hostname in pod %q", h)
	}
	if got["net/ipv4/ip_unprivileged_port_start"] != "80" || got["kernel/shm_rmid_forced"] != "1" || got["fs/mqueue/msg_max"] != "100" {
		t.Errorf("sysctls in pod: %v", got)
	}
	// The host's values did not move.
	if b, _ := os.ReadFile("/proc/sys/fs/mqueue/msg_max"); strings.TrimSpace(string(b)) == "100" {
		t.Log("host fs.mqueue.msg_max is 100 (was it before?)")
	}
	if b, _ := os.ReadFile(r.HostnamePath); string(b) != "unit-pod\n" {
		t.Errorf("hostname file %q", b)
	}
	if b, _ := os.ReadFile(r.ResolvPath); string(b) != "search svc.local\nnameserver 10.0.0.10\noptions ndots:5\n" {
		t.Errorf("resolv.conf %q", b)
	}
	if b, _ := os.ReadFile(r.HostsPath); !strings.Contains(string(b), "127.0.0.1\tlocalhost") {
		t.Errorf("hosts %q", b)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(r.ShmPath, &st); err != nil || st.Type != unix.TMPFS_MAGIC || st.Blocks*uint64(st.Bsize) != shmSize {
		t.Errorf("shm %s: %v type %x size %d", r.ShmPath, err, st.Type, st.Blocks*uint64(st.Bsize))
	}
	if fi, err := os.Stat(r.ShmPath); err != nil || fi.Mode().Perm() != 0o777 || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("shm mode %v %v", fi.Mode(), err)
	}
	// The pod cgroup exists in every hierarchy, the unified one too.
	if r.Cgroup.Path != filepath.Join(e.cfg.CgroupParent, sb.ID) || r.Cgroup.Dirs[""] == "" {
		t.Errorf("cgroup %+v", r.Cgroup)
	}
	for _, d := range r.Cgroup.Dirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("cgroup dir: %v", err)
		}
	}
	checkPodInit(t, &sb)

	if err := e.m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	stopped, _ := e.m.Get(ctx, sb.ID)
	if stopped.State != StateNotReady || stopped.Resources.NetworkAttached || len(stopped.IPs) > 0 {
		t.Errorf("after stop: %+v", stopped)
	}
	if alive(sb.Resources.PodInit) {
		t.Error("pod init survived stop")
	}
	e.assertNoAddress(sb.ID)
	if err := e.m.Stop(ctx, sb.ID); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	e.assertGone(sb)
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Errorf("second remove: %v", err)
	}
	if err := e.m.Stop(ctx, sb.ID); err != nil {
		t.Errorf("stop after remove: %v", err)
	}
	if _, err := e.m.Get(ctx, sb.ID); !errdefs.IsNotFound(err) {
		t.Errorf("status after remove: %v", err)
	}
	// The name is free again.
	e.m.Remove(ctx, e.run(cfg).ID)
}

// checkPodInit checks the pod's PID 1: alive, PID 1 of its own namespace,
// its own session, nobody without capabilities, in the pod cgroup.
func checkPodInit(t *testing.T, sb *Sandbox) {
	t.Helper()
	p := sb.Resources.PodInit
	if p == nil || !alive(p) {
		t.Fatalf("pod init not running: %+v", p)
	}
	status, err := os.ReadFile("/proc/" + itoa(p.PID) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000000000", "CapPrm:\t0000000000000000", "NSpid:\t" + itoa(p.PID) + "\t1\n"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("pod init status lacks %q:\n%s", want, status)
		}
	}
	// no_new_privs is set by the PID 1 itself once it runs.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, _ := os.ReadFile("/proc/" + itoa(p.PID) + "/status")
		if strings.Contains(string(st), "NoNewPrivs:\t1") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("pod init without no_new_privs:\n%s", st)
			break
		}
	}
	if sid, err := unix.Getsid(p.PID); err != nil || sid != p.PID {
		t.Errorf("pod init session %d, want its own (%d): %v", sid, p.PID, err)
	}
	cg, _ := os.ReadFile("/proc/" + itoa(p.PID) + "/cgroup")
	if !strings.Contains(string(cg), sb.Resources.Cgroup.Path) {
		t.Errorf("pod init not in the pod cgroup:\n%s", cg)
	}
	if sb.PIDNamespacePath() == "" || sb.NamespacePaths()["pid"] == "" {
		t.Errorf("pid namespace path missing: %v", sb.NamespacePaths())
	}
}

func TestHostNamespaces(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	cfg := podConfig()
	cfg.Namespaces = NamespaceOptions{Network: NamespaceNode, IPC: NamespaceNode, PID: NamespaceNode}
	sb := e.run(cfg)
	r := sb.Resources
	host, _ := os.Hostname()
	if r.NetNS != "" || r.IPCNS != "" || r.UTSNS != "" || r.Network != nil || r.PodInit != nil || r.ShmPath != HostShm || len(sb.IPs) != 0 {
		t.Errorf("host-namespace pod has its own: %+v", r)
	}
	if r.Hostname != host {
		t.Errorf("hostname %q, want the host's %q", r.Hostname, host)
	}
	hostHostsFile, _ := os.ReadFile("/etc/hosts")
	if b, _ := os.ReadFile(r.HostsPath); string(b) != string(hostHostsFile) {
		t.Errorf("hosts file is not the host's")
	}
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	if b, _ := os.ReadFile(r.ResolvPath); string(b) != string(hostResolv) {
		t.Errorf("resolv.conf is not the host's")
	}
	if len(sb.NamespacePaths()) != 0 {
		t.Errorf("namespace paths %v", sb.NamespacePaths())
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	e.assertGone(sb)
}

func TestKubeletCgroupParentKept(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	// A pod cgroup made by "the kubelet" before the pod: the runtime must leave it.
	parent := e.cfg.CgroupParent + "-kubelet/podabc"
	pre := &Manager{cgroups: newCgroupTree()}
	made, err := pre.cgroups.plan("pre", parent)
	if err != nil {
		t.Fatal(err)
	}
	if err := pre.cgroups.create(made); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pre.cgroups.remove("pre", made) })

	cfg := podConfig()
	cfg.CgroupParent = parent
	sb := e.run(cfg)
	if sb.Resources.Cgroup.Path != parent || len(sb.Resources.Cgroup.Created) != 0 || len(sb.Resources.Cgroup.Ancestors) != 0 {
		t.Errorf("pod cgroup %+v: want the kubelet's, not created", sb.Resources.Cgroup)
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	for _, d := range made.Dirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("kubelet's cgroup %s removed with the pod", d)
		}
	}
}

func TestSharedCgroupParentRemovedWithLastPod(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	cfg := podConfig()
	cfg.Namespaces.Network = NamespaceNode
	a := e.run(cfg)
	cfg2 := podConfig()
	cfg2.Namespaces.Network = NamespaceNode
	b := e.run(cfg2)
	if len(a.Resources.Cgroup.Ancestors) == 0 || len(b.Resources.Cgroup.Ancestors) == 0 {
		t.Fatalf("the runtime's cgroup parent is not shared: %+v %+v", a.Resources.Cgroup, b.Resources.Cgroup)
	}
	if err := e.m.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	for _, d := range b.Resources.Cgroup.Ancestors {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("parent %s removed while pod b uses it", d)
		}
	}
	// A restart in between: the count comes back from the records.
	e.m = e.manager()
	if err := e.m.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Remove(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	e.assertGone(a)
	e.assertGone(b)
}

func TestNameReserved(t *testing.T) {
	blocked := &slowNetwork{release: make(chan struct{}), entered: make(chan struct{})}
	e := newEnv(t, blocked)
	ctx := context.Background()
	cfg := podConfig()
	done := make(chan error, 1)
	go func() {
		_, err := e.m.Run(ctx, cfg)
		done <- err
	}()
	<-blocked.entered // the first creation is in progress
	if _, err := e.m.Run(ctx, cfg); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second pod while the first is being made: %v, want AlreadyExists", err)
	}
	if n := len(e.m.List(ctx)); n != 0 {
		t.Errorf("a pod being made is listed (%d)", n)
	}
	close(blocked.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Run(ctx, cfg); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second pod: %v, want AlreadyExists", err)
	}
	other := cfg
	other.Attempt++
	e.run(other)
	pods := e.m.List(ctx)
	for _, sb := range pods {
		if err := e.m.Remove(ctx, sb.ID); err != nil {
			t.Error(err)
		}
	}
	for _, sb := range pods {
		e.assertGone(sb)
	}
}

func TestIDPrefix(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	cfg := podConfig()
	cfg.Namespaces.Network = NamespaceNode
	sb := e.run(cfg)
	got, err := e.m.Get(ctx, sb.ID[:12])
	if err != nil || got.ID != sb.ID {
		t.Errorf("get by prefix: %v", err)
	}
	if _, err := e.m.Get(ctx, "0123-not-an-id"); !errdefs.IsNotFound(err) {
		t.Errorf("unknown id: %v", err)
	}
	if err := e.m.Remove(ctx, sb.ID[:12]); err != nil {
		t.Fatal(err)
	}
	e.assertGone(sb)
}

func TestWithReadyPod(t *testing.T) {
	e := newEnv(t, newFakeNetwork())
	ctx := context.Background()
	sb := e.run(podConfig())
	var seen string
	if err := e.m.WithReadyPod(ctx, sb.ID, func(s Sandbox) error { seen = s.Resources.NetNS; return nil }); err != nil || seen != sb.Resources.NetNS {
		t.Fatalf("ready pod: %v %q", err, seen)
	}
	if err := e.m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.m.WithReadyPod(ctx, sb.ID, func(Sandbox) error { return nil }); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("stopped pod: %v", err)
	}
	if err := e.m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.m.WithReadyPod(ctx, sb.ID, func(Sandbox) error { return nil }); !errdefs.IsNotFound(err) {
		t.Errorf("removed pod: %v", err)
	}
	e.assertNothingLeft()
}
