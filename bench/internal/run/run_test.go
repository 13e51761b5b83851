package run

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Command names with spaces and parentheses, as /proc allows.
	line := "4242 (odd) name) S 1 4240 4240 0 -1 4194560 900 0 0 0 123 45 6 7 20 0 3 0 100 1000000 200 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := ParseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{PID: 4242, Pgrp: 4240, State: 'S', Utime: 123, Stime: 45, Cutime: 6, Cstime: 7}
	if st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	st, err = ParseStat("123 (a (b) c) Z 1 456 456 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0")
	if err != nil || st.PID != 123 || st.State != 'Z' || st.Pgrp != 456 {
		t.Errorf("nested parentheses: %+v, %v", st, err)
	}
	for _, bad := range []string{"12 (x) S 1 2", "", "12 x S", "x (y) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15",
		"12 (x) S 1 2 3 4 5 6 7 8 9 10 11 x 13 14 15"} {
		if _, err := ParseStat(bad); err == nil {
			t.Errorf("ParseStat(%q): no error", bad)
		}
	}
	// Our own process is in /proc, and its group is alive.
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	st, err = ParseStat(string(self))
	if err != nil || st.PID != os.Getpid() {
		t.Fatalf("/proc/self/stat: %+v, %v", st, err)
	}
	if !GroupAlive(st.Pgrp) {
		t.Errorf("GroupAlive(own group %d) = false", st.Pgrp)
	}
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := Tail(p, 2), "    two\n    three"; got != want {
		t.Errorf("Tail = %q, want %q", got, want)
	}
	if got, want := Tail(p, 5), "    one\n    two\n    three"; got != want {
		t.Errorf("Tail = %q, want %q", got, want)
	}
	if got := Tail(p+".missing", 2); !strings.HasPrefix(got, "    (no log: ") {
		t.Errorf("Tail of a missing file = %q", got)
	}
}

func TestCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R)   CPU @ 2.00GHz\n\nprocessor\t: 1\nmodel name\t: other\n"
	if got, want := cpuModel(info, "unknown CPU"), "Intel(R) Xeon(R) CPU @ 2.00GHz"; got != want {
		t.Errorf("cpuModel = %q, want %q", got, want)
	}
	if got := cpuModel("processor\t: 0\nCPU part\t: 0xd0c\n", "unknown CPU"); got != "unknown CPU" {
		t.Errorf("cpuModel without a model name = %q", got)
	}
	if m := Machine(); !strings.Contains(m, " cores, Linux ") {
		t.Errorf("Machine() = %q", m)
	}
}

func TestFindRepo(t *testing.T) {
	dir, err := FindRepo("x")
	if err != nil {
		t.Skipf("not in the repository: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bench", "internal", "run", "run.go")); err != nil {
		t.Errorf("FindRepo = %s: %v", dir, err)
	}
	t.Chdir(os.TempDir())
	if _, err := FindRepo("x"); err == nil || !strings.Contains(err.Error(), "go run ./bench/x from its root") {
		t.Errorf("outside the repository: %v", err)
	}
}

// needProc skips a test that starts processes where /proc or sh is missing.
func needProc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if LookPath("sh", nil) == "" || LookPath("sleep", nil) == "" {
		t.Skip("no sh or sleep")
	}
}

// TestSetStopAll starts a group of two processes and one whose leader has
// exited while its child lives on: StopAll stops both groups, and starts
// nothing after.
func TestSetStopAll(t *testing.T) {
	needProc(t)
	dir := t.TempDir()
	var ps Set
	pair, err := ps.Start("pair", filepath.Join(dir, "pair.log"), "", []string{"sh", "-c", "sleep 30 & sleep 30"})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := ps.Start("orphan", filepath.Join(dir, "orphan.log"), filepath.Join(dir, "orphan.out"),
		[]string{"sh", "-c", "echo out; echo err >&2; sleep 30 & exit 0"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-orphan.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the orphan's leader did not exit")
	}
	if orphan.Err() != nil || !GroupAlive(orphan.PID) {
		t.Fatalf("orphan: err %v, group alive %v; want nil, true", orphan.Err(), GroupAlive(orphan.PID))
	}
	if pair.Exited() {
		t.Fatalf("pair exited: %v", pair.Err())
	}
	var logged []string
	start := time.Now()
	ps.StopAll(func(format string, args ...any) { logged = append(logged, format) })
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("StopAll took %s: SIGTERM was not sent to every group", took)
	}
	if len(logged) > 0 {
		t.Errorf("StopAll logged %q", logged)
	}
	for _, p := range []*Proc{pair, orphan} {
		if !p.Exited() || GroupAlive(p.PID) {
			t.Errorf("%s: exited %v, group alive %v after StopAll", p.Name, p.Exited(), GroupAlive(p.PID))
		}
	}
	if pair.Err() == nil {
		t.Error("pair: no error from a process stopped by SIGTERM")
	}
	out, _ := os.ReadFile(filepath.Join(dir, "orphan.out"))
	log, _ := os.ReadFile(orphan.LogPath)
	if string(out) != "out\n" || string(log) != "err\n" {
		t.Errorf("stdout %q, log %q; want \"out\\n\", \"err\\n\"", out, log)
	}
	if _, err := ps.Start("late", filepath.Join(dir, "late.log"), "", []string{"sleep", "30"}); !errors.Is(err, ErrStopping) {
		t.Errorf("Start after StopAll: %v, want ErrStopping", err)
	}
}

func TestWaitListening(t *testing.T) {
	needProc(t)
	dir := t.TempDir()
	var ps Set
	defer ps.StopAll(t.Logf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	defer ln.Close()
	sleeper, err := ps.Start("sleeper", filepath.Join(dir, "sleeper.log"), "", []string{"sleep", "30"})
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitListening(context.Background(), sleeper, addr, 10*time.Millisecond); err != nil {
		t.Errorf("listening address: %v", err)
	}
	ln.Close()
	quitter, err := ps.Start("quitter", filepath.Join(dir, "quitter.log"), "", []string{"sh", "-c", "echo bye >&2; exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	err = WaitListening(context.Background(), quitter, addr, 10*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "quitter exited during start-up (exit status 3)") || !strings.Contains(err.Error(), "    bye") {
		t.Errorf("a process that exits: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WaitListening(ctx, sleeper, addr, 10*time.Millisecond); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
