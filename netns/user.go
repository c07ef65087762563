package netns

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"
)

// User is who a command runs as (exec -u).
type User struct {
	UID, GID   int
	Groups     []int // supplementary groups
	Name, Home string
}

// LookupUser resolves USER[:GROUP] (names or numbers) as docker exec -u
// does: a name must exist; a number that names no user is used as it is,
// with the same group number and / as home.
func LookupUser(spec string) (User, error) {
	name, group, _ := strings.Cut(spec, ":")
	if name == "" {
		return User{}, fmt.Errorf("user %q: want USER[:GROUP]", spec)
	}
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr != nil {
			return User{}, fmt.Errorf("user %q: no such user", name)
		}
		if u, err = user.LookupId(name); err != nil {
			u = &user.User{Uid: name, Gid: name, Username: name, HomeDir: "/"}
		}
	}
	out := User{Name: u.Username, Home: u.HomeDir}
	out.UID, _ = strconv.Atoi(u.Uid)
	out.GID, _ = strconv.Atoi(u.Gid)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err == nil {
			out.GID, _ = strconv.Atoi(g.Gid)
		} else if n, nerr := strconv.Atoi(group); nerr == nil {
			out.GID = n
		} else {
			return User{}, fmt.Errorf("group %q: no such group", group)
		}
	}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if n, err := strconv.Atoi(s); err == nil {
				out.Groups = append(out.Groups, n)
			}
		}
	}
	return out, nil
}
