package spec

import (
	"bufio"
	"os"
	"strings"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// apparmorProfilesFile lists the loaded AppArmor profiles; tests replace it.
var apparmorProfilesFile = "/sys/kernel/security/apparmor/profiles"

// apparmor sets the AppArmor profile. Without AppArmor on the host any
// profile but Unconfined is refused, as critest expects. With it, unset
// means RuntimeDefault (kubernetes#51746), privileged containers skip the
// default profile, and a Localhost profile must be loaded.
func (b *builder) apparmor() error {
	in := b.in
	sp := in.Security.AppArmor
	if !in.Host.AppArmorEnabled {
		if sp != nil && sp.Type != ProfileUnconfined {
			return in.errorf(errdefs.ErrFailedPrecondition, "AppArmor profile %s requested but AppArmor is not enabled on this host", sp)
		}
		return nil
	}
	if sp == nil {
		sp = &SecurityProfile{Type: ProfileRuntimeDefault}
	}
	if sp.Type != ProfileLocalhost && sp.LocalhostRef != "" {
		return in.errorf(errdefs.ErrInvalidArgument, "AppArmor localhost_ref %q is only allowed with a Localhost profile", sp.LocalhostRef)
	}
	switch sp.Type {
	case ProfileUnconfined:
		return nil
	case ProfileRuntimeDefault:
		if in.Security.Privileged {
			return nil
		}
		if in.Host.AppArmorDefaultProfile == "" {
			return in.errorf(errdefs.ErrFailedPrecondition, "no default AppArmor profile is configured")
		}
		b.s.Process.ApparmorProfile = in.Host.AppArmorDefaultProfile
		return nil
	case ProfileLocalhost:
		name := strings.TrimPrefix(sp.LocalhostRef, localhostPrefix)
		if name == "" {
			return in.errorf(errdefs.ErrInvalidArgument, "empty AppArmor Localhost profile name")
		}
		loaded, err := appArmorProfileLoaded(name)
		if err != nil {
			return in.wrap(err, "list loaded AppArmor profiles")
		}
		if !loaded {
			return in.errorf(errdefs.ErrNotFound, "AppArmor profile %q is not loaded", name)
		}
		b.s.Process.ApparmorProfile = name
		return nil
	default:
		return in.errorf(errdefs.ErrInvalidArgument, "unknown AppArmor profile type %d", sp.Type)
	}
}

// appArmorProfileLoaded reports whether the kernel has a profile of that name
// (lines of the profiles file read "<name> (<mode>)").
func appArmorProfileLoaded(name string) (bool, error) {
	f, err := os.Open(apparmorProfilesFile)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name+" (") {
			return true, nil
		}
	}
	return false, sc.Err()
}

// String names a profile for messages: "RuntimeDefault", "Unconfined" or "localhost/<ref>".
func (p *SecurityProfile) String() string {
	if p == nil {
		return "<unset>"
	}
	switch p.Type {
	case ProfileRuntimeDefault:
		return "RuntimeDefault"
	case ProfileUnconfined:
		return "Unconfined"
	case ProfileLocalhost:
		return localhostPrefix + strings.TrimPrefix(p.LocalhostRef, localhostPrefix)
	default:
		return "unknown"
	}
}
