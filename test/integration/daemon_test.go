// Package integration runs real cri-shim daemons and checks them through the
// CRI and crictl. It needs root.
package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/test/framework"
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		println("integration tests need root")
		os.Exit(1)
	}
	code := m.Run()
	framework.Cleanup()
	os.Exit(code)
}

func TestRuntimeInfo(t *testing.T) {
	d := framework.StartDaemon(t, framework.Options{})
	ctx := context.Background()

	v, err := d.Runtime.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.GetRuntimeName() != "cri-shim" || v.GetRuntimeApiVersion() != "v1" || v.GetVersion() != "0.1.0" || v.GetRuntimeVersion() == "" {
		t.Errorf("version %v", v)
	}

	st, err := d.Runtime.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range st.GetStatus().GetConditions() {
		seen[c.GetType()] = true
		if !c.GetStatus() && (c.GetReason() == "" || c.GetMessage() == "") {
			t.Errorf("condition %s false without reason and message", c.GetType())
		}
	}
	if !seen["RuntimeReady"] || !seen["NetworkReady"] {
		t.Errorf("conditions %v", st.GetStatus().GetConditions())
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(st.GetInfo()["config"]), &cfg); err != nil {
		t.Fatalf("verbose config info is not JSON: %v", err)
	}
	if cfg["Socket"] != d.Socket && cfg["socket"] != d.Socket {
		t.Errorf("verbose config does not show the socket %s: %v", d.Socket, st.GetInfo()["config"])
	}

	rc, err := d.Runtime.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rc.GetLinux().GetCgroupDriver() != runtimeapi.CgroupDriver_CGROUPFS {
		t.Errorf("cgroup driver %v, want cgroupfs on this machine", rc.GetLinux().GetCgroupDriver())
	}

	// Something to measure in the image store.
	if err := os.MkdirAll(filepath.Join(d.Root, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Root, "images", "blob"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, err := d.Image.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	img := fs.GetImageFilesystems()
	if len(img) != 1 || img[0].GetUsedBytes().GetValue() < 1<<20 || img[0].GetInodesUsed().GetValue() < 2 ||
		img[0].GetFsId().GetMountpoint() != filepath.Join(d.Root, "images") || len(fs.GetContainerFilesystems()) != 1 {
		t.Errorf("image fs info %v", fs)
	}

	_, err = d.Runtime.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{PodSandboxId: "x"})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unbuilt RPC: %v, want Unimplemented", err)
	}

	st2, err := os.Stat(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Mode().Perm() != 0o660 || st2.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, want socket 0660", st2.Mode())
	}
}

func TestCrictl(t *testing.T) {
	crictl, err := exec.LookPath("crictl")
	if err != nil {
		t.Fatal("crictl not installed (make deps)")
	}
	d := framework.StartDaemon(t, framework.Options{})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "RuntimeName:  cri-shim"},
		{[]string{"info"}, `"RuntimeReady"`},
		{[]string{"imagefsinfo"}, `"usedBytes"`},
	} {
		args := append([]string{"--runtime-endpoint", "unix://" + d.Socket, "--image-endpoint", "unix://" + d.Socket, "--timeout", "10s"}, tc.args...)
		out, err := exec.Command(crictl, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("crictl %v: %v\n%s", tc.args, err, out)
		}
	}
}

