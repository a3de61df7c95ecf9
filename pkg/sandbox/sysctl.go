package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/sandbox/podns"
)

const procSys = "/proc/sys/"

// Bounds on a sysctl's name and value (a value is one write of at most a page).
const (
	maxSysctlName  = 256
	maxSysctlValue = 4096
)

// notSysctlNameRune is true for a rune no sysctl name holds: names are
// letters, digits, '_' and '-' in components joined by '.' or '/'.
func notSysctlNameRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' || r == '/')
}

// sysctl is one namespaced kernel parameter to set in the pod.
type sysctl struct {
	name, value, path string
	ns                podns.Kind
}

// sysctlTarget checks that name is a sysctl the pod's own namespaces
// scope, and returns where it is written. net.* needs the pod's network
// namespace; kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* its IPC
// namespace. Names take dots or, as the kernel's sysctl(8), slashes (where
// a dot is part of a name: "net/ipv4/conf/eth0.100/forwarding").
func sysctlTarget(name, value string, ns NamespaceOptions) (sysctl, error) {
	dotted, rel := name, strings.ReplaceAll(name, ".", "/")
	if strings.Contains(name, "/") {
		rel = name
		dotted = strings.Map(func(r rune) rune {
			switch r {
			case '/':
				return '.'
			case '.':
				return '/'
			}
			return r
		}, name)
	}
	p := procSys + rel
	if name == "" || len(name) > maxSysctlName || filepath.Clean(p) != p || strings.Contains(rel, "..") || strings.IndexFunc(name, notSysctlNameRune) >= 0 {
		return sysctl{}, invalid("sysctl %q is not a sysctl name", name)
	}
	// No '+' or '=' either: "k=v+k2=v2" is how CRI-O once passed sysctls
	// to a helper, and a value holding it set kernel.core_pattern on the
	// host (CVE-2022-0811); no value of a namespaced sysctl needs them.
	if len(value) > maxSysctlValue || strings.IndexFunc(value, unicode.IsControl) >= 0 || strings.ContainsAny(value, "+=") {
		return sysctl{}, invalid("sysctl %s value %.100q is longer than %d bytes or holds control characters, '+' or '='", name, value, maxSysctlValue)
	}
	s := sysctl{name: name, value: value, path: p}
	switch {
	case strings.HasPrefix(dotted, "net."):
		if ns.Network == NamespaceNode {
			return sysctl{}, invalid("sysctl %s: the pod uses the host's network namespace", name)
		}
		s.ns = podns.Net
	case strings.HasPrefix(dotted, "kernel.shm"), strings.HasPrefix(dotted, "kernel.msg"),
		dotted == "kernel.sem", strings.HasPrefix(dotted, "fs.mqueue."):
		if ns.IPC == NamespaceNode {
			return sysctl{}, invalid("sysctl %s: the pod uses the host's IPC namespace", name)
		}
		s.ns = podns.IPC
	default:
		return sysctl{}, invalid("sysctl %s is not namespaced (allowed: net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)", name)
	}
	return s, nil
}

// podSysctls lists the pod's sysctls in name order.
func podSysctls(c *Config) ([]sysctl, error) {
	out := make([]sysctl, 0, len(c.Sysctls))
	for k, v := range c.Sysctls {
		s, err := sysctlTarget(k, v, c.Namespaces)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// write sets the sysctl; the calling thread must be in the pod's namespaces.
func (s sysctl) write() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return invalid("sysctl %s does not exist", s.name)
		}
		return fmt.Errorf("sysctl %s: %w", s.name, err)
	}
	_, err = f.WriteString(s.value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sysctl %s=%q: %w: %w", s.name, s.value, errdefs.ErrInvalidArgument, err)
	}
	return nil
}
