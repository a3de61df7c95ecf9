package images

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzApplyLayer feeds arbitrary bytes (tar, gzip or zstd) to the layer
// extraction: it must refuse them with an error or keep everything inside
// the layer directory, never touching what lies beside it, never creating
// device nodes, fifos or trusted xattrs from the archive, and never
// panicking. The seed corpus in testdata/fuzz/FuzzApplyLayer holds hostile
// archives (see hostileArchives; regenerate with CRI_SHIM_WRITE_FUZZ_CORPUS=1
// go test -run TestWriteFuzzCorpus).
func FuzzApplyLayer(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = applyHostile(t, data)
	})
}

// TestWriteFuzzCorpus writes the hostile archives as FuzzApplyLayer's seed
// corpus when CRI_SHIM_WRITE_FUZZ_CORPUS is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CRI_SHIM_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set CRI_SHIM_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzApplyLayer")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzApplyLayer")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, h := range hostileArchives(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", h.data)
		if err := os.WriteFile(filepath.Join(dir, h.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
