// Package metrics keeps cri-shim's own Prometheus metrics and serves them
// over HTTP: CRI calls by method and status code with their latencies, pods
// and containers by state, image pulls (count by result, bytes fetched,
// durations), the live container monitor processes, and the Go runtime and
// process metrics of the daemon itself.
//
// It writes the Prometheus text exposition format (version 0.0.4) itself
// rather than through github.com/prometheus/client_golang: a handful of
// counters and histograms do not need that library, whose packages (with
// procfs, client_model and expfmt) made about 0.8 MB of the binary and ran
// their package initialisation in every start of it (the daemon and each
// re-exec).
package metrics

import (
	"bufio"
	"context"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Namespace prefixes every metric name.
const Namespace = "cri_shim"

// Sources count the runtime's objects when the metrics are scraped.
type Sources struct {
	// Pods counts pods by state ("ready", "notready").
	Pods func(ctx context.Context) map[string]int
	// Containers counts containers by state ("created", "running", "exited", ...).
	Containers func(ctx context.Context) map[string]int
	// Monitors counts live container monitor processes.
	Monitors func(ctx context.Context) int
}

// Metrics is the daemon's metric registry.
type Metrics struct {
	src         Sources
	rpcs        *counterVec
	rpcSeconds  *histogramVec
	pulls       *counterVec
	pullBytes   *counterVec
	pullSeconds *histogramVec
}

// New returns a registry with every metric, reading object counts from src.
func New(src Sources) *Metrics {
	return &Metrics{
		src: src,
		rpcs: newCounterVec(Namespace+"_grpc_requests_total",
			"CRI calls answered, by method and gRPC status code.", "method", "code"),
		rpcSeconds: newHistogramVec(Namespace+"_grpc_request_duration_seconds",
			"Time to answer a CRI call (a stream: until it ends), by method.",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}, "method"),
		pulls: newCounterVec(Namespace+"_image_pulls_total",
			"Image pulls run, by result (success or failure); pulls that joined one in flight are not counted.", "result"),
		pullBytes: newCounterVec(Namespace+"_image_pull_bytes_total",
			"Bytes fetched from registries by image pulls."),
		pullSeconds: newHistogramVec(Namespace+"_image_pull_duration_seconds",
			"Time an image pull ran, failed ones included.",
			[]float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}),
	}
}

// ObserveRPC counts one finished CRI call.
func (m *Metrics) ObserveRPC(method, code string, took time.Duration) {
	m.rpcs.add(1, method, code)
	m.rpcSeconds.observe(took.Seconds(), method)
}

// ObservePull counts one finished image pull.
func (m *Metrics) ObservePull(bytes int64, took time.Duration, err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	m.pulls.add(1, result)
	if bytes > 0 {
		m.pullBytes.add(float64(bytes))
	}
	m.pullSeconds.observe(took.Seconds())
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		m.write(r.Context(), bw)
		_ = bw.Flush()
	})
}

// write writes every metric, families sorted by name as client_golang
// sorts them.
func (m *Metrics) write(ctx context.Context, w *bufio.Writer) {
	fams := []family{m.rpcs, m.rpcSeconds, m.pulls, m.pullBytes, m.pullSeconds}
	fams = append(fams, m.objectFamilies(ctx)...)
	fams = append(fams, runtimeFamilies()...)
	sort.Slice(fams, func(i, j int) bool { return fams[i].name() < fams[j].name() })
	for _, f := range fams {
		f.write(w)
	}
}

// A family is one metric name with its help, type and samples.
type family interface {
	name() string
	write(w *bufio.Writer)
}

// header writes the HELP and TYPE lines of a family.
func header(w *bufio.Writer, name, help, typ string) {
	w.WriteString("# HELP ")
	w.WriteString(name)
	w.WriteByte(' ')
	w.WriteString(escape(help, false))
	w.WriteString("\n# TYPE ")
	w.WriteString(name)
	w.WriteByte(' ')
	w.WriteString(typ)
	w.WriteByte('\n')
}

// sample writes one sample line: name{labels} value. names and values
// pair up; labels are written sorted by name.
func sample(w *bufio.Writer, name string, names, values []string, v float64) {
	sampleLE(w, name, names, values, "", v)
}

