package images

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchContent is n bytes that compress about 2:1, like binaries do.
func benchContent(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		if i%2 == 0 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = 'a'
		}
	}
	return string(b)
}

// benchLayer is a layer of files files of size bytes each.
func benchLayer(b *testing.B, r *rand.Rand, files, size int) testLayer {
	entries := []tarEntry{dir("data/")}
	for i := range files {
		entries = append(entries, file(fmt.Sprintf("data/f%04d", i), benchContent(r, size)))
	}
	return gzLayer(b, entries...)
}

// BenchmarkPull pulls a 16-layer image (about 32 MiB uncompressed) from an
// in-process registry into an empty store; MB/s is of compressed bytes.
func BenchmarkPull(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var layers []testLayer
	var total int64
	for range 16 {
		l := benchLayer(b, r, 16, 128<<10)
		layers = append(layers, l)
		total += int64(len(l.blob))
	}
	img := makeImage(b, "", nil, layers...)
	reg := newTestRegistry(b)
	reg.push(b, "bench/app", "v1", img)
	e := newEnv(b, insecure(reg.Host))
	ctx := context.Background()
	b.SetBytes(total)
	b.ResetTimer()
	for range b.N {
		if _, err := e.svc.Pull(ctx, reg.Host+"/bench/app:v1", nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := e.svc.Remove(ctx, img.id()); err != nil {
			b.Fatal(err)
		}
		if _, err := e.svc.GC(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkExtract extracts one gzip layer of 256 files (32 MiB
// uncompressed); MB/s is of uncompressed bytes.
func BenchmarkExtract(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	l := benchLayer(b, r, 256, 128<<10)
	parent := b.TempDir()
	var tarBytes int64
	b.ResetTimer()
	for i := range b.N {
		dst := filepath.Join(parent, fmt.Sprint(i))
		if err := os.Mkdir(dst, 0o755); err != nil {
			b.Fatal(err)
		}
		rc, err := decompress(bytes.NewReader(l.blob))
		if err != nil {
			b.Fatal(err)
		}
		st, err := applyLayer(context.Background(), dst, rc, layerLimits{MaxBytes: 1 << 30, MaxEntries: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		tarBytes = st.TarBytes
		b.StopTimer()
		_ = os.RemoveAll(dst)
		b.StartTimer()
	}
	b.SetBytes(tarBytes)
}
