package config

import (
	"errors"
	"testing"
)

func TestMetricsAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"", true},
		{"127.0.0.1:9090", true},
		{"[::1]:0", true},
		{"localhost:9090", false},
		{"127.0.0.1", false},
		{"127.0.0.1:70000", false},
		{":9090", false},
	} {
		c := Default()
		c.MetricsAddress = tc.addr
		err := c.Validate()
		var ke *KeyError
		switch {
		case tc.ok && err != nil:
			t.Errorf("%q: %v", tc.addr, err)
		case !tc.ok && (!errors.As(err, &ke) || ke.Key != "metrics_address"):
			t.Errorf("%q: %v, want a metrics_address error", tc.addr, err)
		}
	}
	running, file := Default(), Default()
	file.MetricsAddress = "127.0.0.1:9090"
	next, changes := Reload(running, file)
	if next.MetricsAddress != "" || len(changes) != 1 {
		t.Errorf("reload applied %q: %v", next.MetricsAddress, changes)
	}
}
