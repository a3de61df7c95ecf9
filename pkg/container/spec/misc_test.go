package spec

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func TestDevices(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "null-link")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	in := newInput(t)
	in.Devices = []Device{
		{HostPath: "/dev/zero", ContainerPath: "/dev/myzero", Permissions: "rw"},
		{HostPath: link, ContainerPath: "/dev/mynull"},
	}
	s := mustBuild(t, in)
	if len(s.Linux.Devices) != 2 {
		t.Fatalf("devices %+v", s.Linux.Devices)
	}
	zero, null := s.Linux.Devices[0], s.Linux.Devices[1]
	if zero.Path != "/dev/myzero" || zero.Type != "c" || zero.Major != 1 || zero.Minor != 5 {
		t.Errorf("zero device %+v", zero)
	}
	if null.Path != "/dev/mynull" || null.Major != 1 || null.Minor != 3 {
		t.Errorf("symlinked null device %+v", null)
	}
	rules := s.Linux.Resources.Devices
	if len(rules) != 3 || rules[1].Access != "rw" || !rules[1].Allow || rules[2].Access != "rwm" {
		t.Errorf("device rules %+v, want deny-all then rw and rwm allows", rules)
	}
}

func TestDeviceErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"plain": "x"})
	for _, tc := range []struct {
		name  string
		dev   Device
		kind  error
		words []string
	}{
		{"missing", Device{HostPath: filepath.Join(dir, "nope")}, errdefs.ErrNotFound, []string{filepath.Join(dir, "nope")}},
		{"not a device", Device{HostPath: filepath.Join(dir, "plain")}, errdefs.ErrInvalidArgument, []string{"plain"}},
		{"bad permissions", Device{HostPath: "/dev/null", Permissions: "rwx"}, errdefs.ErrInvalidArgument, []string{`"rwx"`}},
		{"relative host path", Device{HostPath: "dev/null"}, errdefs.ErrInvalidArgument, []string{`"dev/null"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.Devices = []Device{tc.dev}
			wantErr(t, in, tc.kind, tc.words...)
		})
	}
}

func TestAnnotations(t *testing.T) {
	in := newInput(t)
	in.Annotations = map[string]string{"example.com/keep": "c", "secret": "no", AnnotationSandboxID: "forged"}
	in.Sandbox.Annotations = map[string]string{"example.com/keep": "pod", "example.com/pod-only": "p"}
	in.Host.AnnotationPassthrough = []string{"example.com/*", "io.kubernetes.cri.*"}
	a := mustBuild(t, in).Annotations
	want := map[string]string{
		"example.com/keep":         "c",
		"example.com/pod-only":     "p",
		AnnotationContainerType:    "container",
		AnnotationSandboxID:        "pod1",
		AnnotationSandboxName:      "pod",
		AnnotationSandboxNamespace: "default",
		AnnotationSandboxUID:       "u1",
		AnnotationContainerName:    "web",
		AnnotationImageName:        in.ImageName,
	}
	if len(a) != len(want) {
		t.Errorf("annotations %v, want %v", a, want)
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, a[k], v)
		}
	}
}

func TestStopSignal(t *testing.T) {
	for _, tc := range []struct {
		request, image string
		want           syscall.Signal
	}{
		{"", "", syscall.SIGTERM},
		{"", "SIGQUIT", syscall.SIGQUIT},
		{"SIGINT", "SIGQUIT", syscall.SIGINT},
		{"usr1", "", syscall.SIGUSR1},
		{"9", "", syscall.SIGKILL},
		{"", "SIGRTMIN+3", syscall.Signal(37)},
		{"SIGRTMAX", "", syscall.Signal(64)},
	} {
		in := newInput(t)
		in.StopSignal, in.ImageConfig.StopSignal = tc.request, tc.image
		got, err := StopSignal(in)
		if err != nil || got != tc.want {
			t.Errorf("StopSignal(%q, %q) = %v, %v; want %v", tc.request, tc.image, got, err, tc.want)
		}
	}
	for _, bad := range []string{"SIGNOPE", "0", "65", "SIGRTMIN+40", "SIGRTMAX-x"} {
		in := newInput(t)
		in.StopSignal = bad
		if _, err := StopSignal(in); err == nil {
			t.Errorf("StopSignal(%q) succeeded", bad)
		}
	}
}
