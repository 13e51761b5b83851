package main

import (
	"os/exec"
	"strconv"
	"strings"

	"github.com/scgate/scgate/bench/internal/run"
)

// groupCPUTicks is the CPU time, in clock ticks, of the live processes of
// process group pgid: utime+stime of each, plus cutime+cstime (children
// that exited and were reaped, so a worker that goes away during a run
// still counts through its parent).
func groupCPUTicks(pgid int) (ticks int64, n int, err error) {
	err = run.ScanProcs(func(st run.Stat) {
		if st.Pgrp == pgid && st.State != 'Z' {
			ticks += st.Utime + st.Stime + st.Cutime + st.Cstime
			n++
		}
	})
	return ticks, n, err
}

// clockTicks is the kernel's USER_HZ (`getconf CLK_TCK`), 100 when unknown.
func clockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}
