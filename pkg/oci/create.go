package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	// Device rules need the devices manager registered.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/cri-shim/cri-shim/pkg/monitor"
)

// CreateMain is the create command: "cri-shim __create STATEROOT ID BUNDLE
// [--tty] [--restore CRIU_IMAGES_DIR]". It runs under a monitor, which gave it the container's stdio on
// fds 3-5, the console socket on fd 6 and the result pipe on fd 7. It returns
// the process exit code.
//
// "cri-shim __create --spare" is a spare monitor's create command: it waits
// for those arguments and fds (and its stderr) on fd 3, then goes on alike.
func CreateMain(args []string) int {
	if len(args) == 1 && args[0] == spareFlag {
		var err error
		if args, err = awaitJob(monitor.CreateStdinFd); err != nil {
			if errors.Is(err, errNoJob) {
				return 0
			}
			fmt.Fprintf(os.Stderr, "spare create command: %v", err)
			return 1
		}
	}
	// Nothing the monitor handed over may leak into the container.
	for fd := monitor.CreateStdinFd; fd <= monitor.CreateResultFd; fd++ {
		unix.CloseOnExec(fd)
	}
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(logrus.WarnLevel)
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: cri-shim __create STATEROOT ID BUNDLE [--tty] [--restore DIR]")
		return 2
	}
	root, id, bundle := args[0], args[1], args[2]
	tty, restoreFrom := false, ""
	for i := 3; i < len(args); i++ {
		switch {
		case args[i] == "--tty":
			tty = true
		case args[i] == restoreFlag && i+1 < len(args):
			i++
			restoreFrom = args[i]
		}
	}
	pid, err := create(root, id, bundle, tty, restoreFrom)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v", err)
		return 1
	}
	res := os.NewFile(monitor.CreateResultFd, "result")
	if _, err := io.WriteString(res, strconv.Itoa(pid)); err != nil {
		fmt.Fprintf(os.Stderr, "report pid: %v", err)
		return 1
	}
	return 0
}

// spareFlag makes the create command a spare's (see CreateMain).
const spareFlag = "--spare"

// errNoJob is a spare's end without a container.
var errNoJob = errors.New("no job")

// jobFds are the fds a spare's job brings: stdin, stdout, stderr, console,
// result (they go to fds 3-7) and the error pipe (fd 2).
const jobFds = 6

// awaitJob waits for a spare's job on socket fd: its arguments,
// NUL-separated, with the fds it puts in place. fd is replaced.
func awaitJob(fd int) ([]string, error) {
	warmUp()
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(jobFds*4))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read job: %w", err)
	}
	if n == 0 {
		return nil, errNoJob
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("job without fds (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, fmt.Errorf("job fds: %w", err)
	}
	defer func() {
		for _, f := range fds {
			unix.Close(f)
		}
	}()
	if len(fds) != jobFds {
		return nil, fmt.Errorf("job brought %d fds, want %d", len(fds), jobFds)
	}
	// Above the target range first, so that no dup3 clobbers a source.
	high := make([]int, 0, jobFds)
	defer func() {
		for _, f := range high {
			unix.Close(f)
		}
	}()
	for _, f := range fds {
		h, err := unix.FcntlInt(uintptr(f), unix.F_DUPFD_CLOEXEC, 64)
		if err != nil {
			return nil, fmt.Errorf("job fds: %w", err)
		}
		high = append(high, h)
	}
	for i := 0; i < jobFds-1; i++ {
		if err := unix.Dup3(high[i], monitor.CreateStdinFd+i, unix.O_CLOEXEC); err != nil {
			return nil, fmt.Errorf("job fds: %w", err)
		}
	}
	if err := unix.Dup3(high[jobFds-1], 2, 0); err != nil {
		return nil, fmt.Errorf("job stderr: %w", err)
	}
	if err := takeParentNice(); err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00"), nil
}

// warmUp runs the config conversion and JSON encoding of a create once on
// an example spec, so that a spare's create does not pay their first run
// (page faults, the JSON encoders of libcontainer's types: about 6 ms of a
// create here) once its container comes.
func warmUp() {
	raw, err := json.Marshal(specconv.Example())
	if err != nil {
		return
	}
	var spec specs.Spec
	if json.Unmarshal(raw, &spec) != nil {
		return
	}
	spec.Root.Path = "/"
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: "warm-up", Spec: &spec})
	if err != nil {
		return
	}
	// libcontainer sends the config to the init and saves its state as
	// JSON: encoding a type the first time costs more than the rest of the
	// create's JSON work (the encoders are cached per type).
	_, _ = json.Marshal(cfg)
	_, _ = json.Marshal(&libcontainer.State{BaseState: libcontainer.BaseState{Config: *cfg}})
}

