package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/cri-shim/cri-shim/pkg/container/spec"
	"github.com/cri-shim/cri-shim/pkg/errdefs"
	"github.com/cri-shim/cri-shim/pkg/rootfs"
)

// volumeOwner is the image lease owner of image volume n (the index of its
// mount in the request) of container id.
func volumeOwner(id string, n int) string { return id + "/vol/" + strconv.Itoa(n) }

// volumesDir holds the mounted image volumes of a container, one dir per
// mount index.
func (p paths) volumesDir() string { return filepath.Join(p.bundle, "volumes") }

// mountImageVolumes leases and mounts, read-only, the image of every image
// volume in in.Mounts under the container's state dir, and points the
// mount's HostPath at it (or at its sub path). rec.Mounts get the image IDs
// for the status. The image must be present: the kubelet pulls it first.
func (m *Manager) mountImageVolumes(ctx context.Context, rec *Record, in *spec.Input, p paths, idm *idmap) error {
	for i := range in.Mounts {
		mt := &in.Mounts[i]
		if mt.Image == "" {
			continue
		}
		what := fmt.Sprintf("container %q: image volume %q at %q", in.Name, mt.Image, mt.ContainerPath)
		img, err := m.o.Images.Lease(ctx, volumeOwner(rec.ID, i), mt.Image)
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("%s: the image is not pulled (pull it before creating the container): %w", what, errdefs.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if len(img.Layers) == 0 {
			return fmt.Errorf("%s: the image has no layers: %w", what, errdefs.ErrFailedPrecondition)
		}
		dir := filepath.Join(p.volumesDir(), strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		o := rootfs.Overlay{Lower: img.Layers}
		if idm != nil {
			o.IDMapUserNS = idm.userns
		}
		if err := rootfs.Mount(o, dir); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		src, err := imageSubPath(dir, mt.ImageSubPath)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		mt.HostPath = src
		mt.ImageID = img.ID
		rec.Mounts[i].ImageID = img.ID
	}
	return nil
}

// imageSubPath is sub inside the mounted image at dir, which must be a
// directory; "" is the image's root.
func imageSubPath(dir, sub string) (string, error) {
	if sub == "" {
		return dir, nil
	}
	p, err := securejoin.SecureJoin(dir, sub)
	if err != nil {
		return "", fmt.Errorf("sub path %q: %w", sub, err)
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("sub path %q does not exist in the image: %w", sub, errdefs.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("sub path %q: %w", sub, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("sub path %q is not a directory in the image: %w", sub, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// unmountVolumes unmounts every image volume of the container; it is
// idempotent and leaves the empty dirs.
func unmountVolumes(p paths) error {
	ents, err := os.ReadDir(p.volumesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if err := rootfs.Unmount(filepath.Join(p.volumesDir(), e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// releaseVolumes drops the image leases of rec's image volumes.
func (m *Manager) releaseVolumes(ctx context.Context, rec *Record) error {
	var errs []error
	for i, mt := range rec.Mounts {
		if mt.Image != "" {
			if err := m.o.Images.Release(ctx, volumeOwner(rec.ID, i)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
