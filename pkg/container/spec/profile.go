package spec

import (
	"fmt"
	"strings"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// Legacy profile strings of the deprecated CRI fields seccomp_profile_path
// and apparmor_profile.
const (
	legacyRuntimeDefault = "runtime/default"
	legacyDockerDefault  = "docker/default"
	legacyUnconfined     = "unconfined"
)

// ParseLegacyProfile turns a deprecated CRI profile string ("runtime/default",
// "docker/default", "unconfined", "localhost/<ref>") into a SecurityProfile;
// "" gives nil (unset). The CRI layer uses it when the structured field is absent.
func ParseLegacyProfile(s string) (*SecurityProfile, error) {
	switch s {
	case "":
		return nil, nil
	case legacyRuntimeDefault, legacyDockerDefault:
		return &SecurityProfile{Type: ProfileRuntimeDefault}, nil
	case legacyUnconfined:
		return &SecurityProfile{Type: ProfileUnconfined}, nil
	}
	ref, ok := strings.CutPrefix(s, localhostPrefix)
	if !ok || ref == "" {
		return nil, fmt.Errorf("invalid security profile %q: %w", s, errdefs.ErrInvalidArgument)
	}
	return &SecurityProfile{Type: ProfileLocalhost, LocalhostRef: ref}, nil
}
