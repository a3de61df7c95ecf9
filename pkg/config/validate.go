package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// maxSocketPath is the longest path a unix socket address holds (sun_path less its NUL).
const maxSocketPath = 107

// Validate checks every setting and returns the first problem found as a
// *KeyError naming its TOML key. Run it again after Flags.Apply.
func (c *Config) Validate() error {
	if c == nil {
		return errors.New("config: nil")
	}
	v := &validator{}
	v.absPath("socket", c.Socket)
	if len(c.Socket) > maxSocketPath {
		v.fail("socket", fmt.Errorf("path is %d bytes, more than the %d a unix socket allows", len(c.Socket), maxSocketPath))
	}
	v.absPath("root_dir", c.RootDir)
	v.absPath("state_dir", c.StateDir)
	if c.SpareMonitors < 0 || c.SpareMonitors > 16 {
		v.fail("spare_monitors", fmt.Errorf("%d is outside 0..16", c.SpareMonitors))
	}
	if c.LogLevel < 0 || c.LogLevel > 10 {
		v.fail("log_level", fmt.Errorf("%d is outside 0..10", c.LogLevel))
	}
	v.positive("shutdown_timeout", c.ShutdownTimeout)
	switch c.CgroupDriver {
	case "", "cgroupfs", "systemd":
	default:
		v.fail("cgroup_driver", fmt.Errorf("%q is not one of \"\" (detect), \"cgroupfs\", \"systemd\"", c.CgroupDriver))
	}
	v.cgroupParent(c.CgroupDriver, c.CgroupParent)
	if c.MetricsAddress != "" {
		if err := checkListenAddress(c.MetricsAddress); err != nil {
			v.fail("metrics_address", err)
		}
	}

	if _, err := netip.ParseAddr(c.Stream.Address); err != nil {
		v.fail("stream.address", fmt.Errorf("%q is not an IP address", c.Stream.Address))
	}
	if c.Stream.Port < 0 || c.Stream.Port > 65535 {
		v.fail("stream.port", fmt.Errorf("%d is outside 0..65535", c.Stream.Port))
	}

	v.absPath("cni.conf_dir", c.CNI.ConfDir)
	if len(c.CNI.BinDirs) == 0 {
		v.fail("cni.bin_dirs", errors.New("must list at least one directory"))
	}
	for i, d := range c.CNI.BinDirs {
		v.absPath(fmt.Sprintf("cni.bin_dirs[%d]", i), d)
	}
	if c.CNI.CacheDir != "" {
		v.absPath("cni.cache_dir", c.CNI.CacheDir)
	}
	if err := checkInterfaceName(c.CNI.BridgeName); err != nil {
		v.fail("cni.bridge_name", err)
	}
	if err := checkSubnet(c.CNI.Subnet); err != nil {
		v.fail("cni.subnet", err)
	}
	v.positive("cni.plugin_timeout", c.CNI.PluginTimeout)

	v.positive("image.pull_timeout", c.Image.PullTimeout)
	v.positive("image.pull_progress_timeout", c.Image.PullProgressTimeout)
	if c.Image.MaxConcurrentDownloads < 1 {
		v.fail("image.max_concurrent_downloads", fmt.Errorf("%d is less than 1", c.Image.MaxConcurrentDownloads))
	}
	if c.Image.MaxLayerBytes <= 0 {
		v.fail("image.max_layer_bytes", fmt.Errorf("%d is not positive", c.Image.MaxLayerBytes))
	}
	if c.Image.MaxLayerEntries <= 0 {
		v.fail("image.max_layer_entries", fmt.Errorf("%d is not positive", c.Image.MaxLayerEntries))
	}

	if c.NRI.Enable {
		v.absPath("nri.socket_path", c.NRI.SocketPath)
		if len(c.NRI.SocketPath) > maxSocketPath {
			v.fail("nri.socket_path", fmt.Errorf("path is %d bytes, more than the %d a unix socket allows", len(c.NRI.SocketPath), maxSocketPath))
		}
		v.absPath("nri.plugin_path", c.NRI.PluginPath)
		v.absPath("nri.plugin_config_path", c.NRI.PluginConfigPath)
		v.positive("nri.plugin_registration_timeout", c.NRI.PluginRegistrationTimeout)
		v.positive("nri.plugin_request_timeout", c.NRI.PluginRequestTimeout)
	}

	v.registries(c.Registries)
	return v.err
}

// validator keeps the first problem found; later checks are no-ops.
type validator struct{ err error }

func (v *validator) fail(key string, err error) {
	if v.err == nil {
		v.err = &KeyError{Key: key, Err: err}
	}
}

func (v *validator) absPath(key, p string) {
	switch {
	case p == "":
		v.fail(key, errors.New("must not be empty"))
	case !filepath.IsAbs(p):
		v.fail(key, fmt.Errorf("%q is not an absolute path", p))
	case strings.ContainsRune(p, 0):
		v.fail(key, fmt.Errorf("%q contains a NUL byte", p))
	}
}

func (v *validator) positive(key string, d Duration) {
	if d.Duration <= 0 {
		v.fail(key, fmt.Errorf("%s is not a positive duration", d))
	}
}

