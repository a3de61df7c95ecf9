// Package checkpoint writes checkpoint archives of running containers with
// CRIU through runc's libcontainer, in the layout CRI-O and containerd use
// for Kubernetes' container checkpoints: checkpoint/ (the CRIU images),
// config.dump (the runtime's record of the container), spec.dump (its OCI
// spec) and rootfs-diff.tar (its writable layer). The container keeps
// running.
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/oci"
)

// DefaultTimeout bounds a checkpoint whose request names no timeout.
const DefaultTimeout = 5 * time.Minute

// Options describe one checkpoint.
type Options struct {
	// StateRoot is libcontainer's state root; ID the container in it.
	StateRoot, ID string
	// Archive is the absolute path of the tar file to write.
	Archive string
	// Record is the runtime's record of the container (JSON), kept as config.dump.
	Record []byte
	// SpecFile is the container's OCI spec (config.json), kept as spec.dump.
	SpecFile string
	// UpperDir is the container's writable layer, kept as rootfs-diff.tar.
	UpperDir string
}

// Container checkpoints a running container into o.Archive, which appears
// whole or not at all. CRIU failing on this host or this container is an
// errdefs.ErrFailedPrecondition error quoting CRIU's own error lines. ctx
// bounds the wait; a CRIU run cut short is cleaned up once it ends.
func Container(ctx context.Context, o Options) error {
	if !filepath.IsAbs(o.Archive) || strings.HasSuffix(o.Archive, "/") {
		return fmt.Errorf("checkpoint container %s: location %q is not an absolute file path: %w", o.ID, o.Archive, errdefs.ErrInvalidArgument)
	}
	lc, err := libcontainer.Load(o.StateRoot, o.ID)
	if err != nil {
		return fmt.Errorf("checkpoint container %s: %w: %w", o.ID, errdefs.ErrNotFound, err)
	}
	if st, err := lc.Status(); err != nil || st != libcontainer.Running {
		return fmt.Errorf("checkpoint container %s: it is %v, not running: %w", o.ID, st, errdefs.ErrFailedPrecondition)
	}
	dir := filepath.Dir(o.Archive)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	tmp, err := os.MkdirTemp(dir, ".checkpoint-"+shortID(o.ID)+"-")
	if err != nil {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	done := make(chan error, 1)
	go func() {
		err := dump(lc, o, tmp)
		if err == nil && ctx.Err() == nil {
			// A caller that gave up gets no archive later either.
			err = writeArchive(ctx, o, tmp)
		}
		_ = os.RemoveAll(tmp)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("checkpoint container %s: %w (CRIU left to finish, its output discarded)", o.ID, ctx.Err())
	}
}

// dump runs CRIU on the container, leaving it running.
func dump(lc *libcontainer.Container, o Options, tmp string) error {
	work := filepath.Join(tmp, "work")
	err := lc.Checkpoint(&libcontainer.CriuOpts{
		ImagesDirectory:   filepath.Join(tmp, "checkpoint"),
		WorkDirectory:     work,
		LeaveRunning:      true,
		TcpEstablished:    true,
		FileLocks:         true,
		ManageCgroupsMode: "soft",
	})
	if err == nil {
		return nil
	}
	if errs := oci.CRIUErrors(filepath.Join(work, "dump.log")); errs != "" {
		return fmt.Errorf("checkpoint container %s: CRIU cannot checkpoint it on this host: %s: %w: %w",
			o.ID, errs, errdefs.ErrFailedPrecondition, err)
	}
	return fmt.Errorf("checkpoint container %s: CRIU: %w: %w", o.ID, errdefs.ErrFailedPrecondition, err)
}

// writeArchive packs the dump with the record, the spec and the writable
// layer into a temporary file next to the archive and renames it into place.
func writeArchive(ctx context.Context, o Options, tmp string) (err error) {
	f, err := os.CreateTemp(filepath.Dir(o.Archive), ".checkpoint-*.tar")
	if err != nil {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	spec, err := os.ReadFile(o.SpecFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	a := newArchive(f)
	if err := a.dir(filepath.Join(tmp, "checkpoint"), "checkpoint"); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	if err := a.file("config.dump", o.Record); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	if spec != nil {
		if err := a.file("spec.dump", spec); err != nil {
			return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
		}
	}
	if o.UpperDir != "" {
		if err := a.nested("rootfs-diff.tar", o.UpperDir, tmp); err != nil {
			return fmt.Errorf("checkpoint container %s: writable layer: %w", o.ID, err)
		}
	}
	if err := a.close(); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	if err := os.Rename(f.Name(), o.Archive); err != nil {
		return fmt.Errorf("checkpoint container %s: %w", o.ID, err)
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
