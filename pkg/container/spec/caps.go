package spec

import (
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/pkg/cap"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// allCaps is the CRI word for every capability.
const allCaps = "ALL"

// capabilities applies the request's adds and drops to the default set the
// way containerd and the kubelet expect: "ALL" in Add grants every
// capability the daemon has, "ALL" in Drop empties the set, and then the
// named adds and drops apply, so drop ALL + add X leaves only X. The set goes
// to the bounding, effective and permitted sets; inheritable and ambient stay empty.
func (b *builder) capabilities() error {
	in := b.in
	add, addAll, err := in.capNames(in.Security.Capabilities.Add)
	if err != nil {
		return err
	}
	drop, dropAll, err := in.capNames(in.Security.Capabilities.Drop)
	if err != nil {
		return err
	}
	set := slices.Clone(b.s.Process.Capabilities.Bounding)
	if addAll {
		host, err := b.daemonCaps()
		if err != nil {
			return err
		}
		set = slices.Clone(host)
	}
	if dropAll {
		set = nil
	}
	for _, c := range add {
		if !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	set = slices.DeleteFunc(set, func(c string) bool { return slices.Contains(drop, c) })
	b.setCaps(set)
	return nil
}

// setCaps sets the bounding, effective and permitted sets and clears the others.
func (b *builder) setCaps(set []string) {
	c := b.s.Process.Capabilities
	c.Bounding = slices.Clone(set)
	c.Effective = slices.Clone(set)
	c.Permitted = slices.Clone(set)
	c.Inheritable = nil
	c.Ambient = nil
}

// capNames normalises CRI capability names ("net_admin", "CAP_NET_ADMIN") to
// the OCI form and reports whether "ALL" was among them. Unknown names are refused.
func (in *Input) capNames(names []string) (out []string, all bool, err error) {
	known := cap.Known()
	for _, n := range names {
		if strings.EqualFold(n, allCaps) {
			all = true
			continue
		}
		c := strings.ToUpper(n)
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !slices.Contains(known, c) {
			return nil, false, in.errorf(errdefs.ErrInvalidArgument, "unknown capability %q", n)
		}
		out = append(out, c)
	}
	return out, all, nil
}

// daemonCaps returns the capabilities the daemon holds: Host.Capabilities,
// else the effective set in /proc/self/status.
func (b *builder) daemonCaps() ([]string, error) {
	if b.hostCaps != nil {
		return b.hostCaps, nil
	}
	if b.in.Host.Capabilities != nil {
		b.hostCaps = b.in.Host.Capabilities
		return b.hostCaps, nil
	}
	caps, err := cap.Current()
	if err != nil {
		return nil, b.in.wrap(err, "read the daemon's capabilities")
	}
	b.hostCaps = caps
	return caps, nil
}
