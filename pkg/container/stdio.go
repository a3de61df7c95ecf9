package container

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cri-shim/cri-shim/pkg/container/spec"
)

// chownStdio gives the stdio pipes of a created container's init (fds 0-2
// that are pipes; never a device or file) to the host user the process
// runs as. In a user namespace its root is an unprivileged host user that
// could not otherwise reopen them, as "echo > /dev/stdout" does.
func chownStdio(pid int, u *UserInfo, sb *spec.Sandbox) error {
	if u == nil {
		return nil
	}
	uid, okU := spec.ToHost(sb.UIDMappings, uint32(u.UID))
	gid, okG := spec.ToHost(sb.GIDMappings, uint32(u.GID))
	if !okU || !okG {
		return fmt.Errorf("user %d:%d is not mapped in the pod's user namespace", u.UID, u.GID)
	}
	for fd := 0; fd <= 2; fd++ {
		p := "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd)
		target, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(target, "pipe:") {
			continue
		}
		if err := os.Chown(p, int(uid), int(gid)); err != nil {
			return fmt.Errorf("stdio pipe %d: %w", fd, err)
		}
	}
	return nil
}