func TestSecondInstanceRefused(t *testing.T) {
	d := framework.StartDaemon(t, framework.Options{})
	out, err := exec.Command(framework.Binary(t), "--config", d.Config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another cri-shim is running") {
		t.Fatalf("second instance: %v\n%s", err, out)
	}
	// The first still answers.
	if _, err := d.Runtime.Version(context.Background(), &runtimeapi.VersionRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	d := framework.NewDaemon(t, framework.Options{})
	l, err := net.Listen("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(d.Socket); err != nil {
		t.Fatalf("stale socket not left: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
}

func TestNonSocketFileNotReplaced(t *testing.T) {
	d := framework.NewDaemon(t, framework.Options{})
	if err := os.WriteFile(d.Socket, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(framework.Binary(t), "--config", d.Config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a socket") {
		t.Fatalf("start over a regular file: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(d.Socket); string(b) != "precious" {
		t.Fatal("regular file at the socket path was replaced")
	}
}

func TestBadConfigStopsStartup(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ body, key string }{
		{"no_such_setting = 1\n", "no_such_setting"},
		{"[cni]\nbin_dir = \"/x\"\n", "cni.bin_dir"},
		{"[image]\npull_timeout = \"soon\"\n", "image.pull_timeout"},
		{"log_level = \"loud\"\n", "log_level"},
		{"[registries.\"gcr.io\"]\nmirrors = [\"ftp://x\"]\n", "gcr.io"},
	} {
		p := filepath.Join(dir, "bad.toml")
		if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(framework.Binary(t), "--config", p, "--socket", filepath.Join(dir, "s.sock"),
			"--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"))
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.key) {
			t.Errorf("config %q: %v\n%s", tc.body, err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "s.sock")); err == nil {
			t.Errorf("config %q: socket created despite the bad config", tc.body)
		}
	}
	// An explicit --config that does not exist is an error, not defaults.
	out, err := exec.Command(framework.Binary(t), "--config", filepath.Join(dir, "missing.toml")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "missing.toml") {
		t.Errorf("missing explicit config: %v\n%s", err, out)
	}
}

func TestPrintedDefaultConfigIsAccepted(t *testing.T) {
	out, err := exec.Command(framework.Binary(t), "config").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `socket = "/run/cri-shim/cri-shim.sock"`) || !strings.Contains(string(out), "#") {
		t.Fatalf("default config lacks the socket or comments:\n%s", out)
	}
	d := framework.NewDaemon(t, framework.Options{})
	// The machine's NRI socket and plugin dir are not the test's to take:
	// private ones in their place (no flag overrides them).
	cfg := string(out)
	for def, private := range map[string]string{
		`socket_path = "/var/run/nri/nri.sock"`: fmt.Sprintf("socket_path = %q", d.NRISocket()),
		`plugin_path = "/opt/nri/plugins"`:      fmt.Sprintf("plugin_path = %q", filepath.Join(d.Dir, "nri-plugins")),
	} {
		if !strings.Contains(cfg, def) {
			t.Fatalf("default config lacks %s:\n%s", def, cfg)
		}
		cfg = strings.Replace(cfg, def, private, 1)
	}
	// The printed file with private paths given as flags, which override the file.
	if err := os.WriteFile(d.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Start("--socket", d.Socket, "--root", d.Root, "--state", d.State); err != nil {
		t.Fatal(err)
	}
}

func TestGracefulStop(t *testing.T) {
	d := framework.StartDaemon(t, framework.Options{})
	if err := d.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(15 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if _, err := os.Stat(d.Socket); !os.IsNotExist(err) {
		t.Errorf("socket left after stop: %v", err)
	}
	// It starts again on the same dirs.
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	d := framework.StartDaemon(t, framework.Options{})
	orig, err := os.ReadFile(d.Config)
	if err != nil {
		t.Fatal(err)
	}
	updated := strings.Replace(string(orig), "log_level = 4", "log_level = 5", 1) +
		"\n[registries.\"registry.k8s.io\"]\nmirrors = [\"http://127.0.0.1:5999\"]\n"
	if err := os.WriteFile(d.Config, []byte(updated), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !d.WaitLog("reload: log_level: 4 -> 5", 10*time.Second) || !d.WaitLog("127.0.0.1:5999", time.Second) {
		t.Fatalf("reload not logged:\n%s", d.Log())
	}
	st, err := d.Runtime.Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.GetInfo()["config"], "127.0.0.1:5999") {
		t.Errorf("reloaded mirrors not in force: %s", st.GetInfo()["config"])
	}

	// A bad file is refused and the running settings stay.
	if err := os.WriteFile(d.Config, []byte(updated+"\nbogus_key = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !d.WaitLog("reload refused", 10*time.Second) || !strings.Contains(d.Log(), "bogus_key") {
		t.Fatalf("bad reload not refused:\n%s", d.Log())
	}
	st, err = d.Runtime.Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatalf("daemon not serving after a refused reload: %v", err)
	}
	if !strings.Contains(st.GetInfo()["config"], "127.0.0.1:5999") {
		t.Errorf("running settings lost after a refused reload: %s", st.GetInfo()["config"])
	}
}
