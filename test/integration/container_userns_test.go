package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestImageVolumes: an image mounted read-only (and executable) into a
// container, whole or a sub path, its image ID in the status, refusals
// for read-write, missing sub paths and images not pulled, and nothing
// left after the container goes.
func TestImageVolumes(t *testing.T) {
	d := startCtrDaemon(t)
	ctx := context.Background()
	volID := d.pull(ctrVolImage)
	groupID := d.pull(ctrGroupImage)
	pod := d.podConfig("volumes", runtimeapi.NamespaceMode_CONTAINER, nil)
	podID := d.runPod(pod)
	volume := func(path, img, sub string) *runtimeapi.Mount {
		return &runtimeapi.Mount{ContainerPath: path, Readonly: true, ImageSubPath: sub,
			Image: &runtimeapi.ImageSpec{Image: img, UserSpecifiedImage: img}}
	}
	cfg := ctrConfig(pod, "reader", "sleep", "3600")
	cfg.Mounts = []*runtimeapi.Mount{volume("/mnt/iv", ctrVolImage, ""), volume("/mnt/etc", ctrGroupImage, "etc")}
	id := d.run(podID, pod, cfg)

	exec := func(cmd ...string) (string, int32) {
		t.Helper()
		resp, err := d.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 10})
		if err != nil {
			t.Fatalf("exec %v: %v", cmd, err)
		}
		return strings.TrimSpace(string(resp.GetStdout()) + string(resp.GetStderr())), resp.GetExitCode()
	}
	if out, code := exec("ls", "/mnt/iv/bin/sh"); code != 0 {
		t.Errorf("image content not visible: %s", out)
	}
	if out, code := exec("touch", "/mnt/iv/x"); code == 0 || !strings.Contains(out, "Read-only file system") {
		t.Errorf("write to the image volume: %d %s", code, out)
	}
	if out, code := exec("/mnt/iv/bin/ls", "/mnt/iv"); code != 0 {
		t.Errorf("exec from the image volume: %s", out)
	}
	if out, code := exec("grep", "default-user", "/mnt/etc/passwd"); code != 0 {
		t.Errorf("sub path content: %s", out)
	}
	if _, code := exec("ls", "/mnt/etc/etc"); code == 0 {
		t.Error("the sub path mounted the image root")
	}
	mounts := d.ctrStatus(id).GetMounts()
	if len(mounts) != 2 || mounts[0].GetImage().GetImageRef() != volID || mounts[1].GetImage().GetImageRef() != groupID || mounts[1].GetImageSubPath() != "etc" {
		t.Errorf("status mounts %v, want image refs %s and %s", mounts, volID, groupID)
	}

	for name, tc := range map[string]struct {
		m    *runtimeapi.Mount
		code codes.Code
		msg  string
	}{
		"read-write":       {&runtimeapi.Mount{ContainerPath: "/mnt/iv", Image: &runtimeapi.ImageSpec{Image: ctrVolImage}}, codes.InvalidArgument, "must be read-only"},
		"missing sub path": {volume("/mnt/iv", ctrVolImage, "not-existing"), codes.NotFound, `sub path "not-existing" does not exist`},
		"not pulled":       {volume("/mnt/iv", "gcr.io/k8s-staging-cri-tools/test-image-tag:all", ""), codes.NotFound, "not pulled"},
	} {
		cfg := ctrConfig(pod, "refused-"+strings.ReplaceAll(name, " ", "-"), "true")
		cfg.Mounts = []*runtimeapi.Mount{volume("/mnt/ok", ctrVolImage, ""), tc.m}
		_, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v with %q", name, err, tc.code, tc.msg)
		}
	}

	if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	volumes := filepath.Join(d.State, "containers", id, "volumes")
	if ms, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(volumes)); len(ms) > 0 {
		t.Errorf("%d image volume mounts left after the exit", len(ms))
	}
	if _, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	// The leases went with the container: the images can go, layers and all.
	for _, img := range []string{volID, groupID} {
		if _, err := d.Image.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: img}}); err != nil {
			t.Errorf("remove image %s: %v", img, err)
		}
	}
}

// usernsMapping maps container IDs 0..65535 to host IDs from 300000.
var usernsMapping = []*runtimeapi.IDMapping{{ContainerId: 0, HostId: 300000, Length: 65536}}

func podUserNS() *runtimeapi.UserNamespace {
	return &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: usernsMapping, Gids: usernsMapping}
}

