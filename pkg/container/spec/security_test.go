package spec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// containerdDefaultCaps is containerd's default capability set.
var containerdDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// without returns set less the named capabilities.
func without(set []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(set), func(c string) bool { return slices.Contains(drop, c) })
}

func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name      string
		add, drop []string
		want      []string
	}{
		{name: "default", want: containerdDefaultCaps},
		{name: "add", add: []string{"NET_ADMIN"}, want: append(slices.Clone(containerdDefaultCaps), "CAP_NET_ADMIN")},
		{name: "add with prefix and lower case", add: []string{"cap_sys_ptrace"}, want: append(slices.Clone(containerdDefaultCaps), "CAP_SYS_PTRACE")},
		{name: "add existing", add: []string{"CHOWN"}, want: containerdDefaultCaps},
		{name: "drop", drop: []string{"NET_RAW"}, want: without(containerdDefaultCaps, "CAP_NET_RAW")},
		{name: "add ALL", add: []string{"ALL"}, want: testHostCaps},
		{name: "add all, any case", add: []string{"all"}, want: testHostCaps},
		{name: "drop ALL", drop: []string{"ALL"}, want: nil},
		{name: "drop ALL add one", add: []string{"CHOWN"}, drop: []string{"ALL"}, want: []string{"CAP_CHOWN"}},
		{name: "add ALL drop one", add: []string{"ALL"}, drop: []string{"CHOWN"}, want: without(testHostCaps, "CAP_CHOWN")},
		{name: "add ALL and drop ALL", add: []string{"ALL"}, drop: []string{"ALL"}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.Security.Capabilities = Capabilities{Add: tc.add, Drop: tc.drop}
			c := mustBuild(t, in).Process.Capabilities
			for set, got := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s = %v, want %v", set, got, tc.want)
				}
			}
			if c.Inheritable != nil || c.Ambient != nil {
				t.Errorf("inheritable %v ambient %v, want none", c.Inheritable, c.Ambient)
			}
		})
	}
}

func TestUnknownCapability(t *testing.T) {
	in := newInput(t)
	in.Security.Capabilities.Add = []string{"FLY"}
	wantErr(t, in, errdefs.ErrInvalidArgument, `"FLY"`)
}

