package run

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a program started by a Set in a process group of its own: its
// PID is the group's ID, so that it and every child it forks (Apache's and
// nginx's workers) can be measured and stopped together. Everything is
// stopped by that PID (the group), never by name.
type Proc struct {
	Name    string // for messages
	PID     int    // the process's PID, also its process group's ID
	LogPath string // where its stderr (and its stdout, unless sent elsewhere) goes

	done    chan struct{} // closed once the process has exited and been reaped
	waitErr error         // set before done is closed
}

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited and been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended (exec.Cmd.Wait's error, nil for exit status
// 0); it is set once Done is closed.
func (p *Proc) Err() error { return p.waitErr }

// Set is every process started through it, stopped by StopAll. Once
// StopAll has begun it starts nothing more, so a start racing with Ctrl-C
// cannot leave a process behind. The zero Set is ready to use.
type Set struct {
	mu     sync.Mutex
	list   []*Proc
	closed bool
}

// ErrStopping is Start's error once StopAll has begun.
var ErrStopping = errors.New("stopping: no new process is started")

// Start runs argv in a new process group, with its stdout and stderr
// appended to logPath (stdout written to outPath instead when that is not
// "").
func (s *Set) Start(name, logPath, outPath string, argv []string) (*Proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrStopping
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	files := []*os.File{logFile}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if outPath != "" {
		out, err := os.Create(outPath)
		if err != nil {
			logFile.Close()
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
	p := &Proc{Name: name, PID: cmd.Process.Pid, LogPath: logPath, done: make(chan struct{})}
	s.list = append(s.list, p)
	go func() {
		p.waitErr = cmd.Wait()
		closeAll()
		close(p.done)
	}()
	return p, nil
}

// StopAll sends SIGTERM to the process group of every process started
// here whose leader has not been reaped or whose group still has a live
// process (the last started first), gives them 5 s in all to go, then
// SIGKILLs the groups that are left. It waits up to 3 s for each leader to
// be reaped and up to 2 s more for the rest of its group to go; logf notes
// what had to be killed or did not go.
func (s *Set) StopAll(logf func(string, ...any)) {
	s.mu.Lock()
	list := s.list
	s.list = nil
	s.closed = true
	s.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		if p := list[i]; !p.Exited() || GroupAlive(p.PID) {
			syscall.Kill(-p.PID, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := len(list) - 1; i >= 0; i-- {
		p := list[i]
		for GroupAlive(p.PID) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if GroupAlive(p.PID) {
			logf("%s (process group %d) still running 5 s after SIGTERM: SIGKILL", p.Name, p.PID)
			syscall.Kill(-p.PID, syscall.SIGKILL)
		}
	}
	for _, p := range list {
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			logf("%s (PID %d) not reaped 3 s after being stopped", p.Name, p.PID)
		}
		for end := time.Now().Add(2 * time.Second); GroupAlive(p.PID) && time.Now().Before(end); {
			time.Sleep(50 * time.Millisecond)
		}
	}
}
