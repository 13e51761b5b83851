// Package run holds what the benchmark tools bench/compare and bench/soak
// share to set up a run: logging and signal handling, finding the
// repository and the programs, installing missing ones with apt-get,
// building scgate and the sample backend, starting programs in process
// groups of their own and stopping them again (proc.go), reading /proc
// (procfs.go), and describing the machine.
package run

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Logf writes one line to stderr: the tool's name, the time of day and the
// message.
func Logf(tool, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s: %s\n", tool, time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// FlagStatus is the exit status for an error from parsing a tool's flags:
// 0 for -h (flag.ErrHelp; the flag package has printed the usage), else 2,
// after printing "tool: err" to stderr.
func FlagStatus(tool string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(os.Stderr, tool+":", err)
	return 2
}

// SignalContext returns a context that is cancelled on SIGINT (Ctrl-C),
// SIGTERM or SIGHUP, and the function that stops listening for them.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}

// FindRepo returns the repository root: the working directory or one of its
// parents holding scgate's go.mod. tool names the command in the error
// ("compare" for go run ./bench/compare).
func FindRepo(tool string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/scgate/scgate\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside the scgate repository (run go run ./bench/%s from its root)", dir, tool)
		}
	}
}

// LookPath finds a program in PATH or else in the first of dirs (say, the
// sbin directories that a non-login root shell may lack in its PATH)
// holding an executable file of that name; "" when there is none.
func LookPath(name string, dirs []string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// AptInstall installs Debian packages non-interactively (apt-get update,
// then install without recommends), with apt-get's output on stderr. It
// needs root.
func AptInstall(ctx context.Context, logf func(string, ...any), pkgs ...string) error {
	logf("installing %s with apt-get", strings.Join(pkgs, " "))
	install := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)
	for _, args := range [][]string{{"update", "-qq"}, install} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %v", strings.Join(args, " "), err)
		}
	}
	return nil
}

// Binary is a program of the module to build: its file name and its
// package, relative to the repository root.
type Binary struct {
	Name, Pkg string
}

// The binaries the tools build.
var (
	Scgate  = Binary{Name: "scgate", Pkg: "."}
	Backend = Binary{Name: "backend", Pkg: "./bench/backend"}
)

// Build compiles each binary with goBin, in the repository at repo, to
// dir/NAME, noting each build with logf.
func Build(ctx context.Context, logf func(string, ...any), goBin, repo, dir string, bins ...Binary) error {
	for _, b := range bins {
		logf("go build -o %s/%s %s", dir, b.Name, b.Pkg)
		cmd := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(dir, b.Name), b.Pkg)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.Pkg, err, out)
		}
	}
	return nil
}

// WaitListening waits up to 15 s, trying every poll, until addr
// (host:port) accepts a TCP connection. It fails early when p exits (with
// the end of its log) or ctx ends.
func WaitListening(ctx context.Context, p *Proc, addr string, poll time.Duration) error {
	for end := time.Now().Add(15 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited during start-up (%v):\n%s", p.Name, p.Err(), Tail(p.LogPath, 15))
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s does not listen on %s after 15 s:\n%s", p.Name, addr, Tail(p.LogPath, 15))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(poll)
	}
}

// Tail returns the last n lines of a log file, each indented by four
// spaces, or a note saying why there is none.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "    (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// Cleanup stops every process of ps, then removes the temporary directory
// tmp (when there is one) unless keep is set, in which case it says where
// the files are.
func Cleanup(ps *Set, tmp string, keep bool, logf func(string, ...any)) {
	ps.StopAll(logf)
	if tmp == "" {
		return
	}
	if keep {
		logf("temporary files kept in %s", tmp)
		return
	}
	os.RemoveAll(tmp)
}

// Machine describes the host: "MODEL, N cores, Linux RELEASE", from
// /proc/cpuinfo and /proc/sys/kernel/osrelease ("unknown" for what cannot
// be read).
func Machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		model = cpuModel(string(data), model)
	}
	kernel := "unknown"
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(data))
	}
	return fmt.Sprintf("%s, %d cores, Linux %s", model, runtime.NumCPU(), kernel)
}

// cpuModel is the first "model name" of a /proc/cpuinfo text, its spaces
// folded, or def when there is none.
func cpuModel(cpuinfo, def string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return def
}
