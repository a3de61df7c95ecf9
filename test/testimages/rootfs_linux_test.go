package testimages

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// These tests run the images' programs the way the critest specs do, in a
// chroot of the extracted image with fresh mount, PID, network, IPC and UTS
// namespaces (so nothing leaks to the host and every process started is
// killed when the namespace's init exits). They need root.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chroot and namespaces)")
	}
}

// extract unpacks the image layers, in order, into a new directory.
func extract(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	type dirMeta struct {
		path     string
		mode     os.FileMode
		uid, gid int
	}
	var dirs []dirMeta
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(root, path.Clean("/"+hdr.Name))
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatal(err)
			}
			mode := hdr.FileInfo().Mode()
			switch hdr.Typeflag {
			case tar.TypeDir:
				if err := os.MkdirAll(target, 0o755); err != nil {
					t.Fatal(err)
				}
				dirs = append(dirs, dirMeta{target, mode, hdr.Uid, hdr.Gid})
				continue
			case tar.TypeReg:
				_ = os.Remove(target)
				data, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(target, data, 0o600); err != nil {
					t.Fatal(err)
				}
			case tar.TypeLink:
				_ = os.Remove(target)
				if err := os.Link(filepath.Join(root, path.Clean("/"+hdr.Linkname)), target); err != nil {
					t.Fatal(err)
				}
				continue
			case tar.TypeSymlink:
				_ = os.Remove(target)
				if err := os.Symlink(hdr.Linkname, target); err != nil {
					t.Fatal(err)
				}
				continue
			default:
				t.Fatalf("unexpected tar entry type %c for %s", hdr.Typeflag, hdr.Name)
			}
			// chown before chmod: chown clears the setuid bit.
			if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(target, mode); err != nil {
				t.Fatal(err)
			}
		}
		rc.Close()
	}
	for _, d := range dirs {
		if err := os.Lchown(d.path, d.uid, d.gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	// A runtime provides /dev; busybox sh needs /dev/null for background
	// jobs.
	for _, dev := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}} {
		p := filepath.Join(root, "dev", dev.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, int(dev.major<<8|dev.minor)); err != nil {
			t.Fatalf("mknod %s: %v", p, err)
		}
		if err := os.Chmod(p, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

type runOpts struct {
	cred       *syscall.Credential
	namespaces bool // new mount, PID, network, IPC and UTS namespaces
	noNewPrivs bool
	env        []string
}

type result struct {
	stdout, stderr string
	err            error
}

// run executes argv inside root (argv[0] is resolved inside the chroot).
func run(t *testing.T, root string, o runOpts, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lookPathIn(t, root, argv[0]), argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=" + defaultPath, "HOME=/root"}, o.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: o.cred, Pdeathsig: syscall.SIGKILL}
	if o.namespaces {
		// The PID namespace init is the command; when it exits the
		// kernel kills everything else in the namespace. Unsharing the
		// mount namespace makes Go remount / private first, so mounts
		// made inside never propagate to the host.
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	var err error
	if o.noNewPrivs {
		err = runWithNoNewPrivs(cmd)
	} else {
		err = cmd.Run()
	}
	if ctx.Err() != nil {
		t.Fatalf("%q timed out; stdout %q stderr %q", argv, stdout.String(), stderr.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
			t.Skipf("cannot create namespaces/chroot here: %v", err)
		}
		t.Fatalf("%q: %v", argv, err)
	}
	return result{stdout.String(), stderr.String(), err}
}

// lookPathIn resolves a command name in the image's PATH, as a runtime does
// (exec.Command would look it up on the host).
func lookPathIn(t *testing.T, root, name string) string {
	t.Helper()
	if strings.Contains(name, "/") {
		return name
	}
	for _, dir := range filepath.SplitList(defaultPath) {
		if fi, err := os.Stat(filepath.Join(root, dir, name)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return path.Join(dir, name)
		}
	}
	t.Fatalf("%s not found in the image's PATH", name)
	return ""
}

// runWithNoNewPrivs runs cmd from an OS thread that has no_new_privs set
// (inherited by the child). The thread is never unlocked, so the Go runtime
// discards it when the goroutine ends.
func runWithNoNewPrivs(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		const prSetNoNewPrivs = 38
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); e != 0 {
			errc <- e
			return
		}
		errc <- cmd.Run()
	}()
	return <-errc
}

func sh(t *testing.T, root string, o runOpts, script string) result {
	t.Helper()
	return run(t, root, o, "/bin/sh", "-c", script)
}

func TestBusyboxBehaviour(t *testing.T) {
	needRoot(t)
	root := extract(t, image(t, BusyboxImage))
	ns := runOpts{namespaces: true}

	cases := []struct {
		name       string
		opts       runOpts
		argv       []string
		wantOut    string
		wantErr    string // exact stderr
		wantFail   bool
		outContain string
	}{
		{name: "echo", argv: []string{"echo", "-n", "hello"}, wantOut: "hello"},
		{name: "id -nu nobody", opts: runOpts{cred: &syscall.Credential{Uid: 65534, Gid: 65534}},
			argv: []string{"id", "-nu"}, wantOut: "nobody\n"},
		{name: "id -u", opts: runOpts{cred: &syscall.Credential{Uid: 1001}}, argv: []string{"id", "-u"}, wantOut: "1001\n"},
		{name: "RunAsGroup", opts: runOpts{cred: &syscall.Credential{Uid: 1001, Gid: 1002}},
			argv: []string{"sh", "-c", "echo $(id -u):$(id -g)"}, wantOut: "1001:1002\n"},
		{name: "SupplementalGroups", opts: runOpts{cred: &syscall.Credential{Uid: 1001, Gid: 1001, Groups: []uint32{1234, 5678}}},
			argv: []string{"id", "-G"}, outContain: "1234 5678"},
		{name: "MaskedPaths", opts: ns,
			argv:    []string{"sh", "-c", "mount --bind /dev/null /bin/ls && exec /bin/sh -c ls"},
			wantErr: "/bin/sh: ls: Permission denied\n", wantFail: true},
		{name: "ReadonlyPaths", opts: ns,
			argv:    []string{"sh", "-c", "mount -t proc proc /proc && mount --bind /tmp /tmp && mount -o remount,ro,bind /tmp && exec touch /tmp/test"},
			wantErr: "touch: /tmp/test: Read-only file system\n", wantFail: true},
		{name: "ReadOnlyRootfs", opts: ns,
			argv:    []string{"sh", "-c", "mount -t proc proc /proc && mkdir -p /ro && mount --bind /ro /ro && mount -o remount,ro,bind /ro && cd /ro && exec sh -c \"touch test.go && [ -f test.go ] && echo 'Found'\""},
			wantErr: "touch: test.go: Read-only file system\n", wantFail: true},
		{name: "writable rootfs", argv: []string{"sh", "-c", "touch test.go && [ -f test.go ] && echo 'Found' && rm test.go"}, wantOut: "Found\n"},
		{name: "sleep infinity", opts: ns,
			argv: []string{"sh", "-c", "sleep infinity & p=$!; sleep 1; kill -0 $p && echo alive"}, wantOut: "alive\n"},
		{name: "pgrep", opts: ns,
			argv:    []string{"sh", "-c", "mount -t proc proc /proc || exit 1; sleep 100 & p=$!; usleep 200000; [ \"$(pgrep sleep)\" = \"$p\" ] && echo match; pgrep nosuchprocess; echo rc=$?"},
			wantOut: "match\nrc=1\n"},
		{name: "pgrep none", opts: ns,
			argv: []string{"sh", "-c", "mount -t proc proc /proc && pgrep sleep || true"}, wantOut: ""},
		{name: "ipcs -m", opts: ns,
			argv: []string{"sh", "-c", "mount -t proc proc /proc && exec ipcs -m"}, outContain: "Shared Memory Segments"},
		{name: "hostname", opts: ns, argv: []string{"sh", "-c", "hostname ANewHostName && hostname"}, wantOut: "ANewHostName\n"},
		{name: "netstat -ln", opts: ns, argv: []string{"sh", "-c", "mount -t proc proc /proc && exec netstat -ln"}, outContain: "Active Internet connections"},
		{name: "ping", opts: ns,
			argv: []string{"sh", "-c", "ip link set lo up && ping -c 1 -W 5 127.0.0.1"}, outContain: "1 packets received"},
		{name: "top", opts: ns, argv: []string{"sh", "-c", "mount -t proc proc /proc && exec top -b -n 1"}, outContain: "PID"},
		{name: "seq sync mkdir", argv: []string{"/bin/sh", "-c", "mkdir -p /var/lib/mydisktest && for i in $(seq 1 3); do echo hi >> /var/lib/mydisktest/f_$i; done; sync; cat /var/lib/mydisktest/f_3; rm -r /var/lib/mydisktest"},
			wantOut: "hi\n"},
		{name: "grep", argv: []string{"grep", "nobody", "/etc/passwd"}, outContain: "nobody:x:65534"},
		{name: "chmod", argv: []string{"sh", "-c", "touch /tmp/c && chmod 400 /tmp/c && ls -l /tmp/c && rm /tmp/c"}, outContain: "-r--------"},
		{name: "ls -A", argv: []string{"ls", "-A", "/etc"}, outContain: "passwd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, root, tc.opts, tc.argv...)
			if tc.wantFail != (r.err != nil) {
				t.Errorf("error = %v, want failure %v (stdout %q, stderr %q)", r.err, tc.wantFail, r.stdout, r.stderr)
			}
			if !tc.wantFail && r.stderr != "" {
				t.Errorf("unexpected stderr %q", r.stderr)
			}
			if tc.outContain != "" {
				if !strings.Contains(r.stdout, tc.outContain) {
					t.Errorf("stdout %q does not contain %q", r.stdout, tc.outContain)
				}
			} else if r.stdout != tc.wantOut {
				t.Errorf("stdout = %q, want %q", r.stdout, tc.wantOut)
			}
			if tc.wantFail && r.stderr != tc.wantErr {
				t.Errorf("stderr = %q, want %q", r.stderr, tc.wantErr)
			}
		})
	}

	t.Run("ping without NET_RAW", func(t *testing.T) {
		// The dropping-capability spec expects output on stdout and
		// "permission denied" on stderr.
		r := run(t, root, runOpts{cred: &syscall.Credential{Uid: 1001, Gid: 1001}, namespaces: true},
			"ping", "-c", "1", "127.0.0.1")
		if r.err == nil || r.stdout == "" || !strings.Contains(r.stderr, "permission denied") {
			t.Errorf("ping: err %v, stdout %q, stderr %q", r.err, r.stdout, r.stderr)
		}
	})
}

