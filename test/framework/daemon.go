// Package framework starts real cri-shim daemons for integration tests and
// gives them CRI clients. Each daemon gets private socket, root and state
// dirs, and is stopped and cleaned up when the test ends.
package framework

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Binary returns the cri-shim binary under test: $CRI_SHIM_BIN, or one built
// once per test process (removed by Cleanup).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CRI_SHIM_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cri-shim-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "cri-shim")
		out, err := exec.Command("go", "build", "-tags", "seccomp", "-o", builtBin, "github.com/cri-shim/cri-shim/cmd/cri-shim").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build cri-shim: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Cleanup removes the binary Binary built, if any; call it from TestMain.
func Cleanup() {
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin))
	}
}

// Daemon is a cri-shim started by a test.
type Daemon struct {
	// Dir holds the socket, root, state, config and log of this daemon.
	Dir     string
	Socket  string
	Root    string
	State   string
	Config  string
	LogPath string
	Runtime runtimeapi.RuntimeServiceClient
	Image   runtimeapi.ImageServiceClient

	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	conn *grpc.ClientConn
}

// Options shape a daemon.
type Options struct {
	// ConfigTOML is appended to the generated config file (which sets the socket, root and state).
	ConfigTOML string
	// Args are extra command-line arguments.
	Args []string
}

// NewDaemon prepares the dirs and the config of a daemon without starting it.
func NewDaemon(t testing.TB, o Options) *Daemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "cri-shim-test-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{
		t: t, Dir: dir,
		Socket: filepath.Join(dir, "cri-shim.sock"), Root: filepath.Join(dir, "root"),
		State: filepath.Join(dir, "state"), Config: filepath.Join(dir, "config.toml"),
		LogPath: filepath.Join(dir, "cri-shim.log"),
	}
	cfg := fmt.Sprintf("socket = %q\nroot_dir = %q\nstate_dir = %q\nlog_level = 4\n%s", d.Socket, d.Root, d.State, o.ConfigTOML)
	if !strings.Contains(o.ConfigTOML, "[nri]") {
		// NRI on, as by default, but on a socket and plugin dirs of the
		// test's own: several daemons run at once here.
		cfg += fmt.Sprintf("\n[nri]\nsocket_path = %q\nplugin_path = %q\nplugin_config_path = %q\n",
			d.NRISocket(), filepath.Join(dir, "nri-plugins"), filepath.Join(dir, "nri-conf.d"))
	}
	if err := os.WriteFile(d.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			if log, err := os.ReadFile(d.LogPath); err == nil {
				t.Logf("cri-shim log:\n%s", tail(log, 8000))
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("cleanup %s: %v", dir, err)
		}
	})
	return d
}

// NRISocket is the daemon's NRI socket, where NRI plugins of the test
// connect (unless Options.ConfigTOML has an [nri] table of its own).
func (d *Daemon) NRISocket() string { return filepath.Join(d.Dir, "nri.sock") }

// StartDaemon starts a daemon and waits until it answers.
func StartDaemon(t testing.TB, o Options) *Daemon {
	t.Helper()
	d := NewDaemon(t, o)
	if err := d.Start(o.Args...); err != nil {
		t.Fatal(err)
	}
	return d
}

// Start runs the daemon with its config plus args and waits until it answers Version.
func (d *Daemon) Start(args ...string) error {
	logf, err := os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	d.cmd = exec.Command(Binary(d.t), append([]string{"--config", d.Config}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	d.done = make(chan struct{})
	go func() {
		d.err = d.cmd.Wait()
		logf.Close()
		close(d.done)
	}()
	if d.conn == nil {
		d.conn, err = grpc.NewClient("unix://"+d.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		d.Runtime = runtimeapi.NewRuntimeServiceClient(d.conn)
		d.Image = runtimeapi.NewImageServiceClient(d.conn)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := d.Runtime.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-d.done:
			log, _ := os.ReadFile(d.LogPath)
			return fmt.Errorf("cri-shim exited at start (%v):\n%s", d.err, tail(log, 4000))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cri-shim not answering on %s: %v", d.Socket, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig syscall.Signal) error {
	if d.cmd == nil || d.cmd.Process == nil {
		return fmt.Errorf("daemon not started")
	}
	return d.cmd.Process.Signal(sig)
}

// Wait waits up to timeout for the daemon to exit and returns its exit error.
func (d *Daemon) Wait(timeout time.Duration) error {
	select {
	case <-d.done:
		return d.err
	case <-time.After(timeout):
		return fmt.Errorf("cri-shim still running after %s", timeout)
	}
}

// Kill9 kills the daemon with SIGKILL, as a crash would.
func (d *Daemon) Kill9() {
	if d.cmd != nil && d.done != nil {
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// Stop ends the daemon with SIGTERM (SIGKILL after 20 s) if it runs.
func (d *Daemon) Stop() {
	if d.cmd == nil || d.done == nil {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.t.Errorf("cri-shim did not stop within 20 s of SIGTERM; killing it")
		d.Kill9()
	}
}

// Log returns the daemon's log so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.LogPath)
	return string(b)
}

// WaitLog waits until the log contains s.
func (d *Daemon) WaitLog(s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(d.Log(), s) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b
}
