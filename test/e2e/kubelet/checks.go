package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// tests runs the checks against the running kubelet and cri-shim.
func (e *env) tests(ctx context.Context, s *suite) {
	var snap snapshot
	started := s.check("static pods: 5 pods get a ready sandbox and running containers", func() error {
		if err := e.writeManifests(allPods...); err != nil {
			return err
		}
		var err error
		snap, err = e.waitSnapshot(ctx, 3*time.Minute, func(s snapshot) bool {
			for _, n := range allPods {
				if _, ok := s.readyPod(n); !ok {
					return false
				}
				if _, ok := s.running(n); !ok && n != podCrasher {
					return false
				}
				if n == podCrasher && len(s.containersOf(n)) == 0 {
					return false
				}
			}
			return true
		}, func(s snapshot) string { return s.describe(allPods...) })
		return err
	})
	if !started {
		fmt.Printf("     kubelet log tail:\n%s\n", indent(tailFile(e.kubeletLog(), 20)))
		return
	}
	s.check("pod network: web has an address in "+podSubnet+" and a network namespace of its own", func() error {
		return e.checkNetwork(ctx, snap, podWeb, false)
	})
	s.check("host network: hostnet runs in the host's network namespace", func() error {
		return e.checkNetwork(ctx, snap, podHostNet, true)
	})
	for _, n := range []string{podWeb, podHostNet} {
		s.check("logs: "+n+" logs into the kubelet's pod log dir, readable with crictl logs and the kubelet's /containerLogs", func() error {
			return e.checkLogs(ctx, snap, n)
		})
	}
	s.check("stats: the kubelet's /stats/summary has CPU, memory, rootfs and log usage of the containers and the image fs", func() error {
		return e.checkSummary(ctx, podWeb, podHostNet, podLimits)
	})
	s.check("liveness: a failing exec probe restarts the container once its healthy 6 s are over", func() error {
		return e.checkLiveness(ctx)
	})
	s.check("restart: the kubelet restarts a container that exits (attempt 0 -> 2, exit code 3)", func() error {
		return e.checkRestart(ctx)
	})
	s.check("resources: the limits pod's container and pod cgroups under kubepods carry 64Mi and 250m", func() error {
		return e.checkLimits(ctx, podLimits)
	})
	s.check("resources: a best-effort pod runs under kubepods/besteffort", func() error {
		return e.checkBestEffort(ctx, podWeb)
	})
	s.check("liveness: a passing exec probe leaves its container alone (web still at attempt 0)", func() error {
		cur, err := e.snapshot(ctx)
		if err != nil {
			return err
		}
		cs := cur.containersOf(podWeb)
		if len(cs) != 1 || cs[0].Metadata.Attempt != 0 || cs[0].State != "CONTAINER_RUNNING" {
			return fmt.Errorf("web: %s", cur.describe(podWeb))
		}
		return nil
	})

	steady := []string{podWeb, podHostNet, podLimits}
	s.check("teardown: removing the crasher and liveness manifests stops those pods only", func() error {
		before, err := e.snapshot(ctx)
		if err != nil {
			return err
		}
		if err := e.removeManifests(podCrasher, podLiveness); err != nil {
			return err
		}
		if _, err := e.waitSnapshot(ctx, 60*time.Second, func(s snapshot) bool {
			return stopped(s, podCrasher, podLiveness)
		}, func(s snapshot) string { return s.describe(podCrasher, podLiveness) }); err != nil {
			return err
		}
		after, err := e.snapshot(ctx)
		if err != nil {
			return err
		}
		return unchanged(before, after, steady)
	})

	e.killRestart(ctx, s, steady)

	s.check("teardown: removing every manifest stops every pod", func() error {
		if err := e.removeManifests(steady...); err != nil {
			return err
		}
		_, err := e.waitSnapshot(ctx, 60*time.Second, func(s snapshot) bool {
			return stopped(s, allPods...)
		}, func(s snapshot) string { return s.describe(allPods...) })
		return err
	})
	s.check("teardown: the kubelet removes every sandbox, container, pod cgroup and pod log dir", func() error {
		return e.checkGone(ctx)
	})
}

