package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// groupTitles orders and names the sections of the report.
var groupTitles = []struct{ group, title string }{
	{"critest", "critest -benchmark (sequential, ms)"},
	{"pods", "Pods through the CRI client"},
	{"memory", "Memory"},
	{"images", "Images"},
	{"exec", "ExecSync"},
	{"go", "Go benchmarks"},
}

// writeMarkdown writes the report: per group a latency table (min,
// median, p90, p99 per runtime) and a table of the other figures, then the
// ratios when two runtimes were measured.
func (r *Results) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "# cri-shim benchmarks\n\n%s; %s; took %s.\n", r.Host, r.Started.Format("2006-01-02 15:04 MST"), r.Duration)
	for _, rt := range r.Runtimes {
		fmt.Fprintf(w, "\n- %s: %s", rt, r.Versions[rt])
	}
	fmt.Fprintln(w)
	if len(r.Ratios) > 0 {
		r.writeRatios(w)
	}
	for _, g := range groupTitles {
		var lat, fig []*Metric
		for _, m := range r.Metrics {
			if m.Group != g.group {
				continue
			}
			if m.Latency {
				lat = append(lat, m)
			} else {
				fig = append(fig, m)
			}
		}
		if len(lat)+len(fig) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n## %s\n", g.title)
		if len(lat) > 0 {
			r.writeLatencies(w, lat)
		}
		if len(fig) > 0 {
			r.writeFigures(w, fig)
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

func (r *Results) writeLatencies(w io.Writer, ms []*Metric) {
	multi := len(r.Runtimes) > 1
	fmt.Fprintln(w)
	if multi {
		fmt.Fprintln(w, "| operation | runtime | n | min | median | p90 | p99 | max |")
		fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|")
	} else {
		fmt.Fprintln(w, "| operation (ms) | n | min | median | p90 | p99 | max |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
	}
	for _, m := range ms {
		for _, rt := range r.Runtimes {
			d := m.Dist[rt]
			if d == nil {
				continue
			}
			cells := []string{m.Name}
			if multi {
				cells = append(cells, rt)
			}
			cells = append(cells, fmt.Sprint(d.N), num(d.Min), num(d.Median), num(d.P90), num(d.P99), num(d.Max))
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
	}
}

func (r *Results) writeFigures(w io.Writer, ms []*Metric) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| figure | unit | %s |\n", strings.Join(r.Runtimes, " | "))
	fmt.Fprintf(w, "|---|---|%s\n", strings.Repeat("--:|", len(r.Runtimes)))
	for _, m := range ms {
		cells := []string{m.Name, m.Unit}
		for _, rt := range r.Runtimes {
			if v, ok := m.Value[rt]; ok {
				cells = append(cells, num(v))
			} else {
				cells = append(cells, "—")
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
}

func (r *Results) writeRatios(w io.Writer) {
	test, ref := r.Runtimes[0], r.Runtimes[1]
	fmt.Fprintf(w, "\n## %s / %s (medians; lower is better unless marked ↑)\n\n", test, ref)
	fmt.Fprintf(w, "| figure | unit | %s | %s | ratio | issue 8 target |\n|---|---|--:|--:|--:|---|\n", test, ref)
	for _, q := range r.Ratios {
		name := q.Name
		if m := r.index[q.Key]; m != nil && m.HigherIsBetter {
			name += " ↑"
		}
		target := ""
		if q.Met != nil {
			op := "≤"
			if m := r.index[q.Key]; m != nil && m.HigherIsBetter {
				op = "≥"
			}
			verdict := "**missed**"
			if *q.Met {
				verdict = "met"
			}
			target = fmt.Sprintf("%s %.1f: %s", op, q.Target, verdict)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f | %s |\n", name, q.Unit, num(q.Test), num(q.Ref), q.Ratio, target)
	}
}

// num formats a figure with about three significant digits.
func num(v float64) string {
	switch a := abs(v); {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// writeReport writes results.md, results.json and latency.svg into dir
// and prints the Markdown.
func (r *Results) writeReport(dir string) error {
	var md strings.Builder
	r.writeMarkdown(&md)
	fmt.Print("\n" + md.String())
	if err := os.WriteFile(dir+"/results.md", []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := r.writeJSON(dir + "/results.json"); err != nil {
		return err
	}
	svg, err := os.Create(dir + "/latency.svg")
	if err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	defer svg.Close()
	if err := r.writeSVG(svg); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	fmt.Printf("\nwrote %s/results.md, results.json, latency.svg\n", dir)
	return svg.Close()
}