// takeParentNice gives every thread of this process the niceness of its
// parent, the monitor: a spare waits niced, and the container it starts
// (forked from one of these threads) must not inherit that. Niceness is
// per thread on Linux; a thread started during the first pass is caught by
// the second.
func takeParentNice() error {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, os.Getppid())
	if err != nil {
		return fmt.Errorf("monitor's priority: %w", err)
	}
	nice := 20 - prio // the raw system call answers 20 - nice
	for pass := 0; pass < 2; pass++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("threads: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && err != unix.ESRCH {
				return fmt.Errorf("thread %d: set nice %d: %w", tid, nice, err)
			}
		}
	}
	return nil
}

// create makes the bundle's container and starts its init parked, or, with
// restoreFrom, restores its processes from those CRIU images. It returns the
// init's PID.
func create(root, id, bundle string, tty bool, restoreFrom string) (pid int, err error) {
	c, spec, err := loadBundle(root, id, bundle)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = c.Destroy()
		}
	}()
	p, err := process(spec.Process)
	if err != nil {
		return 0, err
	}
	p.Init = true
	if tty {
		p.ConsoleSocket = os.NewFile(monitor.CreateConsoleFd, "console")
	} else {
		p.Stdin = os.NewFile(monitor.CreateStdinFd, "stdin")
		p.Stdout = os.NewFile(monitor.CreateStdoutFd, "stdout")
		p.Stderr = os.NewFile(monitor.CreateStderrFd, "stderr")
	}
	if restoreFrom != "" {
		return restore(c, p, restoreFrom)
	}
	if err := c.Start(p); err != nil {
		return 0, fmt.Errorf("start init: %w", err)
	}
	return p.Pid()
}

// loadBundle makes the libcontainer container of the bundle's config.json.
func loadBundle(root, id, bundle string) (*libcontainer.Container, *specs.Spec, error) {
	raw, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, nil, fmt.Errorf("config.json: %w", err)
	}
	if spec.Process == nil {
		return nil, nil, fmt.Errorf("config.json: no process")
	}
	// specconv resolves a relative rootfs against the working directory.
	if err := os.Chdir(bundle); err != nil {
		return nil, nil, err
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: id, Spec: &spec})
	if err != nil {
		return nil, nil, fmt.Errorf("libcontainer config: %w", err)
	}
	c, err := libcontainer.Create(root, id, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("libcontainer create: %w", err)
	}
	return c, &spec, nil
}

// process is the libcontainer process of an OCI process, as runc builds it.
func process(p *specs.Process) (*libcontainer.Process, error) {
	lp := &libcontainer.Process{
		Args:            p.Args,
		Env:             p.Env,
		UID:             int(p.User.UID),
		GID:             int(p.User.GID),
		Cwd:             p.Cwd,
		Label:           p.SelinuxLabel,
		NoNewPrivileges: &p.NoNewPrivileges,
		AppArmorProfile: p.ApparmorProfile,
		Scheduler:       p.Scheduler,
		IOPriority:      p.IOPriority,
	}
	if p.ConsoleSize != nil {
		lp.ConsoleWidth = uint16(p.ConsoleSize.Width)
		lp.ConsoleHeight = uint16(p.ConsoleSize.Height)
	}
	if c := p.Capabilities; c != nil {
		lp.Capabilities = &configs.Capabilities{
			Bounding: c.Bounding, Effective: c.Effective, Inheritable: c.Inheritable,
			Permitted: c.Permitted, Ambient: c.Ambient,
		}
	}
	for _, g := range p.User.AdditionalGids {
		lp.AdditionalGroups = append(lp.AdditionalGroups, int(g))
	}
	for _, rl := range p.Rlimits {
		typ, ok := rlimitTypes[rl.Type]
		if !ok {
			return nil, fmt.Errorf("unknown rlimit %q", rl.Type)
		}
		lp.Rlimits = append(lp.Rlimits, configs.Rlimit{Type: typ, Hard: rl.Hard, Soft: rl.Soft})
	}
	return lp, nil
}

var rlimitTypes = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}
