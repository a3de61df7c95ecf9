package metrics

import (
	"context"
	"time"
)

// scrapeTimeout bounds the counting done for one scrape.
const scrapeTimeout = 10 * time.Second

// objectFamilies counts pods, containers and monitors now.
func (m *Metrics) objectFamilies(ctx context.Context) []family {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scrapeTimeout)
	defer cancel()
	var out []family
	byState := func(name, help string, count func(context.Context) map[string]int, always ...string) {
		if count == nil {
			return
		}
		n := count(ctx)
		if n == nil {
			n = map[string]int{}
		}
		for _, st := range always {
			n[st] += 0 // report empty states as 0
		}
		g := &gauges{fname: name, help: help, labels: []string{"state"}}
		for st, v := range n {
			g.samples = append(g.samples, gaugeSample{labels: []string{st}, v: float64(v)})
		}
		out = append(out, g)
	}
	byState(Namespace+"_pods", "Pods by state.", m.src.Pods, "ready", "notready")
	byState(Namespace+"_containers", "Containers by state.", m.src.Containers, "created", "running", "exited")
	if m.src.Monitors != nil {
		out = append(out, gauge(Namespace+"_monitor_processes",
			"Live container monitor processes (one per created or running container).", "", float64(m.src.Monitors(ctx))))
	}
	return out
}
