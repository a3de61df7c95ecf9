package spec

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs/validate"
	"github.com/opencontainers/runc/libcontainer/specconv"
)

// TestLibcontainerAcceptsSpecs feeds representative specs through the same
// conversion and validation libcontainer v1.5.2 runs at create time.
func TestLibcontainerAcceptsSpecs(t *testing.T) {
	host := t.TempDir()
	if err := os.Mkdir(filepath.Join(host, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	selfNS := func(in *Input) {
		in.Sandbox.NetNS = NamespacePath{Path: "/proc/self/ns/net"}
		in.Sandbox.IPCNS = NamespacePath{Path: "/proc/self/ns/ipc"}
		in.Sandbox.UTSNS = NamespacePath{Path: "/proc/self/ns/uts"}
		in.Sandbox.PIDNS = NamespacePath{Path: "/proc/self/ns/pid"}
	}
	for name, edit := range map[string]func(*Input){
		"default": func(in *Input) {},
		"restricted": func(in *Input) {
			podFiles(t, in)
			in.Security = SecurityContext{
				RunAsUser: i64(1000), NoNewPrivs: true, ReadonlyRootfs: true,
				Capabilities: Capabilities{Drop: []string{"ALL"}, Add: []string{"NET_BIND_SERVICE"}},
				Seccomp:      &SecurityProfile{Type: ProfileRuntimeDefault},
				MaskedPaths:  []string{"/bin/ls"},
				Namespaces:   NamespaceOptions{PID: NamespaceContainer},
			}
			in.Mounts = []Mount{{ContainerPath: "/data", HostPath: filepath.Join(host, "data"), Readonly: true, RecursiveReadOnly: true}}
			in.Resources = &Resources{CPUShares: 256, CPUQuota: 20000, CPUPeriod: 100000, MemoryLimit: 32 << 20, OOMScoreAdj: 1000}
			in.Devices = []Device{{HostPath: "/dev/zero", ContainerPath: "/dev/z", Permissions: "rw"}}
		},
		"privileged host namespaces": func(in *Input) {
			in.Security.Privileged, in.Sandbox.Privileged = true, true
			in.Sandbox.NetNS, in.Sandbox.IPCNS, in.Sandbox.UTSNS = NamespacePath{Host: true}, NamespacePath{Host: true}, NamespacePath{Host: true}
			in.Security.Namespaces.PID = NamespaceNode
			in.TTY = true
		},
	} {
		t.Run(name, func(t *testing.T) {
			in := newInput(t)
			selfNS(in)
			edit(in)
			s := mustBuild(t, in)
			cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: in.ID, Spec: s})
			if err != nil {
				t.Fatalf("specconv: %v", err)
			}
			if err := validate.Validate(cfg); err != nil {
				t.Fatalf("validate: %v", err)
			}
		})
	}
}
