package cri

import (
	"testing"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// FuzzTranslateRequests feeds arbitrary CreateContainer requests (protobuf
// wire bytes, as the gRPC server receives them) to the translation of the
// container config and of its pod's config: it must never panic, and an
// accepted mount must name an absolute container path.
func FuzzTranslateRequests(f *testing.F) {
	seeds := []*runtimeapi.CreateContainerRequest{
		{PodSandboxId: "p", Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: "busybox"}, Command: []string{"sh"}},
			SandboxConfig: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"}}},
		{Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "../../x"}, LogPath: "../../etc/passwd",
			Mounts:  []*runtimeapi.Mount{{ContainerPath: "../../etc", HostPath: "/"}, {ContainerPath: "/img", Image: &runtimeapi.ImageSpec{Image: "x"}, HostPath: "/etc"}},
			Devices: []*runtimeapi.Device{{ContainerPath: "/dev/../etc", HostPath: "/dev/sda", Permissions: "rwm"}},
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"ALL", "CAP_SYS_ADMIN", "bogus"}},
				Seccomp:      &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "../../etc/shadow"},
				RunAsUser:    &runtimeapi.Int64Value{Value: -1}, MaskedPaths: []string{"relative"},
			}}},
			SandboxConfig: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "a;b", Namespace: "\x00", Uid: ""}, LogDirectory: "relative",
				Linux: &runtimeapi.LinuxPodSandboxConfig{Sysctls: map[string]string{"kernel.shm_rmid_forced": "1+kernel.core_pattern=|/x"}}}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req runtimeapi.CreateContainerRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		_, _ = sandboxConfig(&runtimeapi.RunPodSandboxRequest{Config: req.GetSandboxConfig()})
		in, err := containerInput(req.GetConfig(), req.GetSandboxConfig())
		if err != nil {
			return
		}
		for _, m := range in.Mounts {
			if len(m.ContainerPath) == 0 || m.ContainerPath[0] != '/' {
				t.Fatalf("accepted mount %+v", m)
			}
		}
	})
}
