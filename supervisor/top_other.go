//go:build !linux

package supervisor

// TopTitles are the columns of Processes, those of ps -ef.
var TopTitles = []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}

// Processes needs Linux's /proc: off Linux it lists nothing.
func Processes(pids []int) [][]string { return nil }
