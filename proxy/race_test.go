//go:build race

package proxy

// raceEnabled reports whether the race detector, which inflates memory
// use, is on.
const raceEnabled = true
