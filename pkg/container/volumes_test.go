package container

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"

	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// withVolumeImage adds image "vol" to e: a layer with /data/hello over busybox.
func withVolumeImage(t *testing.T, e *env) {
	t.Helper()
	top := t.TempDir()
	if err := os.MkdirAll(filepath.Join(top, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "data", "hello"), []byte("from the image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.images.extra = map[string]*Image{"vol": {ID: "sha256:v01", Ref: "vol:1", Layers: []string{top, layerDir}}}
}

func (e *env) createWithMounts(name string, mounts []spec.Mount, args ...string) (string, error) {
	return e.m.Create(context.Background(), CreateRequest{
		PodID: "pod1", Image: "busybox", LogPath: name + ".log",
		Input: spec.Input{Name: name, Command: args, Mounts: mounts, Security: spec.SecurityContext{
			Namespaces: spec.NamespaceOptions{PID: spec.NamespaceContainer},
		}},
	})
}

func volumeMounts(t *testing.T, e *env, id string) int {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(e.m.paths(id).volumesDir()))
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func TestImageVolumes(t *testing.T) {
	e := newEnv(t)
	withVolumeImage(t, e)
	ctx := context.Background()
	id, err := e.createWithMounts("iv", []spec.Mount{
		{ContainerPath: "/iv", Readonly: true, Image: "vol"},
		{ContainerPath: "/sub", Readonly: true, Image: "vol", ImageSubPath: "data"},
		{ContainerPath: "/one", Readonly: true, Image: "busybox"},
	}, "sh", "-c", "cat /iv/data/hello /sub/hello; ls /one/bin/sh; touch /iv/x 2>/dev/null || echo read-only; /iv/bin/true && echo exec")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := e.m.Get(ctx, id)
	if r.Mounts[0].ImageID != "sha256:v01" || r.Mounts[2].ImageID != "sha256:feed" || r.Mounts[0].HostPath != "" {
		t.Errorf("record mounts %+v", r.Mounts)
	}
	for _, owner := range []string{id + "/vol/0", id + "/vol/1", id + "/vol/2"} {
		if e.images.pins[owner] == "" {
			t.Errorf("no lease %s: %v", owner, e.images.pins)
		}
	}
	if n := volumeMounts(t, e, id); n != 3 {
		t.Errorf("%d volume mounts, want 3", n)
	}
	if err := e.m.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if r := e.waitState(t, id, StateExited); r.ExitCode != 0 {
		log, _ := os.ReadFile(filepath.Join(e.logDir, "iv.log"))
		t.Fatalf("exit %d: %s", r.ExitCode, log)
	}
	log, _ := os.ReadFile(filepath.Join(e.logDir, "iv.log"))
	for _, want := range []string{"F from the image\n", "F /one/bin/sh\n", "F read-only\n", "F exec\n"} {
		if strings.Count(string(log), want) < 1 {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	c, _ := e.m.get(id)
	<-c.exited // closed once the exit's cleanup is done
	if n := volumeMounts(t, e, id); n != 0 {
		t.Errorf("%d volume mounts left after the exit", n)
	}
	if err := e.m.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if len(e.images.pins) != 0 {
		t.Errorf("leases left: %v", e.images.pins)
	}
}

func TestImageVolumeRefused(t *testing.T) {
	e := newEnv(t)
	withVolumeImage(t, e)
	for name, tc := range map[string]struct {
		m     spec.Mount
		kind  func(error) bool
		words string
	}{
		"not pulled":       {spec.Mount{ContainerPath: "/iv", Readonly: true, Image: "absent"}, errdefs.IsNotFound, "not pulled"},
		"missing sub path": {spec.Mount{ContainerPath: "/iv", Readonly: true, Image: "vol", ImageSubPath: "nope"}, errdefs.IsNotFound, `sub path "nope" does not exist`},
		"file sub path":    {spec.Mount{ContainerPath: "/iv", Readonly: true, Image: "vol", ImageSubPath: "data/hello"}, errdefs.IsInvalidArgument, "not a directory"},
	} {
		_, err := e.createWithMounts("bad", []spec.Mount{{ContainerPath: "/ok", Readonly: true, Image: "vol"}, tc.m}, "true")
		if !tc.kind(err) || !strings.Contains(err.Error(), tc.words) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(e.images.pins) != 0 {
		t.Errorf("leases left by refused creates: %v", e.images.pins)
	}
	if ms, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(e.dir)); len(ms) > 0 {
		t.Errorf("mounts left by refused creates: %s", ms[0].Mountpoint)
	}
	if n := len(e.m.List(context.Background(), Filter{})); n != 0 {
		t.Errorf("%d containers left", n)
	}
}
