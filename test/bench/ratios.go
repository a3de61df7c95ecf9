package main

import "math"

// Ratio compares one figure of the runtime under test with the reference.
type Ratio struct {
	Key   string  `json:"key"`
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Test  float64 `json:"test"`
	Ref   float64 `json:"reference"`
	Ratio float64 `json:"ratio"`
	// Target is the ratio issue 8 asks for, when it names one: at most
	// Target when lower is better, at least Target for throughputs.
	Target float64 `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
}

// targets are issue 8's goals: the figure's ratio cri-shim / containerd.
var targets = map[string]float64{
	"critest.pod.lifecycle":       0.5,
	"critest.container.lifecycle": 0.5,
	"pods.start.sequential":       0.5,
	"pods.parallel50.total":       0.5,
	"memory.daemon.idle":          0.5,
	"memory.per_container":        0.3,
	"pull.large.throughput":       1.0,
}

// ratios divides each figure of test by the same figure of ref.
func ratios(metrics []*Metric, test, ref string) []Ratio {
	var out []Ratio
	for _, m := range metrics {
		a, okA := m.Value[test]
		b, okB := m.Value[ref]
		if !okA || !okB || b == 0 || math.IsNaN(a) || math.IsNaN(b) {
			continue
		}
		r := Ratio{Key: m.Key, Name: m.Name, Unit: m.Unit, Test: a, Ref: b, Ratio: a / b}
		if t, ok := targets[m.Key]; ok {
			met := r.Ratio <= t
			if m.HigherIsBetter {
				met = r.Ratio >= t
			}
			r.Target, r.Met = t, &met
		}
		out = append(out, r)
	}
	return out
}
