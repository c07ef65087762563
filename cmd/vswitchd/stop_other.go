//go:build !linux

package main

import (
	"errors"
	"time"
)

// stopProcess needs Linux pidfds.
func stopProcess(int, time.Duration) error {
	return errors.New("vswitchd stop needs Linux")
}
