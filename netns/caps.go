package netns

import (
	"fmt"
	"slices"
	"strings"
)

// Caps are the Linux capabilities by name (capability(7), without CAP_),
// with their numbers, which are the kernel's ABI.
var Caps = map[string]int{
	"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
	"SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
	"NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
	"SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
	"SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
	"SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
	"SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35,
	"BLOCK_SUSPEND": 36, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}

// CapName returns s as Caps names it: upper case without CAP_, or "ALL".
func CapName(s string) (string, error) {
	n := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "CAP_")
	if _, ok := Caps[n]; ok || n == "ALL" {
		return n, nil
	}
	return "", fmt.Errorf("capability %q: not a Linux capability (see capabilities(7); ALL for all)", s)
}

// CapDrop returns the capabilities an endpoint's processes lose, sorted,
// as Docker's --cap-add and --cap-drop say (each a list of names, with or
// without CAP_, any case, or ALL): everything is kept unless dropped, and
// an added capability is kept even when dropped (--cap-drop ALL --cap-add
// NET_BIND_SERVICE keeps that one alone).
func CapDrop(add, drop []string) ([]string, error) {
	norm := func(list []string) (map[string]bool, error) {
		m := map[string]bool{}
		for _, s := range list {
			n, err := CapName(s)
			if err != nil {
				return nil, err
			}
			if n == "ALL" {
				for c := range Caps {
					m[c] = true
				}
				continue
			}
			m[n] = true
		}
		return m, nil
	}
	a, err := norm(add)
	if err != nil {
		return nil, err
	}
	d, err := norm(drop)
	if err != nil {
		return nil, err
	}
	var out []string
	for c := range d {
		if !a[c] {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out, nil
}
