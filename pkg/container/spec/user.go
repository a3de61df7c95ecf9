package spec

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// user sets the process's uid, gid and supplementary groups.
func (b *builder) user() error {
	in := b.in
	userstr, err := in.userSpec()
	if err != nil {
		return err
	}
	db := &userDB{rootfs: in.Rootfs}
	uid, gid, err := in.resolveUser(db, userstr)
	if err != nil {
		return err
	}
	gids := []uint32{gid}
	switch in.Security.SupplementalGroupsPolicy {
	case SupplementalGroupsMerge:
		imageGids, err := in.imageGroups(db, in.groupsUser())
		if err != nil {
			return err
		}
		gids = append(gids, imageGids...)
	case SupplementalGroupsStrict:
	default:
		return in.errorf(errdefs.ErrInvalidArgument, "unknown supplemental groups policy %d", in.Security.SupplementalGroupsPolicy)
	}
	for _, g := range in.Security.SupplementalGroups {
		if g < 0 || g > math.MaxInt32 {
			return in.errorf(errdefs.ErrInvalidArgument, "supplemental group %d out of range", g)
		}
		gids = append(gids, uint32(g))
	}
	slices.Sort(gids)
	b.s.Process.User = specs.User{UID: uid, GID: gid, AdditionalGids: slices.Compact(gids)}
	return nil
}

// userSpec is the user string containerd builds from the request: the user
// name (which wins over run_as_user) or uid, with ":<gid>" for run_as_group;
// without a requested user, the image's USER.
func (in *Input) userSpec() (string, error) {
	sc := in.Security
	var u string
	if sc.RunAsUser != nil {
		u = strconv.FormatInt(*sc.RunAsUser, 10)
	}
	if sc.RunAsUsername != "" {
		u = sc.RunAsUsername
	}
	if u == "" {
		if sc.RunAsGroup != nil {
			return "", in.errorf(errdefs.ErrInvalidArgument, "run_as_group %d is set without run_as_user or run_as_username", *sc.RunAsGroup)
		}
		return in.ImageConfig.User, nil
	}
	if sc.RunAsGroup != nil {
		u += ":" + strconv.FormatInt(*sc.RunAsGroup, 10)
	}
	return u, nil
}

// groupsUser is the user whose /etc/group memberships the Merge policy adds.
func (in *Input) groupsUser() string {
	sc := in.Security
	switch {
	case sc.RunAsUsername != "":
		return sc.RunAsUsername
	case sc.RunAsUser != nil:
		return strconv.FormatInt(*sc.RunAsUser, 10)
	case in.ImageConfig.User != "":
		u, _, _ := strings.Cut(in.ImageConfig.User, ":")
		return u
	default:
		return "0"
	}
}

// resolveUser turns an OCI image user string (user, uid, user:group,
// uid:gid, uid:group, user:gid) into ids, as containerd's oci.WithUser does:
// a bare uid takes its gid from /etc/passwd (0 when not listed); names must
// exist in the image.
func (in *Input) resolveUser(db *userDB, userstr string) (uid, gid uint32, err error) {
	if userstr == "" {
		return 0, 0, nil
	}
	parts := strings.Split(userstr, ":")
	if len(parts) > 2 {
		return 0, 0, in.errorf(errdefs.ErrInvalidArgument, "invalid user %q", userstr)
	}
	uid, numeric, err := in.parseID(parts[0], "uid", userstr)
	if err != nil {
		return 0, 0, err
	}
	if !numeric {
		u, err := in.userByName(db, parts[0])
		if err != nil {
			return 0, 0, err
		}
		uid, gid = uint32(u.Uid), uint32(u.Gid)
	} else if len(parts) == 1 {
		u, err := db.lookupUser(func(u user.User) bool { return u.Uid == int(uid) })
		switch {
		case err == nil:
			gid = uint32(u.Gid)
		case !isMissing(err):
			return 0, 0, in.wrap(err, "look up uid "+parts[0])
		}
	}
	if len(parts) == 1 {
		return uid, gid, nil
	}
	gid, numeric, err = in.parseID(parts[1], "gid", userstr)
	if err != nil {
		return 0, 0, err
	}
	if !numeric {
		if gid, err = in.groupByName(db, parts[1]); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// parseID parses a numeric uid or gid. numeric is false for a name.
func (in *Input) parseID(s, what, userstr string) (id uint32, numeric bool, err error) {
	v, err := strconv.Atoi(s)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, true, in.errorf(errdefs.ErrInvalidArgument, "user %q: %s out of range", userstr, what)
		}
		return 0, false, nil
	}
	if v < 0 || v > math.MaxInt32 {
		return 0, true, in.errorf(errdefs.ErrInvalidArgument, "user %q: %s out of range", userstr, what)
	}
	return uint32(v), true, nil
}

// userByName finds a user name in the image's /etc/passwd.
func (in *Input) userByName(db *userDB, name string) (user.User, error) {
	u, err := db.lookupUser(func(u user.User) bool { return u.Name == name })
	if isMissing(err) {
		return user.User{}, in.errorf(errdefs.ErrInvalidArgument, "user %q not found in the image's %s", name, passwdPath)
	}
	if err != nil {
		return user.User{}, in.wrap(err, "look up user "+strconv.Quote(name))
	}
	if u.Uid < 0 || u.Uid > math.MaxInt32 || u.Gid < 0 || u.Gid > math.MaxInt32 {
		return user.User{}, in.errorf(errdefs.ErrInvalidArgument, "user %q has ids out of range in the image's %s", name, passwdPath)
	}
	return u, nil
}

// groupByName finds a group name in the image's /etc/group.
func (in *Input) groupByName(db *userDB, name string) (uint32, error) {
	groups, err := db.lookupGroups(func(g user.Group) bool { return g.Name == name })
	if err == nil && len(groups) == 0 {
		err = errNoEntry
	}
	if isMissing(err) {
		return 0, in.errorf(errdefs.ErrInvalidArgument, "group %q not found in the image's %s", name, groupPath)
	}
	if err != nil {
		return 0, in.wrap(err, "look up group "+strconv.Quote(name))
	}
	if g := groups[0].Gid; g >= 0 && g <= math.MaxInt32 {
		return uint32(g), nil
	}
	return 0, in.errorf(errdefs.ErrInvalidArgument, "group %q has a gid out of range in the image's %s", name, groupPath)
}

// imageGroups returns the gids of the groups in the image's /etc/group that
// list the user as a member (not counting a group named like the user), as
// containerd's WithAdditionalGIDs does. A uid is first mapped to its name.
func (in *Input) imageGroups(db *userDB, who string) ([]uint32, error) {
	name := who
	if uid, err := strconv.Atoi(who); err == nil {
		u, err := db.lookupUser(func(u user.User) bool { return u.Uid == uid })
		if isMissing(err) {
			return nil, nil
		}
		if err != nil {
			return nil, in.wrap(err, "look up uid "+who)
		}
		name = u.Name
	}
	groups, err := db.lookupGroups(func(g user.Group) bool {
		return g.Name != name && slices.Contains(g.List, name)
	})
	if isMissing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, in.wrap(err, "look up groups of "+strconv.Quote(name))
	}
	var gids []uint32
	for _, g := range groups {
		if g.Gid >= 0 && g.Gid <= math.MaxInt32 {
			gids = append(gids, uint32(g.Gid))
		}
	}
	return gids, nil
}
