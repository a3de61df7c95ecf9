package network

import (
	"fmt"
	"net"
	"sort"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// LinkStats are the counters of one network interface.
type LinkStats struct {
	// Name is the interface's name in its namespace.
	Name string
	// Byte, packet, error and drop counters since the interface was made.
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// InterfaceStats reads the counters of every interface but loopback in the
// network namespace pinned at nsPath, sorted by name. It asks netlink
// through a socket opened in that namespace: no thread changes namespace.
func InterfaceStats(nsPath string) ([]LinkStats, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in network namespace %s: %w", nsPath, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links in network namespace %s: %w", nsPath, err)
	}
	out := make([]LinkStats, 0, len(links))
	for _, l := range links {
		a := l.Attrs()
		if a == nil || a.Flags&net.FlagLoopback != 0 || a.Name == "lo" {
			continue
		}
		s := LinkStats{Name: a.Name}
		if st := a.Statistics; st != nil {
			s.RxBytes, s.RxPackets, s.RxErrors, s.RxDropped = st.RxBytes, st.RxPackets, st.RxErrors, st.RxDropped
			s.TxBytes, s.TxPackets, s.TxErrors, s.TxDropped = st.TxBytes, st.TxPackets, st.TxErrors, st.TxDropped
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
