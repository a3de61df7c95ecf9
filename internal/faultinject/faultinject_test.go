package faultinject

import (
	"strings"
	"testing"
	"time"
)

func TestFromEnvAndAt(t *testing.T) {
	if p := FromEnv("CRI_SHIM_TEST_FAULTINJECT_UNSET"); p != nil || p.At("x") != nil {
		t.Fatalf("unset env gave %v", p)
	}
	t.Setenv("CRI_SHIM_TEST_FAULTINJECT", " a=error , b=other,junk,c=sleep20ms")
	p := FromEnv("CRI_SHIM_TEST_FAULTINJECT")
	if err := p.At("a"); err == nil || !strings.Contains(err.Error(), "step a") {
		t.Errorf("a: %v", err)
	}
	if err := p.At("b"); err != nil {
		t.Errorf("unknown action: %v", err)
	}
	start := time.Now()
	if err := p.At("c"); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Errorf("c: %v after %v, want a 20ms sleep", err, time.Since(start))
	}
	if len(p) != 3 {
		t.Errorf("points %v", p)
	}
}