func TestPrivileged(t *testing.T) {
	in := newInput(t)
	in.Security.Privileged = true
	in.Sandbox.Privileged = true
	in.Security.Capabilities.Drop = []string{"CHOWN"}
	in.Security.Seccomp = &SecurityProfile{Type: ProfileRuntimeDefault}
	s := mustBuild(t, in)
	if !slices.Equal(s.Process.Capabilities.Bounding, testHostCaps) {
		t.Errorf("caps %v, want every daemon cap", s.Process.Capabilities.Bounding)
	}
	if s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil {
		t.Errorf("masked %v readonly %v, want none", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	for _, dst := range []string{"/sys", "/sys/fs/cgroup"} {
		if m, _ := findMount(s, dst); !slices.Contains(m.Options, "rw") || slices.Contains(m.Options, "ro") {
			t.Errorf("%s options %v, want rw", dst, m.Options)
		}
	}
	if s.Linux.Seccomp != nil {
		t.Error("privileged container has a seccomp filter")
	}
	if d := s.Linux.Resources.Devices; len(d) != 1 || !d[0].Allow || d[0].Access != "rwm" {
		t.Errorf("device rules %+v, want allow all", d)
	}
	if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == "/dev/null" }) {
		t.Error("host devices not added")
	}

	in.Sandbox.Privileged = false
	wantErr(t, in, errdefs.ErrInvalidArgument, "privileged")
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	in := newInput(t)
	s := mustBuild(t, in)
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("defaults missing: masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	in.Security.MaskedPaths = []string{"/bin/ls"}
	in.Security.ReadonlyPaths = []string{"/tmp"}
	s = mustBuild(t, in)
	if !slices.Equal(s.Linux.MaskedPaths, []string{"/bin/ls"}) || !slices.Equal(s.Linux.ReadonlyPaths, []string{"/tmp"}) {
		t.Errorf("masked %v readonly %v, want the request's", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	in.Security.MaskedPaths, in.Security.ReadonlyPaths = []string{}, []string{}
	s = mustBuild(t, in)
	if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
		t.Errorf("masked %v readonly %v, want none", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
}

func TestNoNewPrivsAndSysctls(t *testing.T) {
	in := newInput(t)
	in.Security.NoNewPrivs = true
	in.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}
	s := mustBuild(t, in)
	if !s.Process.NoNewPrivileges {
		t.Error("no_new_privs not set")
	}
	if s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" {
		t.Errorf("sysctls %v", s.Linux.Sysctl)
	}
}

func TestSeccomp(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "block-chmod.json")
	writeFiles(t, dir, map[string]string{
		"block-chmod.json": `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}`,
		"bad.json":         `{"defaultAction":`,
	})
	for _, tc := range []struct {
		name    string
		profile *SecurityProfile
		want    string // "" none, "default", or the localhost default action
	}{
		{"unset is unconfined", nil, ""},
		{"unconfined", &SecurityProfile{Type: ProfileUnconfined}, ""},
		{"runtime default", &SecurityProfile{Type: ProfileRuntimeDefault}, "default"},
		{"localhost", &SecurityProfile{Type: ProfileLocalhost, LocalhostRef: good}, "SCMP_ACT_ALLOW"},
		{"localhost with legacy prefix", &SecurityProfile{Type: ProfileLocalhost, LocalhostRef: "localhost/" + good}, "SCMP_ACT_ALLOW"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.Security.Seccomp = tc.profile
			sc := mustBuild(t, in).Linux.Seccomp
			switch tc.want {
			case "":
				if sc != nil {
					t.Errorf("seccomp %+v, want none", sc.DefaultAction)
				}
			case "default":
				if sc == nil || sc.DefaultAction != "SCMP_ACT_ERRNO" || len(sc.Syscalls) == 0 {
					t.Errorf("seccomp %+v, want containerd's default profile", sc)
				}
			default:
				if sc == nil || string(sc.DefaultAction) != tc.want || len(sc.Syscalls) != 1 {
					t.Errorf("seccomp %+v, want the file's profile", sc)
				}
			}
		})
	}
}

func TestSeccompDefaultFollowsCaps(t *testing.T) {
	in := newInput(t)
	in.Security.Seccomp = &SecurityProfile{Type: ProfileRuntimeDefault}
	plain := mustBuild(t, in).Linux.Seccomp
	in.Security.Capabilities.Add = []string{"SYS_ADMIN"}
	admin := mustBuild(t, in).Linux.Seccomp
	allows := func(sc *specs.LinuxSeccomp, name string) bool {
		return slices.ContainsFunc(sc.Syscalls, func(r specs.LinuxSyscall) bool {
			return r.Action == specs.ActAllow && slices.Contains(r.Names, name)
		})
	}
	if allows(plain, "mount") || !allows(admin, "mount") {
		t.Errorf("mount allowed without CAP_SYS_ADMIN: %v, with it: %v", allows(plain, "mount"), allows(admin, "mount"))
	}
}

func TestSeccompErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"bad.json": `{"defaultAction":`})
	missing := filepath.Join(dir, "missing.json")
	for _, tc := range []struct {
		name    string
		profile SecurityProfile
		kind    error
		words   []string
	}{
		{"relative path", SecurityProfile{Type: ProfileLocalhost, LocalhostRef: "profile.json"}, errdefs.ErrInvalidArgument, []string{`"profile.json"`}},
		{"empty path", SecurityProfile{Type: ProfileLocalhost}, errdefs.ErrInvalidArgument, []string{"not absolute"}},
		{"missing file", SecurityProfile{Type: ProfileLocalhost, LocalhostRef: missing}, errdefs.ErrNotFound, []string{missing}},
		{"directory", SecurityProfile{Type: ProfileLocalhost, LocalhostRef: dir}, errdefs.ErrInvalidArgument, []string{dir}},
		{"bad JSON", SecurityProfile{Type: ProfileLocalhost, LocalhostRef: filepath.Join(dir, "bad.json")}, errdefs.ErrInvalidArgument, []string{"bad.json"}},
		{"ref without Localhost", SecurityProfile{Type: ProfileRuntimeDefault, LocalhostRef: "/x"}, errdefs.ErrInvalidArgument, []string{`"/x"`}},
		{"unknown type", SecurityProfile{Type: 9}, errdefs.ErrInvalidArgument, []string{"9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.Security.Seccomp = &tc.profile
			wantErr(t, in, tc.kind, tc.words...)
		})
	}
}