func TestPredefinedGroupImageBehaviour(t *testing.T) {
	needRoot(t)
	root := extract(t, image(t, TestImagePredefGroup))
	r := run(t, root, runOpts{}, "id", "-nu")
	if r.err != nil || r.stdout != "root\n" {
		t.Errorf("id -nu: %v %q %q", r.err, r.stdout, r.stderr)
	}
	r = run(t, root, runOpts{cred: &syscall.Credential{Uid: 1000, Gid: 1000, Groups: []uint32{1000, 1234, 50000}}}, "sh", "-c", "id -nu; id -G")
	if r.err != nil || r.stdout != "default-user\n1000 1234 50000\n" {
		t.Errorf("id: %v %q %q", r.err, r.stdout, r.stderr)
	}
}

func TestNginxBehaviour(t *testing.T) {
	needRoot(t)
	for key, port := range map[string]int{NginxImage: 80, HostNetNginxImage: 12003} {
		t.Run(strings.ReplaceAll(key, "/", "_"), func(t *testing.T) {
			root := extract(t, image(t, key))
			cmd := strings.Join(config(t, image(t, key)).Config.Cmd, " ")
			if cmd != "nginx -g daemon off;" {
				t.Fatalf("unexpected Cmd %q", cmd)
			}
			script := `mount -t proc proc /proc && ip link set lo up || exit 1
nginx -g 'daemon off;' >/tmp/nginx.out 2>&1 &
i=0; while [ ! -f /var/run/nginx.pid ]; do i=$((i+1)); [ $i -gt 200 ] && { echo no pid file; exit 1; }; usleep 50000; done
pid=$(cat /var/run/nginx.pid)
[ "$pid" = "$!" ] || echo "pid file $pid, started $!"
echo "comm=$(cat /proc/$pid/comm)"
echo "cmdline=$(tr '\0' ' ' < /proc/$pid/cmdline)"
[ "$(pidof nginx)" = "$pid" ] && echo pidof=ok
i=0; until wget -q -O /tmp/page http://127.0.0.1:` + strconv.Itoa(port) + `/; do i=$((i+1)); [ $i -gt 100 ] && break; usleep 50000; done
grep -q 'Welcome to nginx' /tmp/page && echo http=ok
kill -TERM $pid; wait $pid; echo exit=$?
[ -f /var/run/nginx.pid ] && echo pid file left behind
exit 0
`
			r := sh(t, root, runOpts{namespaces: true}, script)
			want := "comm=nginx\ncmdline=nginx: master process nginx -g daemon off; \npidof=ok\nhttp=ok\nexit=0\n"
			if r.err != nil || r.stdout != want {
				t.Errorf("err %v\nstdout %q\nwant   %q\nstderr %q", r.err, r.stdout, want, r.stderr)
			}
		})
	}
}

