package daemon

import "syscall"

// noFollow refuses a symlink where the daemon opens its own files.
const noFollow = syscall.O_NOFOLLOW
