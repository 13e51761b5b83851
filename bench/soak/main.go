// Command soak runs scgate for minutes under a mixed wrk load while it
// SIGKILLs and restarts the members of a balancer, samples the gateway
// every second, and checks that its memory, open fds and goroutines come
// back to their starting level and that no request failed that the gateway
// could have served.
//
//	go run ./bench/soak                   # 5 minutes, a member killed every 30 s (about 5½ minutes in all)
//	go run ./bench/soak -duration 30s     # the CI variant: kills at 10 s and 20 s (about 45 s)
//
// On Linux (it reads /proc), with wrk (installed with apt-get when missing
// and running as root). It builds scgate and bench/backend into a temporary
// directory and starts, each in a process group of its own on a loopback
// port outside the ephemeral range: two backends that are the members of
// balancer://two (/bal/, retry=1), a third backend that is never killed
// (/scgi-bin/ and the X-Sendfile path /sf/), and scgate from a config
// written there, with its status page (/scgate-status?json) on loopback.
//
// Phases: a few idle seconds, whose last sample is the baseline (with
// -warmup, the same load without kills and a settle period come first, and
// the baseline is taken after them); the load (-duration), during which
// every min(30s, duration/3) one member is SIGKILLed, the other staying up,
// and restarted on the same port a few seconds later, alternately; then a
// settle period with no load (-settle, longer than the gateway's
// KeepAliveTimeout, so idle client connections have been closed), whose
// last sample is the final one.
//
// The load is five wrk -t1 processes at once, one per path, 32 connections
// in all; their Lua script (soak.lua) counts every answer by status,
// checks every 2xx body byte for byte, and notes the second of each
// failure. What may fail, and why, is in check.go (workload): only
// requests to the balancer that the gateway could not send again, and only
// while a member is down.
//
// The gateway is sampled every second: VmRSS from /proc/PID/status, the
// entries of /proc/PID/fd, and from the status page its goroutines,
// connections, requests in flight and each member's requests and
// failures. The samples go to bench/results/soak-YYYYMMDD-HHMMSS.csv, a
// plot of them to .svg (copied to soak-latest.{csv,svg}). The exit status
// is 0 when every check passes, 1 otherwise, 2 for bad flags, 130 when
// interrupted. Everything started here is stopped on exit, on failure and
// on Ctrl-C (SIGTERM to each process group by its PID, SIGKILL 5 s later).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/scgate/scgate/bench/internal/run"
)

// keepAliveTimeout is the gateway's KeepAliveTimeout in the config written
// here; the settle period must be longer.
const keepAliveTimeout = 5 * time.Second

type options struct {
	duration time.Duration
	warmup   time.Duration
	settle   time.Duration
	results  string
	keep     bool
	args     []string
}

func main() {
	os.Exit(realMain(os.Args[1:]))
}

func logf(format string, args ...any) {
	run.Logf("soak", format, args...)
}

// realMain runs the soak and returns the exit status.
func realMain(args []string) int {
	opts, err := parseFlags(args)
	if err != nil {
		return run.FlagStatus("soak", err)
	}
	ctx, stop := run.SignalContext()
	defer stop()

	s := &soak{opts: opts, ctx: ctx}
	passed, err := s.run()
	interrupted := ctx.Err() != nil
	s.cleanup(err != nil || !passed)
	switch {
	case interrupted:
		logf("interrupted; everything started here is stopped")
		return 130
	case err != nil:
		fmt.Fprintln(os.Stderr, "soak: FAILED:", err)
		return 1
	case !passed:
		fmt.Fprintln(os.Stderr, "soak: FAILED: see the checks above")
		return 1
	}
	fmt.Fprintln(os.Stderr, "soak: PASSED")
	return 0
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 5*time.Minute, "how long the load runs (a member is killed every min(30s, duration/3))")
	fs.DurationVar(&o.warmup, "warmup", 0, "the same load, without kills, then a settle period, before the baseline is taken (0: the baseline is the idle gateway just started)")
	fs.DurationVar(&o.settle, "settle", keepAliveTimeout+5*time.Second, "idle time after a load before its sample counts (more than the gateway's KeepAliveTimeout, 5s)")
	fs.StringVar(&o.results, "results", "bench/results", "directory for soak-*.csv and soak-*.svg (relative to the repository root)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs, wrk outputs); it is always kept on failure")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/soak [flags]\n\nscgate under load for minutes, balancer members killed and restarted; RSS, fds and goroutines must come back (Linux, wrk).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.duration < 20*time.Second || o.duration > 24*time.Hour:
		return o, fmt.Errorf("-duration %v: want 20s (both members killed once) to 24h", o.duration)
	case o.warmup != 0 && (o.warmup < 2*time.Second || o.warmup > 10*time.Minute):
		return o, fmt.Errorf("-warmup %v: want 0 or 2s to 10m", o.warmup)
	case o.settle <= keepAliveTimeout || o.settle > 10*time.Minute:
		return o, fmt.Errorf("-settle %v: want more than the KeepAliveTimeout (%v), at most 10m", o.settle, keepAliveTimeout)
	case o.duration%time.Second != 0 || o.warmup%time.Second != 0:
		return o, errors.New("-duration and -warmup must be whole seconds (wrk -d)")
	}
	o.args = args
	return o, nil
}

// schedule is when members are killed: every interval from the start of
// the load, alternately m1 and m2, each down for down; a kill is left out
// when its member would be back less than 5 s before the load ends (too
// little to see it take requests again).
type schedule struct {
	interval, down time.Duration
	kills          []time.Duration // offsets from the start of the load
}

func killSchedule(duration time.Duration) schedule {
	iv := min(30*time.Second, duration/3).Truncate(time.Second)
	down := max(time.Second, min(5*time.Second, iv/3).Truncate(time.Second))
	sc := schedule{interval: iv, down: down}
	for at := iv; at+down+5*time.Second <= duration; at += iv {
		sc.kills = append(sc.kills, at)
	}
	return sc
}

func memberOf(kill int) string {
	if kill%2 == 0 {
		return "m1"
	}
	return "m2"
}
