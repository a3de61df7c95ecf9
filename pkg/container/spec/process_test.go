package spec

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		name                string
		entrypoint, cmd     []string
		command, args, want []string
	}{
		{name: "image entrypoint and cmd", entrypoint: []string{"/ep"}, cmd: []string{"c1"}, want: []string{"/ep", "c1"}},
		{name: "image cmd only", cmd: []string{"sh", "-c", "x"}, want: []string{"sh", "-c", "x"}},
		{name: "request args replace cmd", entrypoint: []string{"/ep"}, cmd: []string{"c1"}, args: []string{"a1"}, want: []string{"/ep", "a1"}},
		{name: "request command drops entrypoint and cmd", entrypoint: []string{"/ep"}, cmd: []string{"c1"}, command: []string{"top"}, want: []string{"top"}},
		{name: "request command and args", entrypoint: []string{"/ep"}, cmd: []string{"c1"}, command: []string{"sh"}, args: []string{"-c", "ls"}, want: []string{"sh", "-c", "ls"}},
		{name: "empty-string entrypoint means none", entrypoint: []string{""}, cmd: []string{"c1"}, want: []string{"c1"}},
		{name: "request args without image", args: []string{"/bin/true"}, want: []string{"/bin/true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.ImageConfig.Entrypoint, in.ImageConfig.Cmd = tc.entrypoint, tc.cmd
			in.Command, in.Args = tc.command, tc.args
			if got := mustBuild(t, in).Process.Args; !slices.Equal(got, tc.want) {
				t.Errorf("args = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNoCommand(t *testing.T) {
	in := newInput(t)
	in.ImageConfig.Cmd = nil
	wantErr(t, in, errdefs.ErrInvalidArgument, "no command")
}

func TestEnv(t *testing.T) {
	in := newInput(t)
	in.ImageConfig.Env = []string{"A=image", "B=image", "PATH=/image/bin"}
	in.Env = []EnvVar{{Key: "B", Value: "request"}, {Key: "C", Value: "x=y"}}
	s := mustBuild(t, in)
	for _, kv := range []string{"A=image", "B=request", "C=x=y", "PATH=/image/bin", "HOSTNAME=pod-host"} {
		if !hasEnv(s, kv) {
			t.Errorf("env %q missing from %q", kv, s.Process.Env)
		}
	}
	if hasEnv(s, "B=image") || hasEnv(s, "TERM=xterm") {
		t.Errorf("env has overridden B or an unasked TERM: %q", s.Process.Env)
	}
	if n := len(slices.DeleteFunc(slices.Clone(s.Process.Env), func(e string) bool { return !strings.HasPrefix(e, "PATH=") })); n != 1 {
		t.Errorf("%d PATH entries in %q", n, s.Process.Env)
	}
}

func TestEnvDefaultPathAndTTY(t *testing.T) {
	in := newInput(t)
	in.TTY = true
	s := mustBuild(t, in)
	if !hasEnv(s, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
		t.Errorf("no default PATH in %q", s.Process.Env)
	}
	if !s.Process.Terminal || !hasEnv(s, "TERM=xterm") {
		t.Errorf("terminal %v env %q, want a terminal with TERM=xterm", s.Process.Terminal, s.Process.Env)
	}
}

func TestWorkingDir(t *testing.T) {
	for _, tc := range []struct{ image, request, want string }{
		{"", "", "/"},
		{"/srv", "", "/srv"},
		{"/srv", "/work", "/work"},
	} {
		in := newInput(t)
		in.ImageConfig.WorkingDir, in.WorkingDir = tc.image, tc.request
		if got := mustBuild(t, in).Process.Cwd; got != tc.want {
			t.Errorf("image %q request %q: cwd %q, want %q", tc.image, tc.request, got, tc.want)
		}
	}
	in := newInput(t)
	in.WorkingDir = "rel"
	wantErr(t, in, errdefs.ErrInvalidArgument, `"rel"`)
}

func TestInvalidInput(t *testing.T) {
	if _, err := Build(context.Background(), nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("nil input: %v", err)
	}
	in := newInput(t)
	in.Rootfs = "relative/rootfs"
	wantErr(t, in, errdefs.ErrInvalidArgument, "rootfs")
	in = newInput(t)
	in.CgroupsPath = ""
	wantErr(t, in, errdefs.ErrInvalidArgument, "cgroups path")
}

func TestBaseSpec(t *testing.T) {
	in := newInput(t)
	s := mustBuild(t, in)
	if s.Root.Path != in.Rootfs || s.Root.Readonly {
		t.Errorf("root = %+v", s.Root)
	}
	if s.Linux.CgroupsPath != in.CgroupsPath {
		t.Errorf("cgroups path %q", s.Linux.CgroupsPath)
	}
	if s.Process.Rlimits != nil || s.Process.NoNewPrivileges || s.Process.ApparmorProfile != "" || s.Linux.Seccomp != nil {
		t.Errorf("default process keeps rlimits, no_new_privs or an LSM profile: %+v", s.Process)
	}
	if _, ok := findMount(s, "/run"); ok {
		t.Error("/run tmpfs should be gone")
	}
}
