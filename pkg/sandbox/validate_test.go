package sandbox

import (
	"context"
	"strings"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func TestValidation(t *testing.T) {
	e := newEnv(t, newFakeNetwork())
	for name, edit := range map[string]func(c *Config){
		"no name":            func(c *Config) { c.Name = "" },
		"no namespace":       func(c *Config) { c.Namespace = "" },
		"no uid":             func(c *Config) { c.UID = "" },
		"cni args injection": func(c *Config) { c.Name = "a;K8S_POD_NAME=b" },
		"runtime handler":    func(c *Config) { c.RuntimeHandler = "kata" },
		"hostname":           func(c *Config) { c.Hostname = "bad_host" },
		"long hostname":      func(c *Config) { c.Hostname = strings.Repeat("a", 65) },
		"dns server":         func(c *Config) { c.DNS = &DNSConfig{Servers: []string{"not-an-ip"}} },
		"dns search newline": func(c *Config) { c.DNS = &DNSConfig{Searches: []string{"a\nnameserver 1.2.3.4"}} },
		"dns option space":   func(c *Config) { c.DNS = &DNSConfig{Options: []string{"ndots:1 x"}} },
		"protocol":           func(c *Config) { c.PortMappings = []PortMapping{{Protocol: "icmp", ContainerPort: 1}} },
		"host ip": func(c *Config) {
			c.PortMappings = []PortMapping{{Protocol: "tcp", ContainerPort: 1, HostPort: 2, HostIP: "x"}}
		},
		"cgroup relative":       func(c *Config) { c.CgroupParent = "kubepods/pod1" },
		"cgroup dotdot":         func(c *Config) { c.CgroupParent = "/kubepods/../etc" },
		"cgroup slice":          func(c *Config) { c.CgroupParent = "/kubepods.slice" },
		"non-namespaced sysctl": func(c *Config) { c.Sysctls = map[string]string{"kernel.panic": "1"} },
		"uts sysctl":            func(c *Config) { c.Sysctls = map[string]string{"kernel.hostname": "x"} },
		"sysctl escape":         func(c *Config) { c.Sysctls = map[string]string{"net/../../kernel/panic": "1"} },
		"net sysctl host net": func(c *Config) {
			c.Namespaces.Network = NamespaceNode
			c.Sysctls = map[string]string{"net.core.somaxconn": "1"}
		},
		"ipc sysctl host ipc": func(c *Config) {
			c.Namespaces.IPC = NamespaceNode
			c.Sysctls = map[string]string{"kernel.shmmax": "1"}
		},
		"pid target":   func(c *Config) { c.Namespaces.PID = 3 },
		"log dir":      func(c *Config) { c.LogDirectory = "relative/logs" },
		"bandwidth":    func(c *Config) { c.Annotations = map[string]string{"kubernetes.io/ingress-bandwidth": "lots"} },
		"bandwidth lo": func(c *Config) { c.Annotations = map[string]string{"kubernetes.io/egress-bandwidth": "10"} },
	} {
		cfg := podConfig()
		edit(&cfg)
		if _, err := e.m.Run(context.Background(), cfg); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	e.assertNothingLeft()
}

func TestSysctlTarget(t *testing.T) {
	for name, want := range map[string]string{
		"net.ipv4.ip_forward":               "/proc/sys/net/ipv4/ip_forward",
		"net/ipv4/conf/eth0.100/forwarding": "/proc/sys/net/ipv4/conf/eth0.100/forwarding",
		"kernel.sem":                        "/proc/sys/kernel/sem",
		"fs.mqueue.msg_max":                 "/proc/sys/fs/mqueue/msg_max",
	} {
		s, err := sysctlTarget(name, "1", NamespaceOptions{})
		if err != nil || s.path != want {
			t.Errorf("%s: %q %v, want %s", name, s.path, err, want)
		}
	}
}

// TestSysctlTargetRefusesInjection covers names and values outside the
// pod's namespaces or in CRI-O's CVE-2022-0811 "k=v+k2=v2" form.
func TestSysctlTargetRefusesInjection(t *testing.T) {
	for _, c := range []struct{ name, value string }{
		{"kernel.shm_rmid_forced", "1+kernel.core_pattern=|/x"},
		{"kernel.shm_rmid_forced=1+kernel.core_pattern", "|/x"},
		{"kernel.shm_rmid_forced", "1=kernel.core_pattern"},
		{"kernel.shm_rmid_forced", "1\nkernel.core_pattern=|/x"},
		{"kernel.shm_rmid_forced", strings.Repeat("1", 5000)},
		{"net.ipv4.ip_forward\x00", "1"},
		{"net.ipv4.ip_forward\u00a0", "1"},
		{"kernel.core_pattern", "|/x"},
		{"kernel.shmmax/../core_pattern", "1"},
		{"net/../kernel/core_pattern", "1"},
		{"vm.overcommit_memory", "1"},
	} {
		if _, err := sysctlTarget(c.name, c.value, NamespaceOptions{}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("sysctl %q=%q: %v, want invalid argument", c.name, c.value, err)
		}
	}
	if _, err := sysctlTarget("net.ipv4.ip_local_port_range", "32768 60999", NamespaceOptions{}); err != nil {
		t.Errorf("a port range: %v", err)
	}
}
