// Package testrootfs makes small root filesystems from the host's busybox
// for tests that run real containers.
package testrootfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Applets are the busybox commands linked into a Busybox rootfs.
var Applets = []string{"sh", "echo", "cat", "sleep", "id", "hostname", "ls", "touch", "true", "false", "mkdir", "env", "pwd", "head", "grep", "ps"}

// Busybox writes a root filesystem into dir: the host's dynamic busybox with
// its libraries, applets as hard links, /etc/passwd and /etc/group, and the
// usual empty dirs.
func Busybox(dir string) error {
	out, err := exec.Command("ldd", "/bin/busybox").Output()
	if err != nil {
		return fmt.Errorf("ldd /bin/busybox (install Debian's busybox): %w", err)
	}
	files := []string{"/bin/busybox"}
	for _, l := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(l) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, raw, 0o755); err != nil {
			return err
		}
	}
	for _, a := range Applets {
		if err := os.Link(filepath.Join(dir, "bin/busybox"), filepath.Join(dir, "bin", a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	for _, d := range []string{"proc", "sys", "dev", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	files2 := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nextra:x:2000:alice\n",
	}
	for name, body := range files2 {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}