// stopped says no pod named is ready and none of their containers runs.
func stopped(s snapshot, names ...string) bool {
	for _, n := range names {
		if _, ok := s.readyPod(n); ok {
			return false
		}
		if _, ok := s.running(n); ok {
			return false
		}
	}
	return true
}

// unchanged compares the pods named in two snapshots: the same ready
// sandbox, the same containers with the same attempts and states.
func unchanged(before, after snapshot, names []string) error {
	var diffs []string
	for _, n := range names {
		bp, ok1 := before.readyPod(n)
		ap, ok2 := after.readyPod(n)
		if !ok1 || !ok2 || bp.ID != ap.ID || len(before.podsOf(n)) != len(after.podsOf(n)) {
			diffs = append(diffs, fmt.Sprintf("%s: sandboxes before [%s] after [%s]", n, before.describe(n), after.describe(n)))
			continue
		}
		bc, ac := before.containersOf(n), after.containersOf(n)
		same := len(bc) == len(ac)
		for i := 0; same && i < len(bc); i++ {
			same = bc[i].ID == ac[i].ID && bc[i].Metadata.Attempt == ac[i].Metadata.Attempt && bc[i].State == ac[i].State
		}
		if !same {
			diffs = append(diffs, fmt.Sprintf("%s: before [%s] after [%s]", n, before.describe(n), after.describe(n)))
		}
	}
	return listErr(diffs)
}

func (e *env) checkNetwork(ctx context.Context, snap snapshot, name string, host bool) error {
	p, _ := snap.readyPod(name)
	c, _ := snap.running(name)
	pi, err := e.inspectp(ctx, p.ID)
	if err != nil {
		return err
	}
	mode := pi.Status.Linux.Namespaces.Options.Network
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	out, err := e.crictl(ctx, "exec", "--sync", "--timeout", "10", c.ID, "readlink", "/proc/self/ns/net")
	if err != nil {
		return err
	}
	ctrNS := strings.TrimSpace(out)
	if host {
		if mode != "NODE" {
			return fmt.Errorf("network namespace mode %q, want NODE", mode)
		}
		if ctrNS != hostNS {
			return fmt.Errorf("container's network namespace %s, the host's %s", ctrNS, hostNS)
		}
		return nil
	}
	if mode != "POD" {
		return fmt.Errorf("network namespace mode %q, want POD", mode)
	}
	if !strings.HasPrefix(pi.Status.Network.IP, subnetPfx) {
		return fmt.Errorf("pod address %q not in %s", pi.Status.Network.IP, podSubnet)
	}
	if ctrNS == hostNS || !strings.HasPrefix(ctrNS, "net:[") {
		return fmt.Errorf("container's network namespace %q, the host's %s", ctrNS, hostNS)
	}
	addrs, err := e.crictl(ctx, "exec", "--sync", "--timeout", "10", c.ID, "ip", "-o", "-4", "addr", "show")
	if err != nil {
		return err
	}
	if !strings.Contains(addrs, " "+pi.Status.Network.IP+"/") {
		return fmt.Errorf("pod address %s not on an interface in the container:\n%s", pi.Status.Network.IP, addrs)
	}
	return nil
}

var logLine = regexp.MustCompile(`^\S+ stdout [FP] (\S+) line (\d+)$`)

// maxLogLine returns the highest "NAME line N" number in a CRI log file.
func maxLogLine(path, name string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	highest := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := logLine.FindStringSubmatch(sc.Text()); m != nil && m[1] == name {
			if n, _ := strconv.Atoi(m[2]); n > highest {
				highest = n
			}
		}
	}
	return highest, sc.Err()
}

