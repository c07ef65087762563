package supervisor

import (
	"os"
	"os/signal"
	"syscall"
)

// inheritable are the signals whose ignored disposition a command would
// inherit from this process through fork and exec.
var inheritable = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGPIPE,
	syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM,
}

// DefaultSignals gives the commands the supervisor starts the default
// disposition of every signal, as runc gives a container's first process.
// A signal ignored when this process started (nohup ignores SIGHUP; a
// non-interactive shell's background job, SIGINT and SIGQUIT) stays
// ignored across exec, so `kill -s HUP` would do nothing to an endpoint
// command; DefaultSignals catches and drops those signals instead, which
// keeps them without effect here while exec resets a caught signal to
// its default. Call it once, early; the signals it takes over can still
// be received with signal.Notify.
func DefaultSignals() {
	var ignored []os.Signal
	for _, s := range inheritable {
		if signal.Ignored(s) {
			ignored = append(ignored, s)
		}
	}
	if len(ignored) > 0 {
		signal.Notify(make(chan os.Signal, 1), ignored...)
	}
}