func TestAppArmorDisabled(t *testing.T) {
	for _, p := range []*SecurityProfile{nil, {Type: ProfileUnconfined}} {
		in := newInput(t)
		in.Security.AppArmor = p
		if s := mustBuild(t, in); s.Process.ApparmorProfile != "" {
			t.Errorf("%v: profile %q", p, s.Process.ApparmorProfile)
		}
	}
	for _, p := range []*SecurityProfile{{Type: ProfileRuntimeDefault}, {Type: ProfileLocalhost, LocalhostRef: "localhost/deny-write"}} {
		in := newInput(t)
		in.Security.AppArmor = p
		wantErr(t, in, errdefs.ErrFailedPrecondition, "AppArmor", "not enabled", p.String())
		in.Security.Privileged, in.Sandbox.Privileged = true, true
		wantErr(t, in, errdefs.ErrFailedPrecondition, "AppArmor")
	}
}

func TestAppArmorEnabled(t *testing.T) {
	profiles := filepath.Join(t.TempDir(), "profiles")
	if err := os.WriteFile(profiles, []byte("cri-shim-default (enforce)\ndeny-write (enforce)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := apparmorProfilesFile
	apparmorProfilesFile = profiles
	t.Cleanup(func() { apparmorProfilesFile = old })

	for _, tc := range []struct {
		name       string
		profile    *SecurityProfile
		privileged bool
		want       string
	}{
		{"unset is the default", nil, false, "cri-shim-default"},
		{"runtime default", &SecurityProfile{Type: ProfileRuntimeDefault}, false, "cri-shim-default"},
		{"privileged skips the default", nil, true, ""},
		{"unconfined", &SecurityProfile{Type: ProfileUnconfined}, false, ""},
		{"localhost", &SecurityProfile{Type: ProfileLocalhost, LocalhostRef: "localhost/deny-write"}, false, "deny-write"},
		{"localhost privileged", &SecurityProfile{Type: ProfileLocalhost, LocalhostRef: "deny-write"}, true, "deny-write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.Host.AppArmorEnabled, in.Host.AppArmorDefaultProfile = true, "cri-shim-default"
			in.Security.AppArmor = tc.profile
			in.Security.Privileged, in.Sandbox.Privileged = tc.privileged, tc.privileged
			if got := mustBuild(t, in).Process.ApparmorProfile; got != tc.want {
				t.Errorf("profile %q, want %q", got, tc.want)
			}
		})
	}

	in := newInput(t)
	in.Host.AppArmorEnabled = true
	in.Security.AppArmor = &SecurityProfile{Type: ProfileLocalhost, LocalhostRef: "localhost/non-existent-profile"}
	wantErr(t, in, errdefs.ErrNotFound, `"non-existent-profile"`)
	in.Security.AppArmor = nil
	wantErr(t, in, errdefs.ErrFailedPrecondition, "default AppArmor profile")
}

func TestParseLegacyProfile(t *testing.T) {
	for s, want := range map[string]*SecurityProfile{
		"":                  nil,
		"runtime/default":   {Type: ProfileRuntimeDefault},
		"docker/default":    {Type: ProfileRuntimeDefault},
		"unconfined":        {Type: ProfileUnconfined},
		"localhost/foo":     {Type: ProfileLocalhost, LocalhostRef: "foo"},
		"localhost//a.json": {Type: ProfileLocalhost, LocalhostRef: "/a.json"},
	} {
		got, err := ParseLegacyProfile(s)
		if err != nil || (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("ParseLegacyProfile(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	for _, s := range []string{"localhost/", "bogus"} {
		if _, err := ParseLegacyProfile(s); err == nil {
			t.Errorf("ParseLegacyProfile(%q) succeeded", s)
		}
	}
}