func (e *env) checkLogs(ctx context.Context, snap snapshot, name string) error {
	p, _ := snap.readyPod(name)
	c, _ := snap.running(name)
	ci, err := e.inspect(ctx, c.ID)
	if err != nil {
		return err
	}
	wantDir := filepath.Join(e.podLogs, fmt.Sprintf("default_%s_%s", p.Metadata.Name, p.Metadata.UID), name)
	if filepath.Dir(ci.Status.LogPath) != wantDir {
		return fmt.Errorf("log path %q, want a file in %s", ci.Status.LogPath, wantDir)
	}
	var highest int
	if err := poll(ctx, 10*time.Second, 500*time.Millisecond, func() (bool, error) {
		highest, err = maxLogLine(ci.Status.LogPath, name)
		return err == nil && highest >= 1, nil
	}); err != nil {
		return fmt.Errorf("no \"%s line N\" lines in CRI format in %s (%v): %s", name, ci.Status.LogPath, err, tailFile(ci.Status.LogPath, 3))
	}
	out, err := e.crictl(ctx, "logs", "--tail", "5", c.ID)
	if err != nil {
		return err
	}
	if !strings.Contains(out, name+" line ") {
		return fmt.Errorf("crictl logs %s: %q", c.ID, out)
	}
	out, err = e.containerLogs(ctx, name, 5)
	if err != nil {
		return err
	}
	if !strings.Contains(out, name+" line ") {
		return fmt.Errorf("kubelet /containerLogs: %q", out)
	}
	return nil
}

func (e *env) checkRestart(ctx context.Context) error {
	cur, err := e.waitSnapshot(ctx, 2*time.Minute, func(s snapshot) bool {
		cs := s.containersOf(podCrasher)
		return len(cs) > 0 && cs[0].Metadata.Attempt >= 2
	}, func(s snapshot) string { return s.describe(podCrasher) })
	if err != nil {
		return err
	}
	for _, c := range cur.containersOf(podCrasher) {
		if c.State != "CONTAINER_EXITED" {
			continue
		}
		ci, err := e.inspect(ctx, c.ID)
		if err != nil {
			return err
		}
		if ci.Status.ExitCode != 3 {
			return fmt.Errorf("exited %s: exit code %d (%s), want 3", c, ci.Status.ExitCode, ci.Status.Reason)
		}
		return nil
	}
	return fmt.Errorf("no exited container kept: %s", cur.describe(podCrasher))
}

func (e *env) checkLiveness(ctx context.Context) error {
	cur, err := e.waitSnapshot(ctx, 90*time.Second, func(s snapshot) bool {
		cs := s.containersOf(podLiveness)
		return len(cs) > 0 && cs[0].Metadata.Attempt >= 1
	}, func(s snapshot) string { return s.describe(podLiveness) })
	if err != nil {
		return err
	}
	// The kubelet keeps the last dead attempt (it may already be attempt 1,
	// which fails the same way). Each attempt is healthy for 6 s and never
	// exits by itself: killed earlier means the passing probe counted as a
	// failure; exited means the kubelet restarted something that was not killed.
	for _, c := range cur.containersOf(podLiveness) {
		if c.State != "CONTAINER_EXITED" {
			continue
		}
		ci, err := e.inspect(ctx, c.ID)
		if err != nil {
			return err
		}
		started, err1 := time.Parse(time.RFC3339Nano, ci.Status.StartedAt)
		finished, err2 := time.Parse(time.RFC3339Nano, ci.Status.FinishedAt)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if ran := finished.Sub(started); ran < 5*time.Second {
			return fmt.Errorf("%s ran %s: killed while its probe passed", c, ran)
		}
		return nil
	}
	return fmt.Errorf("no dead attempt kept: %s", cur.describe(podLiveness))
}

// cgroupDir returns the directory of a cgroup in a v1 controller's hierarchy.
func cgroupDir(controller, cgroup string) string {
	return filepath.Join("/sys/fs/cgroup", controller, cgroup)
}

func readCgroupInt(controller, cgroup, file string) (int64, error) {
	raw, err := os.ReadFile(filepath.Join(cgroupDir(controller, cgroup), file))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
}

