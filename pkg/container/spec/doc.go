// Package spec translates one container request into an OCI runtime spec.
//
// It is the pure core of CreateContainer: the CRI layer fills an Input from
// the CreateContainerRequest, the PodSandboxConfig, the image config and the
// facts the sandbox and the daemon know (namespace paths, the pod's files,
// cgroup path, host capabilities), and Build returns the *specs.Spec that
// libcontainer runs. The package knows no gRPC or cri-api types.
//
// The behaviour follows containerd 2.4's CRI plugin (defaults from its pkg/oci,
// the default seccomp profile from its contrib/seccomp) and what the kubelet
// and critest expect. Build reads a few files: the image's /etc/passwd and
// /etc/group inside the rootfs (always through filepath-securejoin, so a
// hostile rootfs cannot redirect the read outside itself), the host paths of
// mounts and devices (to resolve symlinks and refuse missing ones), Localhost
// seccomp profiles and, for privileged containers, the host's /dev.
package spec
