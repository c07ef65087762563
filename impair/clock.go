package impair

import "time"

// Clock is a Port's time source: monotonic nanoseconds, and timers on the
// same scale. Tests inject a fake one whose time moves only when told.
type Clock interface {
	// Now returns the current time in nanoseconds.
	Now() int64
	// NewTimer returns a timer that is not armed.
	NewTimer() Timer
}

// Timer sends on C once, when the clock reaches the time given to Reset.
// As with time.Timer since Go 1.23, no stale value is received after Reset
// or Stop returns.
type Timer interface {
	// C returns the channel the timer sends on.
	C() <-chan time.Time
	// Reset arms the timer for time at (Clock.Now scale), replacing any
	// earlier setting; a time already past fires at once.
	Reset(at int64)
	// Stop disarms the timer.
	Stop()
}

// SystemClock returns the system's monotonic clock, counting from now.
func SystemClock() Clock { return systemClock{epoch: time.Now()} }

type systemClock struct{ epoch time.Time }

// Now implements Clock.
func (c systemClock) Now() int64 { return int64(time.Since(c.epoch)) }

// NewTimer implements Clock.
func (c systemClock) NewTimer() Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return systemTimer{t: t, c: c}
}

type systemTimer struct {
	t *time.Timer
	c systemClock
}

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Reset(at int64)      { t.t.Reset(time.Duration(at - t.c.Now())) }
func (t systemTimer) Stop()               { t.t.Stop() }
