package oci

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/runc/libcontainer"
)

// restoreFlag makes the create command restore a checkpoint instead of
// starting a new init.
const restoreFlag = "--restore"

// restoreLog is CRIU's log of a restore, in its work directory.
const restoreLog = "restore.log"

// restoreErrors adds CRIU's own error lines to a failed restore from
// imagesDir.
func restoreErrors(err error, imagesDir string) error {
	if errs := CRIUErrors(filepath.Join(restoreWorkDir(imagesDir), restoreLog)); errs != "" {
		return fmt.Errorf("%w (CRIU: %s)", err, errs)
	}
	return err
}

// restoreWorkDir is CRIU's work directory (logs) of a restore from imagesDir.
func restoreWorkDir(imagesDir string) string { return imagesDir + ".work" }

// restore restores container c's processes with CRIU from imagesDir, p's
// stdio (the monitor's pipes) in place of the checkpointed container's. It
// returns the restored init's PID.
func restore(c *libcontainer.Container, p *libcontainer.Process, imagesDir string) (int, error) {
	// The options the checkpoint was written with (pkg/checkpoint).
	if err := c.Restore(p, &libcontainer.CriuOpts{
		ImagesDirectory:   imagesDir,
		WorkDirectory:     restoreWorkDir(imagesDir),
		TcpEstablished:    true,
		FileLocks:         true,
		ManageCgroupsMode: "soft",
	}); err != nil {
		return 0, fmt.Errorf("CRIU restore: %w", err)
	}
	st, err := c.State()
	if err != nil {
		return 0, fmt.Errorf("restored container state: %w", err)
	}
	if st.InitProcessPid <= 0 {
		return 0, fmt.Errorf("CRIU restore: no init process")
	}
	return st.InitProcessPid, nil
}

// CRIUErrors returns the last error lines of the CRIU log at path, joined
// ("" when there are none or no log).
func CRIUErrors(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if i := strings.Index(sc.Text(), "Error ("); i >= 0 {
			lines = append(lines, strings.TrimSpace(sc.Text()[i:]))
		}
	}
	if len(lines) > 4 {
		lines = lines[len(lines)-4:]
	}
	return strings.Join(lines, "; ")
}
