package network

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// IPRange is one entry of the ipRanges capability (host-local's runtime
// address ranges).
type IPRange struct {
	Subnet string `json:"subnet"`
}

// ParsePodCIDR checks a pod CIDR as the kubelet sends it in
// UpdateRuntimeConfig: "" (none), or a comma list of networks, at most one
// per IP family, each with room for pod addresses. It returns them IPv4 first.
func ParsePodCIDR(s string) ([]netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var v4, v6 []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("pod CIDR %q: %q is not a CIDR: %w", s, part, errdefs.ErrInvalidArgument)
		}
		if p.Masked() != p {
			return nil, fmt.Errorf("pod CIDR %q: %s has host bits set (the network is %s): %w", s, p, p.Masked(), errdefs.ErrInvalidArgument)
		}
		if p.Bits() > p.Addr().BitLen()-2 {
			return nil, fmt.Errorf("pod CIDR %q: %s is too small to hold pod addresses: %w", s, p, errdefs.ErrInvalidArgument)
		}
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	if len(v4) > 1 || len(v6) > 1 {
		return nil, fmt.Errorf("pod CIDR %q: more than one network of one IP family: %w", s, errdefs.ErrInvalidArgument)
	}
	return append(v4, v6...), nil
}

// joinPrefixes writes networks as a comma list.
func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// SetPodCIDR makes cidrs (from ParsePodCIDR; nil clears) the pod network
// of pods planned from now on: the built-in network's subnets instead of
// cni.subnet, and for an operator's network the ipRanges capability, which
// host-local and other IPAM plugins that declare it use as their ranges.
// Pods already attached keep their addresses.
func (c *CNI) SetPodCIDR(cidrs []netip.Prefix) {
	if len(cidrs) == 0 {
		c.podCIDR.Store(nil)
		return
	}
	c.podCIDR.Store(&cidrs)
}

// PodCIDR returns the pod CIDR in force, nil when none was set.
func (c *CNI) PodCIDR() []netip.Prefix {
	if p := c.podCIDR.Load(); p != nil {
		return *p
	}
	return nil
}

// ipRanges is the ipRanges capability of cidrs: one range set per family.
func ipRanges(cidrs []netip.Prefix) [][]IPRange {
	out := make([][]IPRange, 0, len(cidrs))
	for _, p := range cidrs {
		out = append(out, []IPRange{{Subnet: p.String()}})
	}
	return out
}