func TestHttpdBehaviour(t *testing.T) {
	needRoot(t)
	root := extract(t, image(t, HttpdImage))
	script := `mount -t proc proc /proc && ip link set lo up || exit 1
cd /usr/local/apache2
httpd-foreground >/tmp/access.log 2>/tmp/httpd.log &
i=0; until wget -q -O /tmp/page http://127.0.0.1:80/; do i=$((i+1)); [ $i -gt 200 ] && break; usleep 50000; done
grep -q 'It works!' /tmp/page && echo http=ok
grep -q httpd /tmp/httpd.log && echo log=ok
echo httpd
kill -TERM $!; wait $!; echo exit=$?
`
	r := sh(t, root, runOpts{namespaces: true, env: []string{"PATH=/usr/local/apache2/bin:" + defaultPath}}, script)
	want := "http=ok\nlog=ok\nhttpd\nexit=0\n"
	if r.err != nil || r.stdout != want {
		t.Errorf("err %v\nstdout %q\nwant   %q\nstderr %q", r.err, r.stdout, want, r.stderr)
	}
}

func TestNoNewPrivsBehaviour(t *testing.T) {
	needRoot(t)
	root := extract(t, image(t, NoNewPrivsImage))
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err == nil && st.Flags&0x2 /* ST_NOSUID */ != 0 {
		t.Skip("temporary directory is mounted nosuid")
	}
	cred := &syscall.Credential{Uid: 1000, Gid: 1000}
	r := run(t, root, runOpts{cred: cred}, "/usr/local/bin/nnp")
	if r.err != nil || r.stdout != "Effective uid: 0\n" {
		t.Errorf("without no_new_privs: err %v stdout %q stderr %q", r.err, r.stdout, r.stderr)
	}
	r = run(t, root, runOpts{cred: cred, noNewPrivs: true}, "/usr/local/bin/nnp")
	if r.err != nil || r.stdout != "Effective uid: 1000\n" {
		t.Errorf("with no_new_privs: err %v stdout %q stderr %q", r.err, r.stdout, r.stderr)
	}
}

func TestPauseBehaviour(t *testing.T) {
	needRoot(t)
	root := extract(t, image(t, PauseImage))
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command("/pause")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Chroot:     root,
			Credential: &syscall.Credential{Uid: 65535, Gid: 65535},
			Cloneflags: syscall.CLONE_NEWPID,
			Pdeathsig:  syscall.SIGKILL,
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Fatalf("pause exited early: %v (%q)", err, stderr.String())
		case <-time.After(300 * time.Millisecond):
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("pause after %v: %v (%q)", sig, err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("pause did not exit on %v", sig)
		}
	}
}
