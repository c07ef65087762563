package netns

import (
	"errors"
	"fmt"
)

// MaxNameLen is the longest namespace (and endpoint or network) name
// vswitchd accepts. Names become file names under RunDir and EtcDir.
const MaxNameLen = 63

// MaxIfNameLen is the longest Linux interface name (IFNAMSIZ - 1).
const MaxIfNameLen = 15

var (
	// ErrBadName is wrapped by name validation errors.
	ErrBadName = errors.New("invalid name")
)

// ValidateName checks that name is usable as a namespace, endpoint or
// network name: 1 to MaxNameLen characters from [A-Za-z0-9_.-], not
// starting with '.' or '-'.
func ValidateName(name string) error {
	return validate(name, MaxNameLen)
}

// ValidateIfName checks that name is usable as a Linux interface name.
func ValidateIfName(name string) error {
	return validate(name, MaxIfNameLen)
}

func validate(name string, max int) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > max:
		return fmt.Errorf("%w %q: longer than %d characters", ErrBadName, name, max)
	case name[0] == '.' || name[0] == '-':
		return fmt.Errorf("%w %q: must not start with %q", ErrBadName, name, name[0])
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return fmt.Errorf("%w %q: character %q not allowed (use A-Z a-z 0-9 _ . -)", ErrBadName, name, c)
		}
	}
	return nil
}
