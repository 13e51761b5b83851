package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a program started here in a process group of its own; its PID is
// the group's id. Everything is stopped by that PID (the group), never by
// name.
type proc struct {
	name    string
	pid     int
	logPath string
	done    chan struct{} // closed once the process has exited and been reaped
	waitErr error         // set before done is closed
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// procSet is every process started here, stopped by stopAll. Once stopAll
// has begun it starts nothing more, so a member restart racing with Ctrl-C
// cannot leave a process behind.
type procSet struct {
	mu     sync.Mutex
	list   []*proc
	closed bool
}

var errStopping = errors.New("stopping: no new process is started")

// start runs argv with stdout and stderr appended to logPath (stdout to
// outPath instead when it is not ""), in a new process group.
func (ps *procSet) start(name, logPath, outPath string, argv []string) (*proc, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil, errStopping
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	files := []*os.File{logf}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if outPath != "" {
		out, err := os.Create(outPath)
		if err != nil {
			logf.Close()
			return nil, err
		}
		files = append(files, out)
		cmd.Stdout = out
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("start %s: %v", name, err)
	}
	p := &proc{name: name, pid: cmd.Process.Pid, logPath: logPath, done: make(chan struct{})}
	ps.list = append(ps.list, p)
	go func() {
		p.waitErr = cmd.Wait()
		closeAll()
		close(p.done)
	}()
	return p, nil
}

// kill sends SIGKILL to one process (a balancer member) and waits until it
// has been reaped.
func (p *proc) kill() error {
	if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil && !p.exited() {
		return fmt.Errorf("SIGKILL %s (PID %d): %v", p.name, p.pid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (PID %d) not reaped 5 s after SIGKILL", p.name, p.pid)
	}
}

// stopAll sends SIGTERM to the process group of every process started here
// that is still running (the last started first), gives them 5 s in all,
// then SIGKILLs what is left, and waits until each is reaped.
func (ps *procSet) stopAll(logf func(string, ...any)) {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.closed = true
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		if p := list[i]; !p.exited() {
			syscall.Kill(-p.pid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := len(list) - 1; i >= 0; i-- {
		p := list[i]
		for groupAlive(p.pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if groupAlive(p.pid) {
			logf("%s (process group %d) still running 5 s after SIGTERM: SIGKILL", p.name, p.pid)
			syscall.Kill(-p.pid, syscall.SIGKILL)
		}
	}
	for _, p := range list {
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			logf("%s (PID %d) not reaped 3 s after being stopped", p.name, p.pid)
		}
	}
}

// groupAlive reports whether process group pgid has a process that is not
// a zombie.
func groupAlive(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		n := e.Name()
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		if st, pg, ok := statStateGroup(string(b)); ok && pg == pgid && st != 'Z' {
			return true
		}
	}
	return false
}

// statStateGroup reads the state (field 3) and process group (field 5) of
// a /proc/PID/stat line; the command name (field 2) may hold spaces and
// parentheses, so the fields are counted from the last ')'.
func statStateGroup(s string) (state byte, pgrp int, ok bool) {
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pg, err := strconv.Atoi(f[2])
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], pg, true
}

// vmRSS is the resident set size of a process in KiB, from the VmRSS line
// of /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

func parseVmRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("malformed VmRSS line %q", line)
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, errors.New("no VmRSS line (a zombie?)")
}

// openFDs counts the entries of /proc/PID/fd.
func openFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}
