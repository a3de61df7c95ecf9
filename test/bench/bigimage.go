package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// largeImage is the many-layer image of the pull benchmark, by its public
// name (the runtimes' mirrors send registry.k8s.io to the test registry).
type largeImage struct {
	ref    string
	layers int
	bytes  int64 // compressed layer bytes
}

// pushLargeImage builds an image of layers layers, each one file of size
// bytes of random data (so the gzip layers do not shrink), and pushes it to
// the test registry at regAddr.
func pushLargeImage(ctx context.Context, regAddr string, layers, size int) (largeImage, error) {
	t0 := time.Now()
	repo := fmt.Sprintf("cri-shim-bench/large:%dx%dm", layers, size>>20)
	r := rand.New(rand.NewChaCha8([32]byte{'c', 'r', 'i', '-', 's', 'h', 'i', 'm'}))
	var ls []v1.Layer
	var total int64
	for i := range layers {
		blob, err := randomLayer(r, fmt.Sprintf("data/layer%02d.bin", i), size)
		if err != nil {
			return largeImage{}, err
		}
		total += int64(len(blob))
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(blob)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return largeImage{}, fmt.Errorf("large image layer: %w", err)
		}
		ls = append(ls, l)
	}
	img, err := newImage(v1.Config{Cmd: []string{"/data/none"}}, ls...)
	if err != nil {
		return largeImage{}, err
	}
	if err := pushImage(ctx, regAddr, repo, img); err != nil {
		return largeImage{}, err
	}
	fmt.Printf("pushed %s (%d layers, %.0f MB) in %s\n", repo, layers, float64(total)/1e6, time.Since(t0).Round(time.Millisecond))
	return largeImage{ref: "registry.k8s.io/" + repo, layers: layers, bytes: total}, nil
}

// randomLayer is a gzip tar holding one file of size random bytes.
func randomLayer(r *rand.Rand, path string, size int) ([]byte, error) {
	data := make([]byte, size)
	for i := 0; i+8 <= size; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{Name: path, Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(&tar.Header{Name: "data/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
