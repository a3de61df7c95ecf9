package testimages

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// The helper programs are embedded so that BuildAll works from any binary
// (e.g. a testregistry built elsewhere), not only from a source checkout.
// They are written out as a module whose path matches their import paths
// in this repository, so progs/internal packages resolve the same way.
//
//go:embed progs
var progSources embed.FS

const progsModule = "github.com/cri-shim/cri-shim/test/testimages/progs"

// Programs built from progs/<name>/main.go.
const (
	progHTTPD = "httpd"
	progNginx = "nginx"
	progNNP   = "nnp"
	progPause = "pause"
	progPgrep = "pgrep"
)

var programNames = []string{progHTTPD, progNginx, progNNP, progPause, progPgrep}

// buildPrograms builds (or finds in workDir/bin/<hash>) the static helper
// programs and returns their contents by name. The hash covers the sources
// and the Go version of this binary, so edited sources are rebuilt and
// unchanged ones are reused. All programs are built by one go command so
// that a cold build cache compiles the standard library only once.
func buildPrograms(ctx context.Context, workDir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(progSources, "progs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		data, err := progSources.ReadFile(p)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(p, "progs/")] = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00linux/amd64\x00", runtime.Version())
	for _, n := range names {
		fmt.Fprintf(sum, "%s\x00%d\x00", n, len(files[n]))
		sum.Write(files[n])
	}
	tag := hex.EncodeToString(sum.Sum(nil))[:16]

	binDir := filepath.Join(workDir, "bin", tag)
	if !havePrograms(binDir) {
		if err := compilePrograms(ctx, workDir, tag, files); err != nil {
			return nil, err
		}
	}
	out := map[string][]byte{}
	for _, name := range programNames {
		data, err := os.ReadFile(filepath.Join(binDir, name))
		if err != nil {
			return nil, err
		}
		out[name] = data
	}
	return out, nil
}

func havePrograms(binDir string) bool {
	for _, name := range programNames {
		fi, err := os.Stat(filepath.Join(binDir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
			return false
		}
	}
	return true
}

func compilePrograms(ctx context.Context, workDir, tag string, files map[string][]byte) error {
	// A private source directory, so that concurrent builders never see
	// half-written files. -trimpath keeps its name out of the binaries
	// and of the build cache keys.
	if err := os.MkdirAll(filepath.Join(workDir, "src"), 0o755); err != nil {
		return err
	}
	srcDir, err := os.MkdirTemp(filepath.Join(workDir, "src"), tag+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(srcDir)
	for name, data := range files {
		p := filepath.Join(srcDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	gomod := "module " + progsModule + "\n\ngo 1.22\n"
	if err := os.WriteFile(filepath.Join(srcDir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return err
	}

	goTool, err := findGo()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(workDir, "bin"), 0o755); err != nil {
		return err
	}
	tmpDir, err := os.MkdirTemp(filepath.Join(workDir, "bin"), ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)

	args := []string{"build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", tmpDir + string(filepath.Separator)}
	for _, name := range programNames {
		args = append(args, "./"+name)
	}
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = srcDir
	cmd.Env = buildEnv(workDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building test image programs: %w\n%s", err, out)
	}
	if err := os.Chmod(tmpDir, 0o755); err != nil {
		return err
	}
	binDir := filepath.Join(workDir, "bin", tag)
	if err := os.Rename(tmpDir, binDir); err != nil && !havePrograms(binDir) {
		return err
	}
	return nil
}

func findGo() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/local/go/bin/go", "/usr/lib/go/bin/go"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("the go tool is needed to build the test image programs but was not found in PATH")
}

func buildEnv(workDir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CGO_ENABLED", "GOOS", "GOARCH", "GOAMD64", "GOFLAGS", "GOWORK", "GOTOOLCHAIN", "GO111MODULE", "GOEXPERIMENT":
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1",
		"GOFLAGS=-buildvcs=false", "GOWORK=off", "GOTOOLCHAIN=local", "GO111MODULE=on")
	if os.Getenv("GOCACHE") == "" && os.Getenv("HOME") == "" && os.Getenv("XDG_CACHE_HOME") == "" {
		env = append(env, "GOCACHE="+filepath.Join(workDir, "gocache"))
	}
	return env
}