// TestUserNamespacePods: containers of a pod with a user namespace run as
// the namespace's root (an unprivileged host user), see the image's files
// as their own through idmapped layers, write their rootfs, mount image
// volumes; the pod with and without a PID namespace; NODE mode; refusals.
func TestUserNamespacePods(t *testing.T) {
	d := startCtrDaemon(t)
	ctx := context.Background()
	st, err := d.Runtime.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil || !st.GetRuntimeHandlers()[0].GetFeatures().GetUserNamespaces() {
		t.Fatalf("user_namespaces not advertised: %v %v", st.GetRuntimeHandlers(), err)
	}
	for _, pid := range []runtimeapi.NamespaceMode{runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_CONTAINER} {
		t.Run("pid "+pid.String(), func(t *testing.T) {
			pod := d.podConfig("userns-"+strings.ToLower(pid.String()), pid, podUserNS())
			podID := d.runPod(pod)
			if u := d.podStatus(podID).GetLinux().GetNamespaces().GetOptions().GetUsernsOptions(); u.GetMode() != runtimeapi.NamespaceMode_POD || u.GetUids()[0].GetHostId() != 300000 {
				t.Errorf("pod status user namespace %v", u)
			}
			cfg := ctrConfig(pod, "inside", "sh", "-c",
				"cat /proc/self/uid_map; id -u; stat -c 'owner=%u' /etc/passwd; touch /made-here && echo wrote; stat -c 'vol=%u' /mnt/iv/bin/sh; echo reopened >/dev/stdout; echo ready; sleep 3600")
			cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/mnt/iv", Readonly: true, Image: &runtimeapi.ImageSpec{Image: ctrVolImage}}}
			id := d.run(podID, pod, cfg)
			logPath := d.ctrStatus(id).GetLogPath()
			waitLogLine(t, logPath, "ready")
			lines := logLines(t, logPath, "stdout")
			if len(lines) < 1 || strings.Join(strings.Fields(lines[0]), " ") != "0 300000 65536" {
				t.Errorf("uid_map %q", lines)
			}
			for _, want := range []string{"0", "owner=0", "wrote", "vol=0", "reopened"} {
				if !slices.Contains(lines, want) {
					t.Errorf("log lacks %q: %q", want, lines)
				}
			}
			// An exec'd process reopens its own stdio as the init does.
			res, err := d.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Timeout: 10,
				Cmd: []string{"sh", "-c", "echo out >/dev/stdout && echo err >/proc/self/fd/2"}})
			if err != nil || string(res.GetStdout()) != "out\n" || string(res.GetStderr()) != "err\n" || res.GetExitCode() != 0 {
				t.Errorf("exec reopening its stdio: %q %q exit %d, %v", res.GetStdout(), res.GetStderr(), res.GetExitCode(), err)
			}
			pidOnHost := d.ctrPID(id)
			if s, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pidOnHost)); !strings.Contains(string(s), "Uid:\t300000\t") {
				t.Errorf("the container's root is not host user 300000:\n%s", s)
			}
			upper := filepath.Join(d.Root, "containers", id, "upper", "made-here")
			if fi, err := os.Stat(upper); err != nil || statUID(fi) != 300000 {
				t.Errorf("file written by the container: %v (uid %d), want host uid 300000", err, statUID(fi))
			}
			d.stopRemovePod(podID)
		})
	}

	// NODE: the host's user namespace.
	pod := d.podConfig("userns-node", runtimeapi.NamespaceMode_CONTAINER, &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE})
	podID := d.runPod(pod)
	id := d.run(podID, pod, ctrConfig(pod, "host-users", "cat", "/proc/self/uid_map"))
	d.waitCtrState(id, runtimeapi.ContainerState_CONTAINER_EXITED)
	if lines := logLines(t, d.ctrStatus(id).GetLogPath(), "stdout"); len(lines) != 1 || strings.Join(strings.Fields(lines[0]), " ") != "0 0 4294967295" {
		t.Errorf("NODE uid_map %q", lines)
	}
	// A POD container request in a pod without one is refused.
	cfg := ctrConfig(pod, "wants-pod-userns", "true")
	cfg.Linux.SecurityContext.NamespaceOptions.UsernsOptions = podUserNS()
	if _, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("POD request in a NODE pod: %v", err)
	}
	d.stopRemovePod(podID)

	for name, u := range map[string]*runtimeapi.UserNamespace{
		"CONTAINER":    {Mode: runtimeapi.NamespaceMode_CONTAINER},
		"TARGET":       {Mode: runtimeapi.NamespaceMode_TARGET},
		"two mappings": {Mode: runtimeapi.NamespaceMode_POD, Uids: append(usernsMapping, usernsMapping...), Gids: usernsMapping},
		"no root":      {Mode: runtimeapi.NamespaceMode_POD, Uids: []*runtimeapi.IDMapping{{ContainerId: 1, HostId: 300000, Length: 10}}, Gids: usernsMapping},
	} {
		cfg := d.podConfig("refused", runtimeapi.NamespaceMode_CONTAINER, u)
		if _, err := d.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

// podStatus returns a pod's status.
func (d *ctrDaemon) podStatus(id string) *runtimeapi.PodSandboxStatus {
	d.t.Helper()
	resp, err := d.Runtime.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		d.t.Fatal(err)
	}
	return resp.GetStatus()
}

// stopRemovePod stops and removes a pod with its containers.
func (d *ctrDaemon) stopRemovePod(id string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		d.t.Fatal(err)
	}
}

// statUID is the owner of fi, or -1.
func statUID(fi os.FileInfo) int64 {
	if fi == nil {
		return -1
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Uid)
	}
	return -1
}
