package sandbox

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Bounds on request fields.
const (
	maxMetaLen     = 512
	maxHostnameLen = 64 // sethostname(2)
	maxDNSEntries  = 32
	maxDNSEntryLen = 253
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// validate checks a pod's config and fills in its defaults.
func validate(c *Config) error {
	for _, f := range []struct{ name, v string }{{"metadata.name", c.Name}, {"metadata.namespace", c.Namespace}, {"metadata.uid", c.UID}} {
		if f.v == "" {
			return invalid("pod %s is required", f.name)
		}
		// They reach CNI plugins in CNI_ARGS ("K=V;K=V"): no separators, no controls.
		if len(f.v) > maxMetaLen || strings.ContainsAny(f.v, ";=") || strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return invalid("pod %s %q: longer than %d bytes or holds ';', '=' or control characters", f.name, f.v, maxMetaLen)
		}
	}
	if c.RuntimeHandler != "" {
		return invalid("pod %s/%s: runtime handler %q does not exist (only the default \"\")", c.Namespace, c.Name, c.RuntimeHandler)
	}
	if err := validHostname(c.Hostname); err != nil {
		return err
	}
	if c.LogDirectory != "" && (!filepath.IsAbs(c.LogDirectory) || filepath.Clean(c.LogDirectory) != c.LogDirectory) {
		return invalid("pod log directory %q is not a clean absolute path", c.LogDirectory)
	}
	if c.DNS != nil {
		if err := validDNS(c.DNS); err != nil {
			return err
		}
	}
	for i, pm := range c.PortMappings {
		if err := validPortMapping(&c.PortMappings[i]); err != nil {
			return fmt.Errorf("port mapping %d (%+v): %w", i, pm, err)
		}
	}
	if c.CgroupParent != "" {
		if err := validCgroupPath(c.CgroupParent); err != nil {
			return err
		}
	}
	ns := c.Namespaces
	if ns.Network != NamespaceNode {
		c.Namespaces.Network = NamespacePod
	}
	if ns.IPC != NamespaceNode {
		c.Namespaces.IPC = NamespacePod
	}
	if ns.Network < NamespacePod || ns.Network > NamespaceNode || ns.IPC < NamespacePod || ns.IPC > NamespaceNode {
		return invalid("pod namespace options %+v: network and ipc take POD or NODE", ns)
	}
	if ns.PID < NamespacePod || ns.PID > NamespaceNode {
		return invalid("pod namespace options %+v: pid takes POD, CONTAINER or NODE", ns)
	}
	if err := validUserNS(c); err != nil {
		return err
	}
	for k, v := range c.Sysctls {
		if _, err := sysctlTarget(k, v, c.Namespaces); err != nil {
			return err
		}
	}
	return nil
}

// validHostname accepts "" or an RFC 1123 host name of at most 64 bytes.
func validHostname(h string) error {
	if h == "" {
		return nil
	}
	if len(h) > maxHostnameLen {
		return invalid("hostname %q is longer than %d bytes", h, maxHostnameLen)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return invalid("hostname %q is not an RFC 1123 host name", h)
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return invalid("hostname %q is not an RFC 1123 host name", h)
			}
		}
	}
	return nil
}

// validDNS checks the resolver settings, which become lines of resolv.conf.
func validDNS(d *DNSConfig) error {
	if len(d.Servers) > maxDNSEntries || len(d.Searches) > maxDNSEntries || len(d.Options) > maxDNSEntries {
		return invalid("dns config has more than %d servers, searches or options", maxDNSEntries)
	}
	for _, s := range d.Servers {
		if _, err := netip.ParseAddr(s); err != nil {
			return invalid("dns server %q is not an IP address", s)
		}
	}
	for _, list := range [][]string{d.Searches, d.Options} {
		for _, s := range list {
			if s == "" || len(s) > maxDNSEntryLen || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
				return invalid("dns search or option %q is empty, too long or holds spaces", s)
			}
		}
	}
	return nil
}

func validPortMapping(pm *PortMapping) error {
	switch pm.Protocol {
	case "tcp", "udp", "sctp":
	default:
		return invalid("protocol %q is not tcp, udp or sctp", pm.Protocol)
	}
	if pm.ContainerPort < 0 || pm.ContainerPort > 65535 || pm.HostPort < 0 || pm.HostPort > 65535 {
		return invalid("port outside 0..65535")
	}
	if pm.HostIP != "" {
		if _, err := netip.ParseAddr(pm.HostIP); err != nil {
			return invalid("host IP %q is not an IP address", pm.HostIP)
		}
	}
	return nil
}
