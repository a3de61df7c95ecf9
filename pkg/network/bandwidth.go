package network

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Pod annotations that limit a pod's bandwidth, in the Kubernetes quantity
// format ("10M", "1Gi"), bits per second.
const (
	IngressBandwidthAnnotation = "kubernetes.io/ingress-bandwidth"
	EgressBandwidthAnnotation  = "kubernetes.io/egress-bandwidth"
)

// Bounds the kubelet puts on bandwidth annotations, in bits per second.
const (
	minBandwidth = 1e3  // 1k
	maxBandwidth = 1e15 // 1P
)

// BandwidthFromAnnotations returns the bandwidth capability the pod's
// annotations ask for, or nil when they ask for none. Bursts are unbounded
// (MaxUint32), as containerd sets them.
func BandwidthFromAnnotations(annotations map[string]string) (*Bandwidth, error) {
	var bw Bandwidth
	set := false
	for _, a := range []struct {
		key         string
		rate, burst *uint64
	}{
		{IngressBandwidthAnnotation, &bw.IngressRate, &bw.IngressBurst},
		{EgressBandwidthAnnotation, &bw.EgressRate, &bw.EgressBurst},
	} {
		s, ok := annotations[a.key]
		if !ok {
			continue
		}
		v, err := parseQuantity(s)
		if err != nil {
			return nil, fmt.Errorf("annotation %s=%q: %w", a.key, s, err)
		}
		if v < minBandwidth || v > maxBandwidth {
			return nil, fmt.Errorf("annotation %s=%q: outside 1k..1P bits per second", a.key, s)
		}
		*a.rate, *a.burst = v, math.MaxUint32
		set = true
	}
	if !set {
		return nil, nil
	}
	return &bw, nil
}

var quantitySuffixes = []struct {
	suffix string
	mult   float64
}{
	// Two-letter binary suffixes first, so "Mi" is not read as "M".
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50}, {"Ei", 1 << 60},
	{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
}

// parseQuantity reads a non-negative Kubernetes quantity with a decimal or
// binary suffix, rounding up to a whole number.
func parseQuantity(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	for _, q := range quantitySuffixes {
		if n, ok := strings.CutSuffix(s, q.suffix); ok {
			s, mult = n, q.mult
			break
		}
	}
	if s == "" || strings.ContainsAny(s, "+-eE") {
		return 0, fmt.Errorf("not a quantity")
	}
	f, ok := new(big.Float).SetString(s)
	if !ok {
		return 0, fmt.Errorf("not a quantity")
	}
	v, _ := f.Mul(f, big.NewFloat(mult)).Float64()
	if v < 0 || v > math.MaxUint64/2 {
		return 0, fmt.Errorf("out of range")
	}
	return uint64(math.Ceil(v)), nil
}
