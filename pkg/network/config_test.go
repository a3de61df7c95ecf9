package network

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/config"
)

func TestBuiltinWhenConfDirEmpty(t *testing.T) {
	n, err := Load(filepath.Join(t.TempDir(), "none"), "crishim9", "10.217.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	if n.Source != BuiltinSource || n.List.Name != BuiltinName("crishim9") {
		t.Fatalf("got %s from %s", n.List.Name, n.Source)
	}
	want := []string{"bridge", "host-local", "portmap", "bandwidth"}
	if got := n.Plugins(); !reflect.DeepEqual(got, want) {
		t.Fatalf("plugins %v, want %v", got, want)
	}
	if !strings.Contains(string(n.List.Bytes), `"crishim9"`) {
		t.Fatalf("bridge name not in config: %s", n.List.Bytes)
	}
}

func TestOperatorConfigWinsAndPluginsChecked(t *testing.T) {
	dir := t.TempDir()
	conf := `{"cniVersion":"1.0.0","name":"ops","type":"ptp","ipam":{"type":"static"}}`
	if err := os.WriteFile(filepath.Join(dir, "20-ops.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "99-later.conflist"), []byte(`{"cniVersion":"1.0.0","name":"later","plugins":[{"type":"x"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := Load(dir, "b", "10.0.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	if n.List.Name != "ops" {
		t.Fatalf("picked %s, want the first file in lexical order", n.List.Name)
	}
	bin := t.TempDir()
	if err := n.CheckPlugins([]string{bin}); err == nil {
		t.Fatal("missing plugins not reported")
	}
	for _, p := range []string{"ptp", "static"} {
		if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.CheckPlugins([]string{"/nonexistent", bin}); err != nil {
		t.Fatal(err)
	}
}

func TestBadConfigReported(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "10-bad.conflist"), []byte(`{not json`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, "b", "10.0.0.0/24"); err == nil || !strings.Contains(err.Error(), "10-bad.conflist") {
		t.Fatalf("bad config: %v", err)
	}
}

func TestBuiltinNameKeepsDefaultAndSeparatesOthers(t *testing.T) {
	if BuiltinName(DefaultBridge) != BuiltinNetworkName || BuiltinName("crishimt0") != "cri-shim-crishimt0" {
		t.Fatalf("%s %s", BuiltinName(DefaultBridge), BuiltinName("crishimt0"))
	}
	if d := config.Default().CNI.BridgeName; d != DefaultBridge {
		t.Fatalf("default bridge %s, DefaultBridge %s", d, DefaultBridge)
	}
}
