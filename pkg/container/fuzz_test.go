package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzResolveLogPath feeds arbitrary container log paths to their
// resolution against a pod log directory holding symlinks that lead out:
// the result must be "" or a path inside the directory, never outside
// it, whatever the request and the symlinks say; and logDirOf must give
// the directory back or "".
func FuzzResolveLogPath(f *testing.F) {
	for _, seed := range []string{"c.log", "c/0.log", "../x", "/etc/passwd", "a/../../x", "out/x", "up/../../x", "abs", "a\x00b", "./c.log", "c//0.log", "loop/x"} {
		f.Add(seed)
	}
	dir := f.TempDir()
	for name, to := range map[string]string{"out": "/etc", "up": "../..", "abs": "/etc/passwd", "loop": "loop"} {
		if err := os.Symlink(to, filepath.Join(dir, name)); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, rel string) {
		p, err := resolveLogPath(dir, rel)
		if err != nil || p == "" {
			return
		}
		if !strings.HasPrefix(p, dir+"/") || filepath.Clean(p) != p {
			t.Fatalf("log path %q resolved to %q, outside %s", rel, p, dir)
		}
		if d := logDirOf(p, rel); d != "" && d != dir {
			t.Fatalf("logDirOf(%q, %q) = %q, want %q or \"\"", p, rel, d, dir)
		}
	})
}
