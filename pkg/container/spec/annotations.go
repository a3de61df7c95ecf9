package spec

import (
	"path"
)

// Annotation keys Build sets, the same as containerd's CRI plugin, so that
// OCI hooks and tools written for containerd recognise the container.
const (
	// AnnotationContainerType is "container" for application containers.
	AnnotationContainerType = "io.kubernetes.cri.container-type"
	// AnnotationSandboxID is the pod sandbox's ID.
	AnnotationSandboxID = "io.kubernetes.cri.sandbox-id"
	// AnnotationSandboxName is the pod's name.
	AnnotationSandboxName = "io.kubernetes.cri.sandbox-name"
	// AnnotationSandboxNamespace is the pod's namespace.
	AnnotationSandboxNamespace = "io.kubernetes.cri.sandbox-namespace"
	// AnnotationSandboxUID is the pod's UID.
	AnnotationSandboxUID = "io.kubernetes.cri.sandbox-uid"
	// AnnotationContainerName is the container's name.
	AnnotationContainerName = "io.kubernetes.cri.container-name"
	// AnnotationImageName is the image reference the client asked for.
	AnnotationImageName = "io.kubernetes.cri.image-name"

	// containerTypeContainer is AnnotationContainerType's value here.
	containerTypeContainer = "container"
)

// annotations copies the pod's, then the container's, annotations whose keys
// match Host.AnnotationPassthrough, then sets the io.kubernetes.cri.* keys,
// which always win.
func (b *builder) annotations() error {
	in := b.in
	out := map[string]string{}
	for _, src := range []map[string]string{in.Sandbox.Annotations, in.Annotations} {
		for k, v := range src {
			if passthrough(k, in.Host.AnnotationPassthrough) {
				out[k] = v
			}
		}
	}
	out[AnnotationContainerType] = containerTypeContainer
	out[AnnotationSandboxID] = in.Sandbox.ID
	out[AnnotationSandboxName] = in.Sandbox.Name
	out[AnnotationSandboxNamespace] = in.Sandbox.Namespace
	out[AnnotationSandboxUID] = in.Sandbox.UID
	out[AnnotationContainerName] = in.Name
	out[AnnotationImageName] = in.ImageName
	b.s.Annotations = out
	return nil
}

// passthrough reports whether key matches one of the patterns.
func passthrough(key string, patterns []string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, key); ok {
			return true
		}
	}
	return false
}
