package container

import (
	"path/filepath"
	"strings"
)

// logDirOf is the pod log directory that a container's resolved log file
// logPath lies under: logPath less the request's relative path rel. It is
// "" when symlinks inside the directory made the two differ (the monitor
// then only refuses a symlink as the file itself).
func logDirOf(logPath, rel string) string {
	suffix := "/" + filepath.Clean(rel)
	if logPath == "" || rel == "" || !strings.HasSuffix(logPath, suffix) {
		return ""
	}
	return strings.TrimSuffix(logPath, suffix)
}
