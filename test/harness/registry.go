package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// StartRegistry builds the test registry (test/testimages/cmd/testregistry)
// into out, starts it on a free port of 127.0.0.1 and waits until every test
// image is pushed. It returns the registry and its host:port. Run it from
// the module root.
func StartRegistry(ctx context.Context, out string) (*Process, string, error) {
	bin := filepath.Join(out, "testregistry")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./test/testimages/cmd/testregistry")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return nil, "", fmt.Errorf("build test registry: %w", err)
	}
	ready := filepath.Join(out, "registry.addr")
	_ = os.Remove(ready)
	p, err := StartProcess(filepath.Join(out, "registry.log"), bin,
		"--addr", "127.0.0.1:0", "--ready-file", ready, "--workdir", filepath.Join(out, "images-cache"))
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if raw, err := os.ReadFile(ready); err == nil && len(raw) > 0 {
			return p, strings.TrimSpace(string(raw)), nil
		}
		if p.Exited() || time.Now().After(deadline) || ctx.Err() != nil {
			_ = p.Stop()
			return nil, "", fmt.Errorf("test registry did not come up; see %s", p.LogPath)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
