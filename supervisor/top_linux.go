//go:build linux

package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// TopTitles are the columns of Processes, those of ps -ef.
var TopTitles = []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}

// Processes describes the processes pids from /proc, as ps -ef does, in
// PID order. Processes that exit meanwhile are left out.
func Processes(pids []int) [][]string {
	sort.Ints(pids)
	boot := bootTime()
	hz := float64(100) // USER_HZ: 100 on every Linux architecture Go supports
	var out [][]string
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// comm is in parentheses and may hold spaces: fields follow the
		// last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 20 {
			continue
		}
		ppid := f[1]
		ttyNr, _ := strconv.Atoi(f[4])
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		start, _ := strconv.ParseFloat(f[19], 64)
		cpu := time.Duration((utime + stime) / hz * float64(time.Second))
		started := boot.Add(time.Duration(start / hz * float64(time.Second)))
		uid := "?"
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d", pid), &st) == nil {
			uid = strconv.Itoa(int(st.Uid))
			if u, err := user.LookupId(uid); err == nil {
				uid = u.Username
			}
		}
		cmd := strings.TrimSpace(strings.ReplaceAll(readFile(fmt.Sprintf("/proc/%d/cmdline", pid)), "\x00", " "))
		if cmd == "" {
			cmd = "[" + string(stat[bytes.IndexByte(stat, '(')+1:i]) + "]"
		}
		out = append(out, []string{uid, strconv.Itoa(pid), ppid, "0", stimeString(started), ttyName(ttyNr),
			fmt.Sprintf("%02d:%02d:%02d", int(cpu.Hours()), int(cpu.Minutes())%60, int(cpu.Seconds())%60), cmd})
	}
	return out
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// bootTime is when the machine booted, from /proc/stat's btime.
func bootTime() time.Time {
	for _, l := range strings.Split(readFile("/proc/stat"), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
}

// stimeString formats a start time as ps does: HH:MM today, else Mon DD.
func stimeString(t time.Time) string {
	if time.Since(t) < 24*time.Hour {
		return t.Format("15:04")
	}
	return t.Format("Jan02")
}

// ttyName names a controlling terminal from stat's tty_nr.
func ttyName(nr int) string {
	if nr == 0 {
		return "?"
	}
	major, minor := (nr>>8)&0xfff, nr&0xff|(nr>>12)&0xfff00
	if major >= 136 && major <= 143 {
		return fmt.Sprintf("pts/%d", (major-136)*256+minor)
	}
	return fmt.Sprintf("%d:%d", major, minor)
}
