package network

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// pipeGrace is how long a plugin's leftover children may hold its output
// pipes open after it exited or was killed.
const pipeGrace = time.Second

// boundedExec runs CNI plugins like libcni's own executor, with three
// differences: every run is bounded by timeout (the plugin and everything it
// started, in its own process group, are killed when it runs out), a child
// the plugin left behind holding its output cannot make the run wait
// forever, and the plugin is killed if the runtime dies.
type boundedExec struct {
	timeout time.Duration
	version.PluginDecoder
}

var _ invoke.Exec = (*boundedExec)(nil)

// ExecPlugin runs the plugin with stdinData and environ.
func (e *boundedExec) ExecPlugin(ctx context.Context, pluginPath string, stdinData []byte, environ []string) ([]byte, error) {
	if e.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.timeout)
		defer cancel()
	}
	// Pdeathsig fires when the thread that forked the plugin exits: keep
	// this goroutine on it, so no other goroutine can end that thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var stdout, stderr bytes.Buffer
	for try := 0; ; try++ {
		stdout.Reset()
		stderr.Reset()
		c := exec.CommandContext(ctx, pluginPath)
		c.Env = environ
		c.Stdin = bytes.NewReader(stdinData)
		c.Stdout, c.Stderr = &stdout, &stderr
		// Own process group, to kill what the plugin started on timeout. A
		// plugin dies with the runtime, so none runs on unseen after a crash:
		// start-up recovery's DEL then undoes what it had done.
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
		c.WaitDelay = pipeGrace
		err := c.Run()
		if err == nil || errors.Is(err, exec.ErrWaitDelay) {
			// ErrWaitDelay: the plugin succeeded, a child it left holds the pipes.
			return stdout.Bytes(), nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cni plugin %s (%s): no answer within %s: %w",
				filepath.Base(pluginPath), command(environ), e.timeout, errdefs.ErrDeadlineExceeded)
		}
		// The plugin binary is being replaced: try again shortly, as libcni does.
		if strings.Contains(err.Error(), "text file busy") && try < 5 {
			select {
			case <-time.After(200 * time.Millisecond):
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, pluginErr(err, stdout.Bytes(), stderr.Bytes())
	}
}

// FindInPath returns the path of plugin in the first of paths that has it.
func (e *boundedExec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

// pluginErr turns a failed run into the plugin's own error message when it
// printed one, as libcni does.
func pluginErr(err error, stdout, stderr []byte) error {
	emsg := types.Error{}
	switch {
	case len(stdout) == 0 && len(stderr) == 0:
		emsg.Msg = fmt.Sprintf("netplugin failed with no error message: %v", err)
	case len(stdout) == 0:
		emsg.Msg = fmt.Sprintf("netplugin failed: %q: %v", stderr, err)
	default:
		if perr := json.Unmarshal(stdout, &emsg); perr != nil {
			emsg.Msg = fmt.Sprintf("netplugin failed but error parsing its diagnostic message %q: %v", stdout, perr)
		}
	}
	if emsg.Msg == "" {
		emsg.Msg = err.Error()
	}
	return &emsg
}

// command is the CNI_COMMAND in environ, for messages.
func command(environ []string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "CNI_COMMAND="); ok {
			return v
		}
	}
	return "?"
}
