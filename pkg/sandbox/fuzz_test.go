package sandbox

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/cri-shim/cri-shim/pkg/sandbox/podns"
)

// FuzzValidateConfig feeds arbitrary pod configs (as JSON) to the pod
// request validation: it must never panic, and what it accepts must be
// safe to use: names without CNI_ARGS separators or control characters, a
// clean absolute log directory, a clean cgroup parent, and sysctls written
// only below /proc/sys, in the pod's own namespaces, with values that hold
// no control character, '+' or '='.
func FuzzValidateConfig(f *testing.F) {
	for _, seed := range []string{
		`{"name":"p","namespace":"n","uid":"u"}`,
		`{"name":"p","namespace":"n","uid":"u","logDirectory":"/var/log/pods/n_p_u","hostname":"h","cgroupParent":"/kubepods"}`,
		`{"name":"p","namespace":"n","uid":"u","sysctls":{"kernel.shm_rmid_forced":"1+kernel.core_pattern=|/x"}}`,
		`{"name":"p","namespace":"n","uid":"u","sysctls":{"net/ipv4/conf/eth0.100/forwarding":"1","kernel.shmmax/../core_pattern":"1"}}`,
		`{"name":"../../etc","namespace":"a;b=c","uid":"\u0000","logDirectory":"/var/log/../../etc"}`,
		`{"name":"p","namespace":"n","uid":"u","dns":{"servers":["1.1.1.1"],"searches":["a b"],"options":["ndots:5"]},"portMappings":[{"protocol":"tcp","containerPort":80,"hostPort":70000}]}`,
		`{"name":"p","namespace":"n","uid":"u","namespaces":{"network":2,"ipc":2,"pid":1},"sysctls":{"net.ipv4.ip_forward":"1"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		if json.Unmarshal(data, &c) != nil {
			return
		}
		if err := validate(&c); err != nil {
			return
		}
		for _, v := range []string{c.Name, c.Namespace, c.UID} {
			if v == "" || strings.ContainsAny(v, ";=") || strings.IndexFunc(v, unicode.IsControl) >= 0 {
				t.Fatalf("accepted metadata %q", v)
			}
		}
		if c.LogDirectory != "" && (!filepath.IsAbs(c.LogDirectory) || filepath.Clean(c.LogDirectory) != c.LogDirectory) {
			t.Fatalf("accepted log directory %q", c.LogDirectory)
		}
		if c.CgroupParent != "" && (filepath.Clean(c.CgroupParent) != c.CgroupParent || strings.Contains(c.CgroupParent, "..")) {
			t.Fatalf("accepted cgroup parent %q", c.CgroupParent)
		}
		sysctls, err := podSysctls(&c)
		if err != nil {
			t.Fatalf("validated sysctls refused: %v", err)
		}
		for _, s := range sysctls {
			rel, err := filepath.Rel(procSys, s.path)
			if err != nil || filepath.Clean(s.path) != s.path || strings.HasPrefix(rel, "..") || rel == "." {
				t.Fatalf("sysctl %q written at %q", s.name, s.path)
			}
			if strings.ContainsAny(s.value, "+=") || strings.IndexFunc(s.value, unicode.IsControl) >= 0 {
				t.Fatalf("sysctl %q accepted value %q", s.name, s.value)
			}
			if (s.ns == podns.Net) != strings.HasPrefix(rel, "net/") || s.ns != podns.Net && s.ns != podns.IPC {
				t.Fatalf("sysctl %q (%s) not in the pod namespace it needs", s.name, s.ns)
			}
		}
	})
}
