package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// goBench is a `go test -bench` run of one package.
type goBench struct {
	pkg, pattern, benchtime string
	count                   int
	env                     []string
}

// benchLine matches "BenchmarkName-2   20   123 ns/op   45.6 MB/s ...".
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// runGoBench runs the Go benchmarks of b and records, per benchmark and
// unit, the median over the -count runs: ns/op as ms/op, MB/s, and the
// benchmark's own metrics.
func runGoBench(ctx context.Context, res *Results, rt string, b goBench, logPath string) error {
	args := []string{"test", "-tags", "seccomp", "-run", "^$", "-bench", b.pattern,
		"-benchtime", b.benchtime, "-count", strconv.Itoa(b.count), b.pkg}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), b.env...)
	out, err := cmd.CombinedOutput()
	if werr := os.WriteFile(logPath, out, 0o644); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("go %s: %w; see %s", strings.Join(args, " "), err, logPath)
	}
	found := 0
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(s.Text()))
		if m == nil {
			continue
		}
		found++
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			unit := f[i+1]
			key := "go." + m[1] + "." + unit
			name := m[1] + " " + unit
			switch unit {
			case "ns/op":
				res.figure("go."+m[1]+".ms", "go", m[1]+" time per op", "ms", false, rt, v/1e6)
			case "MB/s":
				res.figure(key, "go", name, unit, true, rt, v)
			case "B/op", "allocs/op":
			default:
				res.figure(key, "go", name, unit, false, rt, v)
			}
		}
	}
	if found == 0 {
		return fmt.Errorf("go test %s printed no benchmark result; see %s", b.pkg, logPath)
	}
	return nil
}
