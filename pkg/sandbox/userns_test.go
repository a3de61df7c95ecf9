package sandbox

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/sandbox/podns"
)

func usernsConfig(size uint32) *UserNamespace {
	m := []IDMapping{{ContainerID: 0, HostID: 1 << 20, Size: size}}
	return &UserNamespace{UIDs: m, GIDs: m}
}

func TestUserNSValidation(t *testing.T) {
	e := newEnv(t, newFakeNetwork())
	two := []IDMapping{{0, 1000, 10}, {10, 2000, 10}}
	for name, edit := range map[string]func(c *Config){
		"two uid mappings":  func(c *Config) { c.UserNS.UIDs = two },
		"no gid mapping":    func(c *Config) { c.UserNS.GIDs = nil },
		"root not mapped":   func(c *Config) { c.UserNS.UIDs = []IDMapping{{1, 1000, 100}} },
		"empty mapping":     func(c *Config) { c.UserNS.GIDs = []IDMapping{{0, 1000, 0}} },
		"overflow":          func(c *Config) { c.UserNS.UIDs = []IDMapping{{0, 1 << 31, 1 << 31}} },
		"host network":      func(c *Config) { c.Namespaces.Network = NamespaceNode },
		"host IPC":          func(c *Config) { c.Namespaces.IPC = NamespaceNode },
		"host PID":          func(c *Config) { c.Namespaces.PID = NamespaceNode },
		"mapping too large": func(c *Config) { c.UserNS.UIDs = []IDMapping{{0, 1, ^uint32(0)}} },
	} {
		cfg := podConfig()
		cfg.UserNS = usernsConfig(65536)
		edit(&cfg)
		if _, err := e.m.Run(context.Background(), cfg); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	e.assertNothingLeft()
}

// nsOwner is the inode of the user namespace owning the namespace at path.
func nsOwner(t *testing.T, path string) uint64 {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ufd, err := unix.IoctlRetInt(fd, unix.NS_GET_USERNS)
	if err != nil {
		t.Fatalf("owner of %s: %v", path, err)
	}
	defer unix.Close(ufd)
	var st unix.Stat_t
	if err := unix.Fstat(ufd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestUserNSPod checks that a pod with a user namespace owns its network,
// IPC, UTS and PID namespaces through it, with or without a PID namespace,
// and that stop and removal leave nothing.
func TestUserNSPod(t *testing.T) {
	for _, pid := range []NamespaceMode{NamespacePod, NamespaceContainer} {
		t.Run(pid.String(), func(t *testing.T) {
			e := newEnv(t, newFakeNetwork())
			cfg := podConfig()
			cfg.Hostname = "userns-pod"
			cfg.Namespaces.PID = pid
			cfg.UserNS = usernsConfig(65536)
			cfg.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}
			sb := e.run(cfg)
			r := sb.Resources
			if !podns.Pinned(podns.User, r.UserNS) {
				t.Fatalf("user namespace not pinned at %q", r.UserNS)
			}
			userns := inode(t, r.UserNS)
			for _, pin := range []string{r.NetNS, r.IPCNS, r.UTSNS} {
				if got := nsOwner(t, pin); got != userns {
					t.Errorf("%s owned by user namespace %d, want the pod's %d", pin, got, userns)
				}
			}
			if pid == NamespacePod {
				if r.PodInit == nil {
					t.Fatal("no pod init")
				}
				if got := nsOwner(t, sb.PIDNamespacePath()); got != userns {
					t.Errorf("PID namespace owned by %d, want the pod's %d", got, userns)
				}
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", r.PodInit.PID))
				if err != nil || strings.Join(strings.Fields(string(b)), " ") != "0 1048576 65536" {
					t.Errorf("pod init uid_map %q (%v)", b, err)
				}
				st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.PodInit.PID))
				if !strings.Contains(string(st), fmt.Sprintf("Uid:\t%d\t", 1<<20+nobody)) {
					t.Errorf("pod init does not run as the namespace's nobody:\n%s", st)
				}
			} else if procs := findPodInit(sb.ID); len(procs) > 0 {
				t.Errorf("the namespaces' holder still runs: %+v", procs)
			}
			var uts unix.Utsname
			if err := podns.Do(map[podns.Kind]string{podns.UTS: r.UTSNS}, func() error { return unix.Uname(&uts) }); err != nil {
				t.Fatal(err)
			}
			if h := unix.ByteSliceToString(uts.Nodename[:]); h != "userns-pod" {
				t.Errorf("hostname %q", h)
			}
			ctx := context.Background()
			if err := e.m.Stop(ctx, sb.ID); err != nil {
				t.Fatal(err)
			}
			if err := e.m.Remove(ctx, sb.ID); err != nil {
				t.Fatal(err)
			}
			e.assertGone(sb)
			e.assertNothingLeft()
		})
	}
}
