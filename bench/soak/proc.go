package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scgate/scgate/bench/internal/run"
)

// killMember sends SIGKILL to one process (a balancer member) and waits until it
// has been reaped.
func killMember(p *run.Proc) error {
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !p.Exited() {
		return fmt.Errorf("SIGKILL %s (PID %d): %v", p.Name, p.PID, err)
	}
	select {
	case <-p.Done():
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (PID %d) not reaped 5 s after SIGKILL", p.Name, p.PID)
	}
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
