package main

import (
	"strings"
	"testing"
)

func TestParseExpected(t *testing.T) {
	in := "# comment\nreason: not built yet\n[k8s.io] A b\n\nreason: offline\n[k8s.io] C d\n"
	e, err := parseExpected(strings.NewReader(in), "x")
	if err != nil {
		t.Fatal(err)
	}
	if e["[k8s.io] A b"] != "not built yet" || e["[k8s.io] C d"] != "offline" || len(e) != 2 {
		t.Fatalf("got %v", e)
	}
	if _, err := parseExpected(strings.NewReader("[k8s.io] A b\n"), "x"); err == nil {
		t.Fatal("spec without a reason accepted")
	}
	if _, err := parseExpected(strings.NewReader("reason: r\nA\nA\n"), "x"); err == nil {
		t.Fatal("duplicate accepted")
	}
}

func TestJudge(t *testing.T) {
	mk := func(group, leaf, state string) spec {
		return spec{ContainerHierarchyTexts: []string{"[k8s.io] " + group, "ctx"}, LeafNodeText: leaf, LeafNodeType: "It", State: state}
	}
	specs := []spec{
		mk("Pod", "listed fails", "failed"),
		mk("Pod", "unlisted fails", "failed"),
		mk("Pod", "listed passes", "passed"),
		mk("Image", "passes", "passed"),
		mk("Image", "skips", "skipped"),
	}
	exp := expected{
		"[k8s.io] Pod ctx listed fails":  "r",
		"[k8s.io] Pod ctx listed passes": "r",
	}
	v := judge(specs, exp)
	if v.passed != 2 || v.failed != 2 || v.skipped != 1 {
		t.Fatalf("counts %d %d %d", v.passed, v.failed, v.skipped)
	}
	if v.ok() {
		t.Fatal("verdict ok despite an unlisted failure and a listed pass")
	}
	if len(v.unexpectedFailures) != 1 || v.unexpectedFailures[0].LeafNodeText != "unlisted fails" {
		t.Fatalf("unexpected failures %v", v.unexpectedFailures)
	}
	if len(v.unexpectedPasses) != 1 || v.unexpectedPasses[0] != "[k8s.io] Pod ctx listed passes" {
		t.Fatalf("unexpected passes %v", v.unexpectedPasses)
	}
	if g := v.groups["Pod"]; g[0] != 1 || g[1] != 2 {
		t.Fatalf("group Pod %v", g)
	}
	var sb strings.Builder
	if err := exp.write(&sb, "# h\n"); err != nil {
		t.Fatal(err)
	}
	back, err := parseExpected(strings.NewReader(sb.String()), "w")
	if err != nil || len(back) != 2 {
		t.Fatalf("write/parse round trip: %v %v", back, err)
	}
}
