package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/sandbox/podinit"
)

// nobody runs the pod's PID 1: it needs no privilege at all.
const nobody = 65534

// killWait bounds the wait for a killed PID 1 to exit.
const killWait = 10 * time.Second

// startPodInit starts the pod's PID 1 in a new PID namespace, in its own
// session, as nobody with no capabilities, and moves it into the pod
// cgroup. exited is closed when it exits while this process is its parent.
func (m *Manager) startPodInit(sb *Sandbox) (proc *Process, exited <-chan struct{}, err error) {
	proc, exited, err = m.spawnPodInit(sb, syscall.CLONE_NEWPID)
	if err != nil {
		return nil, nil, err
	}
	if err := m.cgroups.join(sb.Resources.Cgroup, proc.PID); err != nil {
		_ = kill(proc)
		<-exited
		return nil, nil, fmt.Errorf("pod init %d: %w", proc.PID, err)
	}
	return proc, exited, nil
}

// spawnPodInit starts the pod's PID 1 program with the namespaces of
// flags. With CLONE_NEWUSER its user namespace gets the pod's mappings and
// it runs as nobody inside (root when nobody is not mapped).
func (m *Manager) spawnPodInit(sb *Sandbox, flags uintptr) (proc *Process, exited <-chan struct{}, err error) {
	cmd := exec.Command(m.initExe, append(append([]string(nil), m.initArgs...), podinit.Command, sb.ID)...)
	cmd.Args[0] = "cri-shim"
	cmd.Dir = "/"
	cmd.Env = m.initEnv
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:     true,
		Cloneflags: flags,
		Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}},
	}
	if u := sb.Config.UserNS; u != nil && flags&syscall.CLONE_NEWUSER != 0 {
		a := cmd.SysProcAttr
		for _, x := range u.UIDs {
			a.UidMappings = append(a.UidMappings, syscall.SysProcIDMap{ContainerID: int(x.ContainerID), HostID: int(x.HostID), Size: int(x.Size)})
		}
		for _, x := range u.GIDs {
			a.GidMappings = append(a.GidMappings, syscall.SysProcIDMap{ContainerID: int(x.ContainerID), HostID: int(x.HostID), Size: int(x.Size)})
		}
		// Containers joining the namespace set their groups: never "deny".
		a.GidMappingsEnableSetgroups = true
		a.Credential = &syscall.Credential{Uid: mappedID(u.UIDs, nobody), Gid: mappedID(u.GIDs, nobody), Groups: []uint32{}}
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start pod init: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	pid := cmd.Process.Pid
	st, _, err := procStat(pid)
	if err != nil {
		_ = cmd.Process.Kill()
		<-done
		return nil, nil, fmt.Errorf("pod init %d: %w", pid, err)
	}
	return &Process{PID: pid, StartTime: st}, done, nil
}

// procStat reads a process's start time and state from /proc/PID/stat.
func procStat(pid int) (start uint64, state string, err error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, "", err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, "", err
	}
	return st.Starttime, st.State, nil
}

// alive reports whether p still runs (a zombie does not).
func alive(p *Process) bool {
	st, state, err := procStat(p.PID)
	return err == nil && st == p.StartTime && state != "Z" && state != "X"
}

// kill ends p with SIGKILL and waits until it has exited. A process that is
// gone, or whose PID now belongs to another process, is not an error.
func kill(p *Process) error {
	fd, err := unix.PidfdOpen(p.PID, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd %d: %w", p.PID, err)
	}
	defer unix.Close(fd)
	// The pidfd pins the process it was opened on; check it is ours.
	if st, _, err := procStat(p.PID); err != nil || st != p.StartTime {
		return nil
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill %d: %w", p.PID, err)
	}
	deadline := time.Now().Add(killWait)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		if n > 0 {
			return nil
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("wait for %d: %w", p.PID, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still running %s after SIGKILL", p.PID, killWait)
		}
	}
}

// findPodInit looks for the PID 1 of pod id among all processes, for a pod
// whose record was not updated after it started.
func findPodInit(id string) []*Process {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte("\x00" + podinit.Command + "\x00" + id + "\x00")
	var out []*Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.HasSuffix(cmdline, want) {
			continue
		}
		if st, _, err := procStat(pid); err == nil {
			out = append(out, &Process{PID: pid, StartTime: st})
		}
	}
	return out
}