func (v *validator) cgroupParent(driver, p string) {
	const key = "cgroup_parent"
	slice := strings.HasSuffix(p, ".slice") && len(p) > len(".slice") && !strings.Contains(p, "/")
	abs := filepath.IsAbs(p) && filepath.Clean(p) == p
	switch {
	case p == "":
		v.fail(key, errors.New("must not be empty"))
	case driver == "systemd" && !slice:
		v.fail(key, fmt.Errorf("%q is not a systemd slice such as \"cri-shim.slice\" (cgroup_driver is systemd)", p))
	case driver == "cgroupfs" && !abs:
		v.fail(key, fmt.Errorf("%q is not a clean absolute path (cgroup_driver is cgroupfs)", p))
	case driver == "" && !slice && !abs:
		v.fail(key, fmt.Errorf("%q is neither a clean absolute path nor a systemd slice", p))
	}
}

func (v *validator) registries(regs map[string]RegistryConfig) {
	hosts := slices.Sorted(maps.Keys(regs))
	seen := map[string]string{} // canonical host -> key as written
	for _, host := range hosts {
		key := registryKey(host)
		if err := checkHostPort(host); err != nil {
			v.fail(key, fmt.Errorf("registry key must be a host[:port]: %w", err))
			continue
		}
		canon := canonicalRegistry(host)
		if other, ok := seen[canon]; ok {
			v.fail(key, fmt.Errorf("names the same registry as %q", other))
		}
		seen[canon] = host
		for i, m := range regs[host].Mirrors {
			if _, err := parseMirror(m); err != nil {
				v.fail(fmt.Sprintf("%s.mirrors[%d]", key, i), err)
			}
		}
	}
}

// registryKey is the TOML key of a [registries] entry, e.g. `registries."gcr.io"`.
func registryKey(host string) string {
	return toml.Key{"registries", host}.String()
}

// checkListenAddress wants ip:port, with a port 0..65535 (0 picks one).
func checkListenAddress(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not an ip:port such as \"127.0.0.1:9090\"", s)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("%q: %q is not an IP address", s, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("%q: invalid port %q", s, port)
	}
	return nil
}

// checkInterfaceName applies the kernel's rules for a network interface name.
func checkInterfaceName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > 15:
		return fmt.Errorf("%q is longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a valid interface name", name)
	case strings.ContainsFunc(name, func(r rune) bool {
		return r == '/' || r == ':' || r <= ' ' || r == 0x7f || r > 0x7e
	}):
		return fmt.Errorf("%q is not a valid interface name (no '/', ':', spaces or control characters)", name)
	}
	return nil
}

// checkSubnet wants a network in CIDR form with room for pod addresses.
func checkSubnet(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("%q is not a CIDR such as \"10.217.0.0/16\"", s)
	}
	if p.Masked() != p {
		return fmt.Errorf("%q has host bits set (the network is %s)", s, p.Masked())
	}
	if p.Bits() > p.Addr().BitLen()-2 {
		return fmt.Errorf("%q is too small to hold pod addresses", s)
	}
	return nil
}

// parseMirror turns a mirror as written in the file into an Endpoint.
// A bare host[:port][/path] means https.
func parseMirror(s string) (Endpoint, error) {
	if s == "" {
		return Endpoint{}, errors.New("empty mirror URL")
	}
	raw := s
	if !strings.Contains(s, "://") {
		raw = "https://" + s
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Endpoint{}, fmt.Errorf("invalid mirror URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return Endpoint{}, fmt.Errorf("mirror %q: scheme must be http or https", s)
	case u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return Endpoint{}, fmt.Errorf("mirror %q: want scheme://host[:port][/path], without user, query or fragment", s)
	}
	if err := checkHostPort(u.Host); err != nil {
		return Endpoint{}, fmt.Errorf("mirror %q: %w", s, err)
	}
	return Endpoint{
		Host:       u.Host,
		PathPrefix: strings.TrimRight(u.Path, "/"),
		PlainHTTP:  u.Scheme == "http",
		Mirror:     true,
	}, nil
}

// checkHostPort wants host[:port]: a DNS name, an IPv4 address or a
// bracketed IPv6 address, and an optional port 1..65535.
func checkHostPort(s string) error {
	switch {
	case s == "":
		return errors.New("no host")
	case strings.Contains(s, "://"):
		return fmt.Errorf("%q has a scheme; write only host[:port]", s)
	case strings.ContainsAny(s, "/?#@"):
		return fmt.Errorf("%q has a path or other URL parts; write only host[:port]", s)
	}
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		host = h
		n, err := strconv.Atoi(port)
		if err != nil || strings.Trim(port, "0123456789") != "" || n < 1 || n > 65535 {
			return fmt.Errorf("%q: invalid port %q", s, port)
		}
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	} else if strings.Contains(s, ":") {
		return fmt.Errorf("%q is not host[:port] (write an IPv6 address in brackets)", s)
	}
	bracketed := strings.HasPrefix(s, "[")
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is6() != bracketed || a.Zone() != "" {
			return fmt.Errorf("%q is not host[:port] (write an IPv6 address in brackets)", s)
		}
		return nil
	}
	if bracketed {
		return fmt.Errorf("%q: %q is not an IPv6 address", s, host)
	}
	return checkHostname(host)
}

// checkHostname applies DNS label rules: dot-separated labels of letters,
// digits and inner hyphens, 1..63 bytes each.
func checkHostname(h string) error {
	if h == "" || len(h) > 253 {
		return fmt.Errorf("%q is not a valid host name", h)
	}
	for label := range strings.SplitSeq(h, ".") {
		ok := label != "" && len(label) <= 63 && label[0] != '-' && label[len(label)-1] != '-' &&
			!strings.ContainsFunc(label, func(r rune) bool {
				return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-'
			})
		if !ok {
			return fmt.Errorf("%q is not a valid host name", h)
		}
	}
	return nil
}
