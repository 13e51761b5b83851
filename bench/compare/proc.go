package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a program started here in a process group of its own (its PID is
// the group's id), so that it and every child it forks (Apache's and nginx's
// workers) can be measured and stopped together.
type proc struct {
	name    string
	pgid    int
	logPath string
	done    chan struct{} // closed once the leader has exited and been reaped
	waitErr error         // set before done is closed
}

// exited reports whether the group leader has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// procSet is every process group started here, stopped by stopAll.
type procSet struct {
	mu   sync.Mutex
	list []*proc
}

// start runs argv with stdout and stderr appended to logPath, in a new
// process group.
func (ps *procSet) start(name, logPath string, argv []string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %v", name, err)
	}
	p := &proc{name: name, pgid: cmd.Process.Pid, logPath: logPath, done: make(chan struct{})}
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// stopAll sends SIGTERM to every process group started here (the last
// started first), gives them 5 s in all to go, then SIGKILLs what is left.
func (ps *procSet) stopAll(logf func(string, ...any)) {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		if groupAlive(list[i].pgid) {
			syscall.Kill(-list[i].pgid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := len(list) - 1; i >= 0; i-- {
		p := list[i]
		for groupAlive(p.pgid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if groupAlive(p.pgid) {
			logf("%s (process group %d) still running 5 s after SIGTERM: SIGKILL", p.name, p.pgid)
			syscall.Kill(-p.pgid, syscall.SIGKILL)
		}
	}
	for _, p := range list {
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			logf("%s (PID %d) not reaped 3 s after being stopped", p.name, p.pgid)
		}
		for end := time.Now().Add(2 * time.Second); groupAlive(p.pgid) && time.Now().Before(end); {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// procStat holds the fields of /proc/PID/stat used here.
type procStat struct {
	pid, pgrp      int
	state          byte
	utime, stime   int64 // fields 14 and 15, clock ticks
	cutime, cstime int64 // fields 16 and 17: reaped children
}

// parseStat reads one /proc/PID/stat line. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so the fields are
// counted from the last ')'.
func parseStat(s string) (procStat, error) {
	var st procStat
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
	st.pid, st.state = pid, f[0][0]
	st.pgrp = int(field(5))
	st.utime, st.stime, st.cutime, st.cstime = field(14), field(15), field(16), field(17)
	if err != nil {
		return st, fmt.Errorf("malformed stat line %q: %v", s, err)
	}
	return st, nil
}

// scanProcs calls fn for every process in /proc; processes that go away
// while being read are skipped.
func scanProcs(fn func(procStat)) error {
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
		if st, err := parseStat(string(b)); err == nil {
			fn(st)
		}
	}
	return nil
}

// groupCPUTicks is the CPU time, in clock ticks, of the live processes of
// process group pgid: utime+stime of each, plus cutime+cstime (children
// that exited and were reaped, so a worker that goes away during a run
// still counts through its parent).
func groupCPUTicks(pgid int) (ticks int64, n int, err error) {
	err = scanProcs(func(st procStat) {
		if st.pgrp == pgid && st.state != 'Z' {
			ticks += st.utime + st.stime + st.cutime + st.cstime
			n++
		}
	})
	return ticks, n, err
}

// groupAlive reports whether process group pgid has a process that is not
// a zombie.
func groupAlive(pgid int) bool {
	alive := false
	scanProcs(func(st procStat) {
		if st.pgrp == pgid && st.state != 'Z' {
			alive = true
		}
	})
	return alive
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