func (e *env) checkLimits(ctx context.Context, name string) error {
	cur, err := e.snapshot(ctx)
	if err != nil {
		return err
	}
	p, ok1 := cur.readyPod(name)
	c, ok2 := cur.running(name)
	if !ok1 || !ok2 {
		return fmt.Errorf("not running: %s", cur.describe(name))
	}
	podCg := filepath.Join(e.cgroupRoot, "kubepods", "pod"+p.Metadata.UID)
	ctrCg := filepath.Join(podCg, c.ID)
	var errs []string
	for _, w := range []struct {
		ctrl, cg, file string
		want           int64
	}{
		{"memory", ctrCg, "memory.limit_in_bytes", limitMemoryBytes},
		{"cpu", ctrCg, "cpu.cfs_quota_us", limitCFSQuota},
		{"cpu", ctrCg, "cpu.cfs_period_us", limitCFSPeriod},
		{"cpu", ctrCg, "cpu.shares", limitCPUShares},
		{"memory", podCg, "memory.limit_in_bytes", limitMemoryBytes},
		{"cpu", podCg, "cpu.cfs_quota_us", limitCFSQuota},
	} {
		got, err := readCgroupInt(w.ctrl, w.cg, w.file)
		switch {
		case err != nil:
			errs = append(errs, err.Error())
		case got != w.want:
			errs = append(errs, fmt.Sprintf("%s: %d, want %d", filepath.Join(cgroupDir(w.ctrl, w.cg), w.file), got, w.want))
		}
	}
	if err := hasProcesses("memory", ctrCg); err != nil {
		errs = append(errs, err.Error())
	}
	return listErr(errs)
}

func hasProcesses(controller, cgroup string) error {
	raw, err := os.ReadFile(filepath.Join(cgroupDir(controller, cgroup), "cgroup.procs"))
	if err != nil {
		return err
	}
	if len(strings.Fields(string(raw))) == 0 {
		return fmt.Errorf("no process in %s", cgroupDir(controller, cgroup))
	}
	return nil
}

func (e *env) checkBestEffort(ctx context.Context, name string) error {
	cur, err := e.snapshot(ctx)
	if err != nil {
		return err
	}
	p, ok1 := cur.readyPod(name)
	c, ok2 := cur.running(name)
	if !ok1 || !ok2 {
		return fmt.Errorf("not running: %s", cur.describe(name))
	}
	podCg := filepath.Join(e.cgroupRoot, "kubepods", "besteffort", "pod"+p.Metadata.UID)
	if err := hasProcesses("memory", filepath.Join(podCg, c.ID)); err != nil {
		return err
	}
	if shares, err := readCgroupInt("cpu", podCg, "cpu.shares"); err != nil || shares != 2 {
		return fmt.Errorf("%s cpu.shares %d (%v), want 2", cgroupDir("cpu", podCg), shares, err)
	}
	return nil
}

// watchAfterRestart is how long the kubelet is watched after cri-shim
// restarts: two of its sync periods (syncFrequency 10 s).
const watchAfterRestart = 20 * time.Second

