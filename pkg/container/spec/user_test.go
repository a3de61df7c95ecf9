package spec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

func TestUser(t *testing.T) {
	for _, tc := range []struct {
		name          string
		imageUser     string
		runAsUser     *int64
		runAsUsername string
		runAsGroup    *int64
		supplemental  []int64
		policy        SupplementalGroupsPolicy
		uid, gid      uint32
		gids          []uint32
	}{
		{name: "default root, merged image groups", uid: 0, gid: 0, gids: []uint32{0, 10}},
		{name: "image uid from passwd", imageUser: "1000", uid: 1000, gid: 1000, gids: []uint32{1000, 50000}},
		{name: "image uid not in passwd", imageUser: "1002", uid: 1002, gid: 0, gids: []uint32{0}},
		{name: "image user name", imageUser: "www-data", uid: 33, gid: 33, gids: []uint32{33, 1004}},
		{name: "image uid:gid", imageUser: "1003:1004", uid: 1003, gid: 1004, gids: []uint32{1004}},
		{name: "image name:gid", imageUser: "www-data:1004", uid: 33, gid: 1004, gids: []uint32{1004}},
		{name: "image name:group", imageUser: "default-user:staff", uid: 1000, gid: 1004, gids: []uint32{1004, 50000}},
		{name: "run_as_user beats image", imageUser: "www-data", runAsUser: i64(1000), uid: 1000, gid: 1000, gids: []uint32{1000, 50000}},
		{name: "run_as_username beats run_as_user", runAsUser: i64(1000), runAsUsername: "www-data", uid: 33, gid: 33, gids: []uint32{33, 1004}},
		{name: "run_as_group", runAsUser: i64(1000), runAsGroup: i64(2000), uid: 1000, gid: 2000, gids: []uint32{2000, 50000}},
		{name: "merge adds supplemental", runAsUser: i64(1000), supplemental: []int64{1234, 5678}, uid: 1000, gid: 1000, gids: []uint32{1000, 1234, 5678, 50000}},
		{name: "strict keeps only requested", runAsUser: i64(1000), supplemental: []int64{1234}, policy: SupplementalGroupsStrict, uid: 1000, gid: 1000, gids: []uint32{1000, 1234}},
		{name: "nobody", runAsUsername: "nobody", uid: 65534, gid: 65534, gids: []uint32{65534}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.ImageConfig.User = tc.imageUser
			in.Security.RunAsUser, in.Security.RunAsUsername, in.Security.RunAsGroup = tc.runAsUser, tc.runAsUsername, tc.runAsGroup
			in.Security.SupplementalGroups, in.Security.SupplementalGroupsPolicy = tc.supplemental, tc.policy
			u := mustBuild(t, in).Process.User
			if u.UID != tc.uid || u.GID != tc.gid || !slices.Equal(u.AdditionalGids, tc.gids) {
				t.Errorf("user = %d:%d %v, want %d:%d %v", u.UID, u.GID, u.AdditionalGids, tc.uid, tc.gid, tc.gids)
			}
		})
	}
}

func TestUserErrors(t *testing.T) {
	for _, tc := range []struct {
		name          string
		imageUser     string
		runAsUser     *int64
		runAsUsername string
		runAsGroup    *int64
		supplemental  []int64
		policy        SupplementalGroupsPolicy
		words         []string
	}{
		{name: "unknown username", runAsUsername: "ghost", words: []string{`"ghost"`, "/etc/passwd"}},
		{name: "unknown image user", imageUser: "ghost", words: []string{`"ghost"`}},
		{name: "unknown image group", imageUser: "www-data:ghosts", words: []string{`"ghosts"`, "/etc/group"}},
		{name: "group without user", runAsGroup: i64(1002), words: []string{"run_as_group"}},
		{name: "negative uid", runAsUser: i64(-1), words: []string{"out of range"}},
		{name: "uid too large", runAsUser: i64(1 << 40), words: []string{"out of range"}},
		{name: "too many colons", imageUser: "a:b:c", words: []string{`"a:b:c"`}},
		{name: "bad supplemental group", supplemental: []int64{-3}, words: []string{"-3"}},
		{name: "unknown policy", policy: 7, words: []string{"policy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t)
			in.ImageConfig.User = tc.imageUser
			in.Security.RunAsUser, in.Security.RunAsUsername, in.Security.RunAsGroup = tc.runAsUser, tc.runAsUsername, tc.runAsGroup
			in.Security.SupplementalGroups, in.Security.SupplementalGroupsPolicy = tc.supplemental, tc.policy
			wantErr(t, in, errdefs.ErrInvalidArgument, tc.words...)
		})
	}
}

func TestUserWithoutEtcFiles(t *testing.T) {
	in := newInput(t)
	in.Rootfs = t.TempDir()
	in.Security.RunAsUser = i64(1000)
	u := mustBuild(t, in).Process.User
	if u.UID != 1000 || u.GID != 0 || !slices.Equal(u.AdditionalGids, []uint32{0}) {
		t.Errorf("user = %+v, want 1000:0 [0]", u)
	}
	in.Security.RunAsUser, in.Security.RunAsUsername = nil, "www-data"
	wantErr(t, in, errdefs.ErrInvalidArgument, `"www-data"`)
}

// TestHostileRootfs checks that a rootfs whose /etc/passwd and /etc/group
// point outside it cannot make Build read host files.
func TestHostileRootfs(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{
		"shadow":  "evil:x:0:0::/:/bin/sh\n",
		"gshadow": "evilgrp:x:0:evil,root\n",
	})
	for _, tc := range []struct{ name, passwdTarget, groupTarget string }{
		{"absolute symlinks", filepath.Join(outside, "shadow"), filepath.Join(outside, "gshadow")},
		{"relative escapes", "../../../../../../../.." + filepath.Join(outside, "shadow"), "../../../../../../../.." + filepath.Join(outside, "gshadow")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tc.passwdTarget, filepath.Join(root, "etc/passwd")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tc.groupTarget, filepath.Join(root, "etc/group")); err != nil {
				t.Fatal(err)
			}
			in := newInput(t)
			in.Rootfs = root
			in.Security.RunAsUsername = "evil"
			wantErr(t, in, errdefs.ErrInvalidArgument, `"evil"`)

			in.Security.RunAsUsername = ""
			in.Security.RunAsUser = i64(0)
			u := mustBuild(t, in).Process.User
			if !slices.Equal(u.AdditionalGids, []uint32{0}) {
				t.Errorf("groups %v: the host group file was read", u.AdditionalGids)
			}
		})
	}
}

// TestSymlinkInsideRootfs checks that symlinks are followed inside the rootfs.
func TestSymlinkInsideRootfs(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"usr/lib/passwd": testPasswd})
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Absolute target: resolved against the rootfs, not the host.
	if err := os.Symlink("/usr/lib/passwd", filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	in := newInput(t)
	in.Rootfs = root
	in.Security.RunAsUsername = "www-data"
	if u := mustBuild(t, in).Process.User; u.UID != 33 || u.GID != 33 {
		t.Errorf("user = %+v, want 33:33", u)
	}
}

func TestPasswdNotRegular(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/passwd"), 0o755); err != nil {
		t.Fatal(err)
	}
	in := newInput(t)
	in.Rootfs = root
	in.Security.RunAsUsername = "www-data"
	wantErr(t, in, errdefs.ErrInvalidArgument, "not a regular file")
}
