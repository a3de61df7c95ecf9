package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// Host files a pod's files start from.
var (
	hostResolvConf = "/etc/resolv.conf"
	hostHosts      = "/etc/hosts"
)

// defaultHosts is a pod's /etc/hosts with its own network namespace; the
// kubelet usually mounts its own over it.
const defaultHosts = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
`

// writePodFiles writes the pod's hostname, hosts and resolv.conf.
func writePodFiles(sb *Sandbox) error {
	r := &sb.Resources
	if err := os.WriteFile(r.HostnamePath, []byte(r.Hostname+"\n"), 0o644); err != nil {
		return fmt.Errorf("hostname file: %w", err)
	}
	hosts := []byte(defaultHosts)
	if sb.Config.Namespaces.Network == NamespaceNode {
		b, err := os.ReadFile(hostHosts)
		if err != nil {
			return fmt.Errorf("host hosts file: %w", err)
		}
		hosts = b
	}
	if err := os.WriteFile(r.HostsPath, hosts, 0o644); err != nil {
		return fmt.Errorf("hosts file: %w", err)
	}
	resolv, err := resolvConf(sb.Config.DNS)
	if err != nil {
		return err
	}
	if err := os.WriteFile(r.ResolvPath, resolv, 0o644); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	return nil
}

// resolvConf is the pod's resolv.conf: from its DNS config, or the host's
// when it has none.
func resolvConf(dns *DNSConfig) ([]byte, error) {
	if dns == nil || len(dns.Servers)+len(dns.Searches)+len(dns.Options) == 0 {
		b, err := os.ReadFile(hostResolvConf)
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("host resolv.conf: %w", err)
		}
		return b, nil
	}
	var b bytes.Buffer
	if len(dns.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.Searches, " "))
	}
	for _, s := range dns.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(dns.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.Options, " "))
	}
	return b.Bytes(), nil
}
