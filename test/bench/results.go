package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Metric is one measured figure for each runtime measured.
type Metric struct {
	Key   string `json:"key"`
	Group string `json:"group"`
	Name  string `json:"name"`
	Unit  string `json:"unit"`
	// HigherIsBetter is set for throughputs.
	HigherIsBetter bool `json:"higherIsBetter,omitempty"`
	// Latency metrics have a distribution per runtime; Value is its median.
	Latency bool `json:"latency,omitempty"`
	// Value is the headline figure per runtime: the median of the samples
	// (of a distribution, or of one figure measured once per round).
	Value map[string]float64 `json:"value"`
	Dist  map[string]*Dist   `json:"dist,omitempty"`

	samples map[string][]float64
}

// Results is everything one run measured.
type Results struct {
	Started  time.Time         `json:"started"`
	Duration string            `json:"duration"`
	Host     string            `json:"host"`
	Params   map[string]any    `json:"params"`
	Runtimes []string          `json:"runtimes"`
	Versions map[string]string `json:"versions"`
	Metrics  []*Metric         `json:"metrics"`
	Ratios   []Ratio           `json:"ratios,omitempty"`
	Notes    []string          `json:"notes,omitempty"`

	mu    sync.Mutex
	index map[string]*Metric
}

func newResults(runtimes []string, params map[string]any) *Results {
	return &Results{
		Started: time.Now(), Host: hostDescription(), Params: params, Runtimes: runtimes,
		Versions: map[string]string{}, index: map[string]*Metric{},
	}
}

// metric returns the metric key, creating it with the given description.
func (r *Results) metric(key, group, name, unit string, latency, higher bool) *Metric {
	m, ok := r.index[key]
	if !ok {
		m = &Metric{Key: key, Group: group, Name: name, Unit: unit, Latency: latency, HigherIsBetter: higher,
			Value: map[string]float64{}, samples: map[string][]float64{}}
		r.index[key] = m
		r.Metrics = append(r.Metrics, m)
	}
	return m
}

// latency adds latency samples (ms) of runtime rt to the metric key.
func (r *Results) latency(key, group, name, rt string, samples []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.metric(key, group, name, "ms", true, false)
	m.samples[rt] = append(m.samples[rt], samples...)
}

// figure adds one value of runtime rt to the metric key; a metric measured
// in several rounds reports the median.
func (r *Results) figure(key, group, name, unit string, higher bool, rt string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.metric(key, group, name, unit, false, higher)
	m.samples[rt] = append(m.samples[rt], v)
}

// note records a warning for the report and prints it.
func (r *Results) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Printf("NOTE: %s\n", msg)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Notes = append(r.Notes, msg)
}

// finish computes the values and distributions from the samples.
func (r *Results) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Duration = time.Since(r.Started).Round(time.Second).String()
	for _, m := range r.Metrics {
		for rt, s := range m.samples {
			if len(s) == 0 {
				continue
			}
			m.Value[rt] = median(s)
			if m.Latency {
				if m.Dist == nil {
					m.Dist = map[string]*Dist{}
				}
				m.Dist[rt] = summarize(s)
			}
		}
	}
	if len(r.Runtimes) == 2 {
		r.Ratios = ratios(r.Metrics, r.Runtimes[0], r.Runtimes[1])
	}
}

// writeJSON writes the results as indented JSON to path.
func (r *Results) writeJSON(path string) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// hostDescription names the kernel and the CPU count.
func hostDescription() string {
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("Linux %s, %d CPUs", trimNL(rel), numCPU())
}

// render rewrites the report next to a results.json a run wrote.
func render(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r := &Results{}
	if err := json.Unmarshal(raw, r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r.index = map[string]*Metric{}
	for _, m := range r.Metrics {
		r.index[m.Key] = m
	}
	return r.writeReport(filepath.Dir(path))
}
