package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// spec is one It node of critest's Ginkgo JSON report.
type spec struct {
	ContainerHierarchyTexts []string
	LeafNodeText            string
	LeafNodeType            string
	State                   string
	Failure                 struct {
		Message  string
		Location struct {
			FileName   string
			LineNumber int
		}
	}
}

func (s spec) name() string {
	return strings.Join(append(append([]string{}, s.ContainerHierarchyTexts...), s.LeafNodeText), " ")
}

func (s spec) group() string {
	if len(s.ContainerHierarchyTexts) == 0 {
		return "(top level)"
	}
	return strings.TrimPrefix(s.ContainerHierarchyTexts[0], "[k8s.io] ")
}

func (s spec) failed() bool {
	switch s.State {
	case "failed", "panicked", "timedout", "interrupted", "aborted":
		return true
	}
	return false
}

// readReport returns the It specs of a Ginkgo JSON report.
func readReport(path string) ([]spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var suites []struct{ SpecReports []spec }
	if err := json.Unmarshal(raw, &suites); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []spec
	for _, s := range suites {
		for _, r := range s.SpecReports {
			if r.LeafNodeType == "It" {
				out = append(out, r)
			} else if r.failed() {
				// A failed BeforeSuite or AfterSuite fails the run too.
				r.LeafNodeText = r.LeafNodeType
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// verdict compares the specs with the expected failures.
type verdict struct {
	passed, failed, skipped int
	unexpectedFailures      []spec
	unexpectedPasses        []string
	groups                  map[string]*[3]int // passed, failed, skipped
}

func judge(specs []spec, exp expected) verdict {
	v := verdict{groups: map[string]*[3]int{}}
	for _, s := range specs {
		g := v.groups[s.group()]
		if g == nil {
			g = &[3]int{}
			v.groups[s.group()] = g
		}
		_, listed := exp[s.name()]
		switch {
		case s.failed():
			v.failed++
			g[1]++
			if !listed {
				v.unexpectedFailures = append(v.unexpectedFailures, s)
			}
		case s.State == "passed":
			v.passed++
			g[0]++
			if listed {
				v.unexpectedPasses = append(v.unexpectedPasses, s.name())
			}
		default:
			v.skipped++
			g[2]++
		}
	}
	return v
}

func (v verdict) ok() bool { return len(v.unexpectedFailures) == 0 && len(v.unexpectedPasses) == 0 }

func (v verdict) print(w io.Writer) {
	names := make([]string, 0, len(v.groups))
	for g := range v.groups {
		names = append(names, g)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "critest results per group (passed / failed / skipped):")
	for _, g := range names {
		c := v.groups[g]
		fmt.Fprintf(w, "  %-50s %3d / %3d / %3d\n", g, c[0], c[1], c[2])
	}
	for _, s := range v.unexpectedFailures {
		msg := s.Failure.Message
		if i := strings.IndexByte(msg, '\n'); i > 0 && len(msg) > 300 {
			msg = msg[:i]
		}
		fmt.Fprintf(w, "UNEXPECTED FAILURE: %s\n    %s:%d: %s\n", s.name(),
			s.Failure.Location.FileName, s.Failure.Location.LineNumber, msg)
	}
	for _, n := range v.unexpectedPasses {
		fmt.Fprintf(w, "NOW PASSES (remove it from the expected failures): %s\n", n)
	}
}
