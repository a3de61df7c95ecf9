package network

import (
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// resultOf picks the pod's addresses out of an ADD result: the addresses of
// interfaces inside the pod (or of no named interface), IPv4 first.
func resultOf(r types.Result) (*Result, error) {
	res, err := types100.NewResultFromResult(r)
	if err != nil {
		return nil, fmt.Errorf("cni result: %w", err)
	}
	var v4, v6 []string
	for _, ip := range res.IPs {
		if ip == nil {
			continue
		}
		if i := ip.Interface; i != nil && *i >= 0 && *i < len(res.Interfaces) && res.Interfaces[*i].Sandbox == "" {
			continue // an address on the host side
		}
		if ip.Address.IP.To4() != nil {
			v4 = append(v4, ip.Address.IP.String())
		} else if ip.Address.IP != nil {
			v6 = append(v6, ip.Address.IP.String())
		}
	}
	return &Result{IPs: append(v4, v6...)}, nil
}
