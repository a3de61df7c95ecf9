package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestContainerCrictlSmoke drives one container through crictl: runp,
// create, start, ps, inspect, logs, exec, stop, rm, stopp, rmp.
func TestContainerCrictlSmoke(t *testing.T) {
	crictl, err := exec.LookPath("crictl")
	if err != nil {
		t.Fatal("crictl not installed (make deps)")
	}
	d := startCtrDaemon(t)
	dir := t.TempDir()
	logDir := filepath.Join(d.logDir, "crictl-pod")
	write := func(name string, v any) string {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	podJSON := write("pod.json", map[string]any{
		"metadata":      map[string]any{"name": "crictl-pod", "namespace": "ctr", "uid": "crictl-pod-uid"},
		"log_directory": logDir,
		"linux":         map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"pid": 1}}},
	})
	ctrJSON := write("ctr.json", map[string]any{
		"metadata": map[string]any{"name": "hello"},
		"image":    map[string]any{"image": ctrImage},
		"command":  []string{"sh", "-c", "echo hello from crictl; trap 'exit 0' TERM; while true; do sleep 0.1; done"},
		"log_path": "hello.log",
		"linux":    map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"pid": 1}}},
	})
	run := func(args ...string) string {
		t.Helper()
		full := append([]string{"--runtime-endpoint", "unix://" + d.Socket, "--image-endpoint", "unix://" + d.Socket, "--timeout", "20s"}, args...)
		out, err := exec.Command(crictl, full...).Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("crictl %v: %v\n%s%s", args, err, out, stderr)
		}
		return strings.TrimSpace(string(out))
	}
	podID := run("runp", podJSON)
	d.track(podID)
	id := run("create", podID, ctrJSON, podJSON)
	if len(id) != 64 {
		t.Fatalf("create printed %q", id)
	}
	run("start", id)
	if ps := run("ps", "-q", "--state", "running"); !strings.Contains(ps, id) {
		t.Errorf("ps -q --state running: %q", ps)
	}
	var inspect struct {
		Status struct {
			State   string `json:"state"`
			LogPath string `json:"logPath"`
		} `json:"status"`
		Info struct {
			Pid int `json:"pid"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(run("inspect", id)), &inspect); err != nil {
		t.Fatal(err)
	}
	if inspect.Status.State != "CONTAINER_RUNNING" || inspect.Status.LogPath != filepath.Join(logDir, "hello.log") || inspect.Info.Pid <= 0 {
		t.Errorf("inspect: %+v", inspect)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(run("logs", id), "hello from crictl") {
		if time.Now().After(deadline) {
			t.Fatalf("crictl logs never showed the greeting")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := run("exec", id, "cat", "/proc/1/cmdline"); !strings.Contains(out, "sh") {
		t.Errorf("exec: %q", out)
	}
	run("stop", id)
	if ps := run("ps", "-a", "-q", "--state", "exited"); !strings.Contains(ps, id) {
		t.Errorf("ps -a --state exited: %q", ps)
	}
	run("rm", id)
	if ps := run("ps", "-a", "-q"); ps != "" {
		t.Errorf("ps -a after rm: %q", ps)
	}
	run("stopp", podID)
	run("rmp", podID)
	if pods := run("pods", "-q"); pods != "" {
		t.Errorf("pods after rmp: %q", pods)
	}
}
