package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds the counting done for one scrape.
const scrapeTimeout = 10 * time.Second

var (
	podsDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "pods"),
		"Pods by state.", []string{"state"}, nil)
	containersDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "containers"),
		"Containers by state.", []string{"state"}, nil)
	monitorsDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "monitor_processes"),
		"Live container monitor processes (one per created or running container).", nil, nil)
)

// objects counts pods, containers and monitors at scrape time.
type objects struct{ src Sources }

// Describe sends the descriptions of the object counts.
func (o *objects) Describe(ch chan<- *prometheus.Desc) {
	ch <- podsDesc
	ch <- containersDesc
	ch <- monitorsDesc
}

// Collect counts the objects now.
func (o *objects) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if o.src.Pods != nil {
		byState := o.src.Pods(ctx)
		for _, st := range []string{"ready", "notready"} {
			byState[st] += 0 // report empty states as 0
		}
		for st, n := range byState {
			ch <- prometheus.MustNewConstMetric(podsDesc, prometheus.GaugeValue, float64(n), st)
		}
	}
	if o.src.Containers != nil {
		byState := o.src.Containers(ctx)
		for _, st := range []string{"created", "running", "exited"} {
			byState[st] += 0
		}
		for st, n := range byState {
			ch <- prometheus.MustNewConstMetric(containersDesc, prometheus.GaugeValue, float64(n), st)
		}
	}
	if o.src.Monitors != nil {
		ch <- prometheus.MustNewConstMetric(monitorsDesc, prometheus.GaugeValue, float64(o.src.Monitors(ctx)))
	}
}
