//go:build !linux

package daemon

const noFollow = 0