// sampleLE is sample with a bucket's le label last, where client_golang
// writes it.
func sampleLE(w *bufio.Writer, name string, names, values []string, le string, v float64) {
	w.WriteString(name)
	if len(names) > 0 || le != "" {
		idx := make([]int, len(names))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return names[idx[a]] < names[idx[b]] })
		w.WriteByte('{')
		for n, i := range idx {
			if n > 0 {
				w.WriteByte(',')
			}
			w.WriteString(names[i])
			w.WriteString(`="`)
			w.WriteString(escape(values[i], true))
			w.WriteByte('"')
		}
		if le != "" {
			if len(idx) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(`le="`)
			w.WriteString(le)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

// escape escapes a HELP text (backslash, newline) or a label value (also
// the double quote), as the text format asks.
func escape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// formatFloat writes a value as client_golang does.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// labelKey joins label values into a map key (a NUL cannot be in a gRPC
// method name, a status code or a result).
func labelKey(values []string) string { return strings.Join(values, "\x00") }

// counterVec is a counter with labels (none: a plain counter).
type counterVec struct {
	fname, help string
	labels      []string
	mu          sync.Mutex
	values      map[string]*counterValue
}

type counterValue struct {
	labels []string
	v      float64
}

func newCounterVec(name, help string, labels ...string) *counterVec {
	return &counterVec{fname: name, help: help, labels: labels, values: map[string]*counterValue{}}
}

func (c *counterVec) add(v float64, labels ...string) {
	k := labelKey(labels)
	c.mu.Lock()
	cv := c.values[k]
	if cv == nil {
		cv = &counterValue{labels: append([]string(nil), labels...)}
		c.values[k] = cv
	}
	cv.v += v
	c.mu.Unlock()
}

func (c *counterVec) name() string { return c.fname }

func (c *counterVec) write(w *bufio.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.labels) > 0 && len(c.values) == 0 {
		return // a vector with no child yet: client_golang writes nothing either
	}
	header(w, c.fname, c.help, "counter")
	if len(c.labels) == 0 && len(c.values) == 0 {
		sample(w, c.fname, nil, nil, 0)
		return
	}
	for _, k := range sortedKeys(c.values) {
		cv := c.values[k]
		sample(w, c.fname, c.labels, cv.labels, cv.v)
	}
}

// histogramVec is a histogram with labels (none: a plain histogram).
type histogramVec struct {
	fname, help string
	labels      []string
	buckets     []float64
	mu          sync.Mutex
	values      map[string]*histogramValue
}

type histogramValue struct {
	labels []string
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

func newHistogramVec(name, help string, buckets []float64, labels ...string) *histogramVec {
	return &histogramVec{fname: name, help: help, labels: labels, buckets: buckets, values: map[string]*histogramValue{}}
}

func (h *histogramVec) observe(v float64, labels ...string) {
	k := labelKey(labels)
	i := sort.SearchFloat64s(h.buckets, v) // the first bucket with v <= its bound
	h.mu.Lock()
	hv := h.values[k]
	if hv == nil {
		hv = &histogramValue{labels: append([]string(nil), labels...), counts: make([]uint64, len(h.buckets))}
		h.values[k] = hv
	}
	if i < len(h.buckets) {
		hv.counts[i]++
	}
	hv.count++
	hv.sum += v
	h.mu.Unlock()
}

func (h *histogramVec) name() string { return h.fname }

func (h *histogramVec) write(w *bufio.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.labels) > 0 && len(h.values) == 0 {
		return
	}
	header(w, h.fname, h.help, "histogram")
	values := h.values
	if len(h.labels) == 0 && len(values) == 0 {
		values = map[string]*histogramValue{"": {counts: make([]uint64, len(h.buckets))}}
	}
	for _, k := range sortedKeys(values) {
		hv := values[k]
		var cum uint64
		for i, b := range h.buckets {
			cum += hv.counts[i]
			sampleLE(w, h.fname+"_bucket", h.labels, hv.labels, formatFloat(b), float64(cum))
		}
		sampleLE(w, h.fname+"_bucket", h.labels, hv.labels, "+Inf", float64(hv.count))
		sample(w, h.fname+"_sum", h.labels, hv.labels, hv.sum)
		sample(w, h.fname+"_count", h.labels, hv.labels, float64(hv.count))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// gauges is a gauge family computed at scrape time.
type gauges struct {
	fname, help, typ string
	labels           []string
	samples          []gaugeSample
}

type gaugeSample struct {
	labels []string
	v      float64
}

func (g *gauges) name() string { return g.fname }

func (g *gauges) write(w *bufio.Writer) {
	if len(g.samples) == 0 {
		return
	}
	typ := g.typ
	if typ == "" {
		typ = "gauge"
	}
	header(w, g.fname, g.help, typ)
	sort.Slice(g.samples, func(i, j int) bool {
		return labelKey(g.samples[i].labels) < labelKey(g.samples[j].labels)
	})
	for _, s := range g.samples {
		sample(w, g.fname, g.labels, s.labels, s.v)
	}
}

// gauge is a family of one unlabelled sample.
func gauge(name, help, typ string, v float64) *gauges {
	return &gauges{fname: name, help: help, typ: typ, samples: []gaugeSample{{v: v}}}
}