// killRestart kills cri-shim with SIGKILL under the running kubelet and
// restarts it: the kubelet must keep every pod and container as it was.
func (e *env) killRestart(ctx context.Context, s *suite, names []string) {
	before, err := e.snapshot(ctx)
	var logPath string
	var atKill, atRestart int
	if err == nil {
		c, ok := before.running(podWeb)
		if !ok {
			err = fmt.Errorf("web not running: %s", before.describe(podWeb))
		} else if ci, ierr := e.inspect(ctx, c.ID); ierr != nil {
			err = ierr
		} else {
			logPath = ci.Status.LogPath
		}
	}
	if !s.check("cri-shim kill -9: containers keep running and logging while it is down", func() error {
		if err != nil {
			return err
		}
		if atKill, err = maxLogLine(logPath, podWeb); err != nil {
			return err
		}
		fmt.Printf("     kill -9 cri-shim (pid %d)\n", e.shim.PID())
		if err := kill(e.shim); err != nil {
			return err
		}
		time.Sleep(5 * time.Second)
		if atRestart, err = maxLogLine(logPath, podWeb); err != nil {
			return err
		}
		if atRestart <= atKill {
			return fmt.Errorf("no new web line while cri-shim was down: line %d at kill, %d 5 s later", atKill, atRestart)
		}
		return nil
	}) {
		if !e.shim.Exited() {
			return
		}
	}
	if !s.check("cri-shim restart: the daemon comes back on the same socket and state", func() error {
		return e.startShim(ctx)
	}) {
		return
	}
	s.check(fmt.Sprintf("cri-shim restart: for %s the kubelet keeps every pod and container (same IDs, attempts, nothing new)", watchAfterRestart), func() error {
		deadline := time.Now().Add(watchAfterRestart)
		for time.Now().Before(deadline) {
			after, err := e.snapshot(ctx)
			if err != nil {
				return err
			}
			if err := unchanged(before, after, names); err != nil {
				return err
			}
			time.Sleep(time.Second)
		}
		if e.kubelet.Exited() {
			return fmt.Errorf("the kubelet exited; see %s", e.kubelet.LogPath)
		}
		return nil
	})
	s.check("cri-shim restart: web's log goes on in the same file, through crictl logs and the kubelet's /containerLogs", func() error {
		cur, err := e.snapshot(ctx)
		if err != nil {
			return err
		}
		c, ok := cur.running(podWeb)
		if !ok {
			return fmt.Errorf("web not running: %s", cur.describe(podWeb))
		}
		ci, err := e.inspect(ctx, c.ID)
		if err != nil {
			return err
		}
		if ci.Status.LogPath != logPath {
			return fmt.Errorf("log path now %s, was %s", ci.Status.LogPath, logPath)
		}
		now, err := maxLogLine(logPath, podWeb)
		if err != nil {
			return err
		}
		if want := atRestart + int(watchAfterRestart/time.Second) - 5; now < want {
			return fmt.Errorf("web line %d at restart, %d %s later (want %d or more)", atRestart, now, watchAfterRestart, want)
		}
		out, err := e.crictl(ctx, "logs", "--tail", "3", c.ID)
		if err != nil {
			return err
		}
		if !strings.Contains(out, fmt.Sprintf("web line %d", now)) && !strings.Contains(out, fmt.Sprintf("web line %d", now+1)) {
			return fmt.Errorf("crictl logs --tail 3 lacks line %d: %q", now, out)
		}
		if out, err = e.containerLogs(ctx, podWeb, 3); err != nil {
			return err
		}
		if !strings.Contains(out, fmt.Sprintf("web line %d", now)) && !strings.Contains(out, fmt.Sprintf("web line %d", now+1)) {
			return fmt.Errorf("kubelet /containerLogs?tailLines=3 lacks line %d: %q", now, out)
		}
		return nil
	})
	s.check("cri-shim restart: the kubelet's /stats/summary still has the containers' usage", func() error {
		return e.checkSummary(ctx, names...)
	})
}

// checkGone waits until the kubelet removed the pods from the runtime and
// its own traces of them.
func (e *env) checkGone(ctx context.Context) error {
	start := time.Now()
	if _, err := e.waitSnapshot(ctx, 3*time.Minute, func(s snapshot) bool {
		return len(s.pods) == 0 && len(s.containers) == 0
	}, func(s snapshot) string { return s.describe(allPods...) }); err != nil {
		return err
	}
	fmt.Printf("     runtime empty %s after the last manifest went\n", time.Since(start).Round(time.Second))
	var left []string
	err := poll(ctx, 60*time.Second, time.Second, func() (bool, error) {
		left = nil
		for _, qos := range []string{"", "burstable", "besteffort"} {
			ents, _ := os.ReadDir(cgroupDir("memory", filepath.Join(e.cgroupRoot, "kubepods", qos)))
			for _, d := range ents {
				if d.IsDir() && strings.HasPrefix(d.Name(), "pod") {
					left = append(left, "pod cgroup "+filepath.Join("kubepods", qos, d.Name()))
				}
			}
		}
		ents, _ := os.ReadDir(e.podLogs)
		for _, d := range ents {
			left = append(left, "pod log dir "+d.Name())
		}
		return len(left) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.Join(left, ", "))
	}
	return nil
}

