package run

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Stat holds the fields of a /proc/PID/stat line that the tools use.
type Stat struct {
	PID, Pgrp      int
	State          byte  // field 3: R, S, D, Z, ...
	Utime, Stime   int64 // fields 14 and 15, clock ticks
	Cutime, Cstime int64 // fields 16 and 17: children that were reaped
}

// ParseStat reads one /proc/PID/stat line. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so the fields are
// counted from the last ')'.
func ParseStat(s string) (Stat, error) {
	var st Stat
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return st, fmt.Errorf("malformed stat line %q", s)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return st, fmt.Errorf("malformed stat pid in %q", s)
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3
	if len(f) < 15 || len(f[0]) != 1 {
		return st, fmt.Errorf("short stat line %q", s)
	}
	field := func(n int) int64 {
		if err != nil {
			return 0
		}
		var v int64
		v, err = strconv.ParseInt(f[n-3], 10, 64)
		return v
	}
	st.PID, st.State = pid, f[0][0]
	st.Pgrp = int(field(5))
	st.Utime, st.Stime, st.Cutime, st.Cstime = field(14), field(15), field(16), field(17)
	if err != nil {
		return st, fmt.Errorf("malformed stat line %q: %v", s, err)
	}
	return st, nil
}

// ScanProcs calls fn with the stat of every process in /proc; processes
// that go away while being read are skipped.
func ScanProcs(fn func(Stat)) error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if n := e.Name(); n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if st, err := ParseStat(string(b)); err == nil {
			fn(st)
		}
	}
	return nil
}

// GroupAlive reports whether process group pgid has a process that is not
// a zombie (false when /proc cannot be read).
func GroupAlive(pgid int) bool {
	alive := false
	ScanProcs(func(st Stat) {
		if st.Pgrp == pgid && st.State != 'Z' {
			alive = true
		}
	})
	return alive
}
