package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// runtimeColors colours the runtimes in the chart, in Results.Runtimes order.
var runtimeColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"}

// writeSVG draws every latency distribution on one logarithmic axis: per
// operation and runtime a thin line from min to max, a thick bar from the
// median to p99, a tick at p90 and a dot at the median.
func (r *Results) writeSVG(w io.Writer) error {
	type row struct {
		label string
		color string
		d     *Dist
	}
	var rows []row
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range r.Metrics {
		if !m.Latency {
			continue
		}
		for i, rt := range r.Runtimes {
			d := m.Dist[rt]
			if d == nil {
				continue
			}
			label := m.Name
			if len(r.Runtimes) > 1 {
				label += " · " + rt
			}
			rows = append(rows, row{label, runtimeColors[i%len(runtimeColors)], d})
			lo, hi = math.Min(lo, math.Max(d.Min, 0.001)), math.Max(hi, d.Max)
		}
	}
	if len(rows) == 0 {
		_, err := io.WriteString(w, `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><text x="10" y="25">no latency samples</text></svg>`+"\n")
		return err
	}
	decLo, decHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if decHi == decLo {
		decHi++
	}
	// The label column fits the longest label (about 6.2 px a character at
	// 11 px); the plot keeps 640 px.
	longest := 0
	for _, rw := range rows {
		longest = max(longest, len([]rune(rw.label)))
	}
	const top, rowH = 60.0, 16.0
	left := max(200, 6.2*float64(longest)+20)
	right := left + 640
	width := right + 30
	height := top + rowH*float64(len(rows)) + 40
	x := func(v float64) float64 {
		v = math.Max(v, math.Pow(10, decLo))
		return left + (math.Log10(v)-decLo)/(decHi-decLo)*(right-left)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="14" font-weight="bold">Latency distributions (ms, log scale): line min–max, bar median–p99, tick p90, dot median</text>`+"\n")
	for i, rt := range r.Runtimes {
		fmt.Fprintf(&b, `<rect x="%d" y="28" width="12" height="10" fill="%s"/><text x="%d" y="37">%s</text>`+"\n",
			10+i*160, runtimeColors[i%len(runtimeColors)], 26+i*160, html.EscapeString(rt))
	}
	bottom := top + rowH*float64(len(rows))
	for dec := decLo; dec <= decHi; dec++ {
		for _, k := range []float64{1, 2, 5} {
			v := k * math.Pow(10, dec)
			if dec == decHi && k > 1 {
				continue
			}
			xv := x(v)
			stroke := "#eee"
			if k == 1 {
				stroke = "#ccc"
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", xv, bottom+16, v)
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", xv, top-6, xv, bottom, stroke)
		}
	}
	for i, rw := range rows {
		y := top + rowH*float64(i) + rowH/2
		d := rw.d
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-8, y+4, html.EscapeString(rw.label))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`+"\n", x(d.Min), y, x(d.Max), y, rw.color)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="7" stroke-opacity="0.45"/>`+"\n", x(d.Median), y, math.Max(x(d.P99), x(d.Median)+1), y, rw.color)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", x(d.P90), y-5, x(d.P90), y+5, rw.color)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: median %s, p90 %s, p99 %s (n=%d)</title></circle>`+"\n",
			x(d.Median), y, rw.color, html.EscapeString(rw.label), num(d.Median), num(d.P90), num(d.P99), d.N)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