// stopAll stops the kubelet and then cri-shim, as a node shuts down.
func (e *env) stopAll(s *suite) {
	s.always("kubelet stops on SIGTERM", func() error {
		if e.kubelet.Exited() {
			return fmt.Errorf("already exited; see %s", e.kubelet.LogPath)
		}
		return stop(e.kubelet)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.always("cri-shim is empty and stops on SIGTERM", func() error {
		if e.shim.Exited() {
			return fmt.Errorf("already exited; see %s", e.shim.LogPath)
		}
		return errors.Join(e.removeAllPods(ctx), stop(e.shim))
	})
}

// leaks lists what the kubelet and cri-shim left on the host once both
// stopped (before the test removes its own bridge, cgroup roots and dirs).
func (e *env) leaks() []string {
	var leaks []string
	for _, d := range []string{e.work, e.state} {
		if m := mountsUnder(d); len(m) > 0 {
			leaks = append(leaks, fmt.Sprintf("%d mounts under %s: %s", len(m), d, strings.Join(m, " ")))
		}
	}
	leaks = append(leaks, e.leftProcesses()...)
	if ents, _ := os.ReadDir(filepath.Join("/sys/class/net", bridgeName, "brif")); len(ents) > 0 {
		for _, l := range ents {
			leaks = append(leaks, "link "+l.Name()+" on bridge "+bridgeName)
		}
	}
	ents, _ := os.ReadDir(filepath.Join("/var/lib/cni/networks", "cri-shim-"+bridgeName))
	for _, a := range ents {
		if !strings.HasPrefix(a.Name(), "last_reserved_ip") && a.Name() != "lock" {
			leaks = append(leaks, "address "+a.Name()+" still reserved")
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(e.shimRoot, "cni-cache", "results")); len(ents) > 0 {
		leaks = append(leaks, fmt.Sprintf("%d CNI cache entries", len(ents)))
	}
	saved, _ := exec.Command("iptables-save").Output()
	for _, l := range strings.Split(string(saved), "\n") {
		if strings.Contains(l, subnetPfx) {
			leaks = append(leaks, "iptables: "+l)
			continue
		}
		for id := range e.seenIDs {
			if strings.Contains(l, id) {
				leaks = append(leaks, "iptables: "+l)
				break
			}
		}
	}
	after := readHostState()
	for k, v := range e.before.sysctls {
		if after.sysctls[k] != v {
			leaks = append(leaks, fmt.Sprintf("host sysctl %s changed from %s to %s", k, v, after.sysctls[k]))
		}
	}
	for p, existed := range e.before.paths {
		if !existed && after.paths[p] {
			leaks = append(leaks, "host path "+p+" created")
		}
	}
	if strings.Join(after.kubeChains, ",") != strings.Join(e.before.kubeChains, ",") {
		leaks = append(leaks, fmt.Sprintf("KUBE- iptables chains were %v, now %v", e.before.kubeChains, after.kubeChains))
	}
	// Cgroups of pods or containers (the kubelet's QoS levels and the
	// roots are the test's to remove).
	for _, h := range cgroupHierarchies() {
		for root, ours := range map[string][]string{
			e.cgroupRoot:       {".", "kubepods", "kubepods/burstable", "kubepods/besteffort"},
			e.shimCgroupParent: {"."},
		} {
			top := filepath.Join(h, root)
			_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				rel, _ := filepath.Rel(top, p)
				for _, o := range ours {
					if rel == o {
						return nil
					}
				}
				leaks = append(leaks, "cgroup "+p)
				return filepath.SkipDir
			})
		}
	}
	return leaks
}

// leftProcesses lists processes that belong to this test's runtime: in its
// cgroups, or naming its dirs on their command line.
func (e *env) leftProcesses() []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		cg, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cgroup"))
		args := strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")
		ours := strings.Contains(args, e.work) || strings.Contains(args, e.state)
		for _, l := range strings.Split(string(cg), "\n") {
			if f := strings.SplitN(l, ":", 3); len(f) == 3 {
				for _, root := range []string{e.cgroupRoot, e.shimCgroupParent} {
					ours = ours || f[2] == root || strings.HasPrefix(f[2], root+"/")
				}
			}
		}
		if ours {
			out = append(out, fmt.Sprintf("process %d: %.120s", pid, args))
		}
	}
	return out
}

func listErr(items []string) error {
	if len(items) == 0 {
		return nil
	}
	return errors.New(strings.Join(items, "\n     "))
}

func indent(s string) string {
	return "     " + strings.ReplaceAll(s, "\n", "\n     ")
}
