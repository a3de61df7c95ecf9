package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func TestServeAndCount(t *testing.T) {
	m := New(Sources{
		Pods:       func(context.Context) map[string]int { return map[string]int{"ready": 2} },
		Containers: func(context.Context) map[string]int { return map[string]int{"running": 3, "exited": 1} },
		Monitors:   func(context.Context) int { return 3 },
	})
	m.ObserveRPC("Version", "OK", time.Millisecond)
	m.ObserveRPC("Version", "OK", time.Millisecond)
	m.ObserveRPC("PodSandboxStatus", "NotFound", time.Millisecond)
	m.ObservePull(1000, 2*time.Second, nil)
	m.ObservePull(0, time.Second, errors.New("registry down"))
	srv, err := Serve("127.0.0.1:0", m.Handler())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	body := scrape(t, "http://"+srv.Addr()+"/metrics")
	for _, want := range []string{
		`cri_shim_grpc_requests_total{code="OK",method="Version"} 2`,
		`cri_shim_grpc_requests_total{code="NotFound",method="PodSandboxStatus"} 1`,
		`cri_shim_grpc_request_duration_seconds_count{method="Version"} 2`,
		`cri_shim_pods{state="ready"} 2`,
		`cri_shim_pods{state="notready"} 0`,
		`cri_shim_containers{state="running"} 3`,
		`cri_shim_containers{state="created"} 0`,
		`cri_shim_monitor_processes 3`,
		`cri_shim_image_pulls_total{result="success"} 1`,
		`cri_shim_image_pulls_total{result="failure"} 1`,
		`cri_shim_image_pull_bytes_total 1000`,
		`cri_shim_image_pull_duration_seconds_count 2`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + srv.Addr() + "/metrics"); err == nil {
		t.Error("still serving after Close")
	}
}

func TestServeBadAddress(t *testing.T) {
	if _, err := Serve("256.0.0.1:1", New(Sources{}).Handler()); err == nil {
		t.Fatal("bad address accepted")
	}
}
