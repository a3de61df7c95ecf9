package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// pauseC is a pause program like the one of registry.k8s.io/pause, which
// is C (the test registry's pause images are Go look-alikes: a Go runtime
// start and about 2 MiB more per pod than the real one). It exits 0 on
// SIGINT or SIGTERM and reaps children.
const pauseC = `#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0) {
	}
}

int main(void) {
	struct sigaction q = {.sa_handler = quit}, r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
	if (sigaction(SIGINT, &q, NULL) < 0 || sigaction(SIGTERM, &q, NULL) < 0 || sigaction(SIGCHLD, &r, NULL) < 0)
		return 1;
	for (;;)
		pause();
}
`

// cPauseRepo is where the C pause image is pushed (served as
// registry.k8s.io/pause:cri-shim-bench-c through the mirrors).
const cPauseRepo = "pause:cri-shim-bench-c"

// pushCPause compiles pauseC statically with the host's C compiler into
// dir, pushes a one-layer image of it to the test registry and returns its
// public reference.
func pushCPause(ctx context.Context, regAddr, dir string) (string, error) {
	src := filepath.Join(dir, "pause.c")
	bin := filepath.Join(dir, "pause")
	if err := os.WriteFile(src, []byte(pauseC), 0o644); err != nil {
		return "", err
	}
	cc := exec.CommandContext(ctx, "cc", "-static", "-Os", "-s", "-o", bin, src)
	if out, err := cc.CombinedOutput(); err != nil {
		return "", fmt.Errorf("compile the C pause: %w: %s", err, out)
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	hdr := &tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(prog)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return "", err
	}
	if _, err := tw.Write(prog); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layer.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return "", fmt.Errorf("pause layer: %w", err)
	}
	img, err := newImage(v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"}, l)
	if err != nil {
		return "", err
	}
	if err := pushImage(ctx, regAddr, cPauseRepo, img); err != nil {
		return "", err
	}
	return "registry.k8s.io/" + cPauseRepo, nil
}

// newImage is a linux/amd64 OCI image of config and layers.
func newImage(config v1.Config, layers ...v1.Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", config
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	if img, err = mutate.AppendLayers(img, layers...); err != nil {
		return nil, fmt.Errorf("image layers: %w", err)
	}
	return img, nil
}

// pushImage pushes img to the test registry at regAddr as repo (name:tag).
func pushImage(ctx context.Context, regAddr, repo string, img v1.Image) error {
	tag, err := name.NewTag(regAddr+"/"+repo, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx), remote.WithAuth(authn.Anonymous), remote.WithJobs(4)); err != nil {
		return fmt.Errorf("push %s: %w", repo, err)
	}
	return nil
}
