package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCheckpointRestore checkpoints a running container and restores it
// from the archive into a second pod through CreateContainer (the image is
// the archive's path) and StartContainer: the restored process goes on
// counting where the checkpoint left it, logs to the new container's log,
// and sees the file written into the first container's writable layer.
// Both containers stop and go with nothing left behind.
func TestCheckpointRestore(t *testing.T) {
	if _, err := exec.LookPath("criu"); err != nil {
		t.Skip("criu not installed (make deps builds it)")
	}
	d := startCtrDaemonOn(t, "crishimcp0", "10.236.0.0/24", "")
	ctx := context.Background()
	podCfg := d.podConfig("ckpt-a", runtimeapi.NamespaceMode_CONTAINER, nil)
	pod := d.runPod(podCfg)
	cfg := ctrConfig(podCfg, "counter", "sh", "-c", "i=0; while true; do i=$((i+1)); echo n=$i; sleep 0.1; done")
	ctr := d.run(pod, podCfg, cfg)
	if _, err := d.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctr, Cmd: []string{"sh", "-c", "echo kept > /written-before"}, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	logA := filepath.Join(podCfg.GetLogDirectory(), "counter.log")
	waitLogLine(t, logA, "n=5\n")
	archive := filepath.Join(t.TempDir(), "counter.tar")
	if _, err := d.Runtime.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: ctr, Location: archive, Timeout: 60}); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	atCheckpoint := lastCount(t, logA)

	// A bad archive is refused and leaves nothing.
	podBCfg := d.podConfig("ckpt-b", runtimeapi.NamespaceMode_CONTAINER, nil)
	podB := d.runPod(podBCfg)
	bad := filepath.Join(t.TempDir(), "bad.tar")
	if err := os.WriteFile(bad, []byte("not a tar"), 0o600); err != nil {
		t.Fatal(err)
	}
	badCfg := ctrConfig(podBCfg, "bad", "true")
	badCfg.Image = &runtimeapi.ImageSpec{Image: bad}
	if _, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podB, Config: badCfg, SandboxConfig: podBCfg}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("create from a bad archive: %v, want InvalidArgument", err)
	}
	badCfg.Image = &runtimeapi.ImageSpec{Image: filepath.Join(t.TempDir(), "missing.tar")}
	if _, err := d.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podB, Config: badCfg, SandboxConfig: podBCfg}); status.Code(err) != codes.NotFound {
		t.Errorf("create from a missing archive: %v, want NotFound", err)
	}

	restoredCfg := ctrConfig(podBCfg, "restored", "sh", "-c", "echo this command never runs")
	restoredCfg.Image = &runtimeapi.ImageSpec{Image: archive}
	restored := d.create(podB, podBCfg, restoredCfg)
	if st := d.ctrStatus(restored); st.GetState() != runtimeapi.ContainerState_CONTAINER_CREATED || st.GetImage().GetImage() == archive {
		t.Errorf("restored container before start: %v, image %q", st.GetState(), st.GetImage().GetImage())
	}
	d.start(restored)
	d.waitCtrState(restored, runtimeapi.ContainerState_CONTAINER_RUNNING)
	logB := filepath.Join(podBCfg.GetLogDirectory(), "restored.log")
	waitLogLine(t, logB, "n=")
	// The checkpoint came after n=5: a restored process goes on from there,
	// a restarted one would start at 1.
	if first := firstCount(t, logB); first < 5 || first > atCheckpoint+1 {
		t.Errorf("restored counter starts at %d; it was at 5..%d at the checkpoint", first, atCheckpoint)
	}
	res, err := d.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: restored, Cmd: []string{"cat", "/written-before"}, Timeout: 10})
	if err != nil || strings.TrimSpace(string(res.GetStdout())) != "kept" {
		t.Errorf("writable layer in the restored container: %q %v", res.GetStdout(), err)
	}
	if st := d.ctrStatus(ctr); st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("checkpointed container after the restore: %v", st.GetState())
	}
	if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: restored, Timeout: 0}); err != nil {
		t.Fatal(err)
	}
	// A restored container not started yet stops without a process.
	again := d.create(podB, podBCfg, func() *runtimeapi.ContainerConfig {
		c := ctrConfig(podBCfg, "again", "true")
		c.Image = &runtimeapi.ImageSpec{Image: archive}
		return c
	}())
	// kill -9 of the daemon: the restored container is still created after
	// the restart, and the restored one still runs.
	d.Kill9()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if st := d.ctrStatus(again); st.GetState() != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Errorf("unrestored container after a daemon restart: %v", st.GetState())
	}
	if _, err := d.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: again}); err != nil {
		t.Fatalf("stop an unrestored container: %v", err)
	}
	d.waitCtrState(again, runtimeapi.ContainerState_CONTAINER_EXITED)
	if _, err := d.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: again}); err != nil {
		t.Fatal(err)
	}
}

// lastCount and firstCount read the counter's "n=N" lines from a CRI log.
func lastCount(t *testing.T, path string) int {
	t.Helper()
	lines := logLines(t, path, "stdout")
	return count(t, lines[len(lines)-1])
}

func firstCount(t *testing.T, path string) int {
	t.Helper()
	return count(t, logLines(t, path, "stdout")[0])
}

func count(t *testing.T, line string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimPrefix(line, "n="))
	if err != nil {
		t.Fatalf("log line %q", line)
	}
	return n
}
