package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// expected maps each spec allowed to fail to the reason it fails for.
type expected map[string]string

// readExpected parses the expected-failures file: comment lines start with
// "#"; a line "reason: ..." gives the reason for the spec names that follow it,
// one full spec name a line.
func readExpected(path string) (expected, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseExpected(f, path)
}

func parseExpected(r io.Reader, name string) (expected, error) {
	out := expected{}
	reason := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "reason:"):
			reason = strings.TrimSpace(strings.TrimPrefix(line, "reason:"))
			if reason == "" {
				return nil, fmt.Errorf("%s:%d: empty reason", name, n)
			}
		case reason == "":
			return nil, fmt.Errorf("%s:%d: spec listed before any \"reason:\" line", name, n)
		default:
			if _, dup := out[line]; dup {
				return nil, fmt.Errorf("%s:%d: spec listed twice: %s", name, n, line)
			}
			out[line] = reason
		}
	}
	return out, sc.Err()
}

// write prints the list grouped by reason, in a stable order.
func (e expected) write(w io.Writer, header string) error {
	byReason := map[string][]string{}
	for spec, reason := range e {
		byReason[reason] = append(byReason[reason], spec)
	}
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	bw := bufio.NewWriter(w)
	fmt.Fprint(bw, header)
	for _, r := range reasons {
		specs := byReason[r]
		sort.Strings(specs)
		fmt.Fprintf(bw, "\nreason: %s\n", r)
		for _, s := range specs {
			fmt.Fprintln(bw, s)
		}
	}
	return bw.Flush()
}
