package faultinject

import (
	"strings"
	"testing"
)

func TestFromEnvAndAt(t *testing.T) {
	if p := FromEnv("CRI_SHIM_TEST_FAULTINJECT_UNSET"); p != nil || p.At("x") != nil {
		t.Fatalf("unset env gave %v", p)
	}
	t.Setenv("CRI_SHIM_TEST_FAULTINJECT", " a=error , b=other,junk")
	p := FromEnv("CRI_SHIM_TEST_FAULTINJECT")
	if err := p.At("a"); err == nil || !strings.Contains(err.Error(), "step a") {
		t.Errorf("a: %v", err)
	}
	if err := p.At("b"); err != nil {
		t.Errorf("unknown action: %v", err)
	}
	if len(p) != 2 {
		t.Errorf("points %v", p)
	}
}
