package testimages

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
)

// Host binaries copied into the busybox-based images, with their shared
// libraries. Debian packages: busybox (NOT busybox-static) and util-linux.
const (
	hostBusybox = "/bin/busybox"
	hostIpcs    = "/usr/bin/ipcs"
)

// libDirs is where shared libraries are looked up on the host (Debian
// multiarch first). A library found in dir D is installed at D in the image,
// which the dynamic loader searches by default.
var libDirs = []string{
	"/lib/x86_64-linux-gnu",
	"/usr/lib/x86_64-linux-gnu",
	"/lib64",
	"/usr/lib64",
	"/lib",
	"/usr/lib",
}

// elfInfo returns the program interpreter (empty for static binaries) and the
// DT_NEEDED entries of an ELF file.
func elfInfo(p string) (interp string, needed []string, err error) {
	f, err := elf.Open(p)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return "", nil, fmt.Errorf("%s: not an x86-64 ELF file (%v)", p, f.Machine)
	}
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return "", nil, fmt.Errorf("%s: reading PT_INTERP: %w", p, err)
		}
		interp = string(bytes.TrimRight(b, "\x00"))
	}
	needed, err = f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return "", nil, fmt.Errorf("%s: reading DT_NEEDED: %w", p, err)
	}
	return interp, needed, nil
}

// addDynamicBinary copies the host ELF binary hostPath to imagePath in the
// layer, together with its program interpreter and, recursively, the shared
// libraries it needs (installed at their host paths). Files already in the
// layer are not added twice.
func addDynamicBinary(b *layerBuilder, hostPath, imagePath string) error {
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return err
	}
	b.File(imagePath, 0o755, data)
	return addLibs(b, hostPath)
}

func addLibs(b *layerBuilder, hostPath string) error {
	interp, needed, err := elfInfo(hostPath)
	if err != nil {
		return err
	}
	if interp != "" {
		if _, ok := b.index[tarPath(interp)]; !ok {
			data, err := os.ReadFile(interp) // follows the host's symlink chain
			if err != nil {
				return fmt.Errorf("program interpreter of %s: %w", hostPath, err)
			}
			b.File(interp, 0o755, data)
		}
	}
	for _, lib := range needed {
		found := ""
		for _, dir := range libDirs {
			p := path.Join(dir, lib)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				found = p
				break
			}
		}
		if found == "" {
			return fmt.Errorf("%s needs %s, which is not in %v", hostPath, lib, libDirs)
		}
		if _, ok := b.index[tarPath(found)]; ok {
			continue
		}
		if interp != "" && path.Base(interp) == lib {
			// libc needs the loader by soname; reuse the interpreter copy.
			b.HardLink(found, interp)
			continue
		}
		data, err := os.ReadFile(found)
		if err != nil {
			return err
		}
		b.File(found, 0o755, data)
		if err := addLibs(b, found); err != nil {
			return err
		}
	}
	return nil
}

// busyboxApplets returns the sorted applet names of the host busybox.
func busyboxApplets(ctx context.Context, busybox string) ([]string, error) {
	out, err := exec.CommandContext(ctx, busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busybox, err)
	}
	var applets []string
	for _, f := range strings.Fields(string(out)) {
		if f == "busybox" || strings.Contains(f, "/") {
			continue
		}
		applets = append(applets, f)
	}
	sort.Strings(applets)
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s --list printed no applets", busybox)
	}
	return applets, nil
}

// checkHostTools reports missing host prerequisites with a hint.
func checkHostTools() error {
	interp, _, err := elfInfo(hostBusybox)
	if err != nil {
		return fmt.Errorf("test images need Debian's dynamically linked busybox at %s (apt-get install busybox): %w", hostBusybox, err)
	}
	if interp == "" {
		// A static busybox runs applets in-process, so masking /bin/ls
		// (MaskedPaths spec) would not make "sh -c ls" fail as expected.
		return fmt.Errorf("%s is statically linked; the test images need Debian's dynamic busybox (apt-get install busybox, not busybox-static)", hostBusybox)
	}
	if _, err := os.Stat(hostIpcs); err != nil {
		return fmt.Errorf("test images need %s (apt-get install util-linux): %w", hostIpcs, err)
	}
	return nil
}
