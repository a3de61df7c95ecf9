package main

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// gcSlack is how far above its size before the first pull a runtime's root
// may stay once the pulled image is removed.
const gcSlack = 16 << 20

// benchPull pulls img n times through the CRI, removing it after each pull
// and waiting until the runtime has deleted its layers, so that each pull
// downloads and unpacks everything.
func benchPull(ctx context.Context, t *target, res *Results, img largeImage, n int) error {
	spec := &runtimeapi.ImageSpec{Image: img.ref}
	if _, err := t.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec}); err != nil {
		return fmt.Errorf("%s: remove %s: %w", t.name, img.ref, err)
	}
	base := diskUsage(t.root)
	for range n {
		t0 := time.Now()
		if _, err := t.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec}); err != nil {
			return fmt.Errorf("%s: pull %s: %w", t.name, img.ref, err)
		}
		d := time.Since(t0)
		what := fmt.Sprintf("%d layers, %.0f MB", img.layers, float64(img.bytes)/1e6)
		res.figure("pull.large.throughput", "images", "pull throughput, "+what, "MB/s", true, t.name, float64(img.bytes)/1e6/d.Seconds())
		res.figure("pull.large.time", "images", "pull time, "+what, "s", false, t.name, d.Seconds())
		if _, err := t.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec}); err != nil {
			return fmt.Errorf("%s: remove %s: %w", t.name, img.ref, err)
		}
		if !waitForUsage(t.root, base+gcSlack, time.Minute) {
			res.note("%s: %s still holds %d MiB more than before the pull a minute after RemoveImage: the next pull may reuse layers",
				t.name, t.root, (diskUsage(t.root)-base)>>20)
		}
	}
	return nil
}

// waitForUsage waits until dir uses at most limit bytes.
func waitForUsage(dir string, limit int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for diskUsage(dir) > limit {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}

// diskUsage is the space the files below dir take on disk.
func diskUsage(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512
			}
		}
		return nil
	})
	return total
}
