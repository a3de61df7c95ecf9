// Package metrics keeps cri-shim's own Prometheus metrics and serves them
// over HTTP: CRI calls by method and status code with their latencies, pods
// and containers by state, image pulls (count by result, bytes fetched,
// durations), the live container monitor processes, and the Go runtime and
// process metrics of the daemon itself.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	reg         *prometheus.Registry
	rpcs        *prometheus.CounterVec
	rpcSeconds  *prometheus.HistogramVec
	pulls       *prometheus.CounterVec
	pullBytes   prometheus.Counter
	pullSeconds prometheus.Histogram
}

// New returns a registry with every metric, reading object counts from src.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "grpc_requests_total",
			Help: "CRI calls answered, by method and gRPC status code.",
		}, []string{"method", "code"}),
		rpcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "grpc_request_duration_seconds",
			Help:    "Time to answer a CRI call (a stream: until it ends), by method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"method"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "image_pulls_total",
			Help: "Image pulls run, by result (success or failure); pulls that joined one in flight are not counted.",
		}, []string{"result"}),
		pullBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "image_pull_bytes_total",
			Help: "Bytes fetched from registries by image pulls.",
		}),
		pullSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "image_pull_duration_seconds",
			Help:    "Time an image pull ran, failed ones included.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}),
	}
	m.reg.MustRegister(m.rpcs, m.rpcSeconds, m.pulls, m.pullBytes, m.pullSeconds,
		&objects{src: src},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveRPC counts one finished CRI call.
func (m *Metrics) ObserveRPC(method, code string, took time.Duration) {
	m.rpcs.WithLabelValues(method, code).Inc()
	m.rpcSeconds.WithLabelValues(method).Observe(took.Seconds())
}

// ObservePull counts one finished image pull.
func (m *Metrics) ObservePull(bytes int64, took time.Duration, err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	m.pulls.WithLabelValues(result).Inc()
	if bytes > 0 {
		m.pullBytes.Add(float64(bytes))
	}
	m.pullSeconds.Observe(took.Seconds())
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
