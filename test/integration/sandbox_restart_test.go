package integration

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPodsOutliveDaemonRestart: pods (their PID 1, namespaces, address and
// host port) keep running across a graceful restart and a SIGKILL of the
// daemon.
func TestPodsOutliveDaemonRestart(t *testing.T) {
	d := startPodDaemon(t, "", "")
	const hostPort = 18097
	cfg := podRequest("survivor")
	cfg.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_POD
	cfg.PortMappings = []*runtimeapi.PortMapping{{ContainerPort: 8080, HostPort: hostPort}}
	id := d.run(cfg)
	ip := d.status(id).GetNetwork().GetIp()
	info := d.info(id)
	initPID := info.Sandbox.Resources.PodInit.PID
	listenIn(t, info.NamespacePaths["net"], net.JoinHostPort(ip, "8080"))

	check := func(when string) {
		t.Helper()
		st := d.status(id)
		if st.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY || st.GetNetwork().GetIp() != ip {
			t.Fatalf("%s: pod %v", when, st)
		}
		if got := d.info(id).Sandbox.Resources.PodInit.PID; got != initPID || syscall.Kill(initPID, 0) != nil {
			t.Fatalf("%s: pod PID 1 %d gone (record says %d)", when, initPID, got)
		}
		if got, err := talk(net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))); err != nil || got != "pod says hello" {
			t.Fatalf("%s: host port: %q %v", when, got, err)
		}
	}
	check("before")

	if err := d.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(15 * time.Second); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	check("after a graceful restart")

	d.Kill9()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	check("after kill -9")
	d.stopAndRemove(id)
	if syscall.Kill(initPID, 0) == nil && !isZombie(initPID) {
		t.Error("pod PID 1 survived the pod")
	}
}

func isZombie(pid int) bool {
	for _, p := range podInitProcesses() {
		if p.pid == pid {
			return false
		}
	}
	return true
}
