// Command compare benchmarks scgate against Apache httpd 2.4
// (mod_proxy_scgi, event MPM) and nginx (scgi_pass), all three in front of
// the same instances of the sample SCGI backend (bench/backend), with wrk.
//
//	go run ./bench/compare            # full run: 6 scenarios, 3 rounds, wrk -d8s (about 8 minutes)
//	go run ./bench/compare -quick     # hello and balancer, 1 round, wrk -d3s
//
// On Debian, as root. It installs apache2, nginx and wrk with apt-get when
// missing, builds scgate and the backend into a temporary directory, starts
// the backends (127.0.0.1:4000 with a unix socket, and 127.0.0.1:4001; the
// next free ports when these are taken) and each gateway from its template
// (bench/apache/compare.conf, bench/nginx/compare.conf,
// bench/scgate/compare.conf) in the foreground, in a process group of its
// own, on a loopback port of its own. It checks that every target answers
// every scenario correctly, then runs wrk against each target in turn,
// interleaved and rotated over the rounds, and measures each gateway's CPU
// time (its whole process group, from /proc) per request. The Markdown
// table and SVG chart go to bench/results/compare-YYYYMMDD-HHMMSS.{md,svg},
// copied to bench/results/latest.{md,svg}. Everything started here is
// stopped on exit, on error and on Ctrl-C (SIGTERM to its process group,
// SIGKILL 5 s later).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/scgate/scgate/bench/internal/run"
)

var (
	allScenarios = []string{"hello", "64k", "post4k", "balancer", "sendfile", "unix"}
	allTargets   = []string{"apache", "nginx", "scgate"}
)

type options struct {
	quick     bool
	duration  time.Duration
	warmup    time.Duration
	rounds    int
	conns     int
	threads   int
	scenarios []string
	targets   []string
	results   string
	keep      bool
	args      []string // the command line's arguments, for the report
}

func main() {
	os.Exit(realMain(os.Args[1:]))
}

func logf(format string, args ...any) {
	run.Logf("compare", format, args...)
}

// realMain runs the benchmark and returns the exit status.
func realMain(args []string) int {
	opts, err := parseFlags(args)
	if err != nil {
		return run.FlagStatus("compare", err)
	}
	ctx, stop := run.SignalContext()
	defer stop()

	b := &bench{opts: opts, ctx: ctx}
	err = b.run()
	interrupted := ctx.Err() != nil
	b.cleanup(err != nil && !interrupted)
	if err != nil {
		if interrupted {
			logf("interrupted; everything started here is stopped")
			return 130
		}
		fmt.Fprintln(os.Stderr, "compare: FAILED:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "one round of hello and balancer, wrk -d3s (flags given as well still apply)")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "wrk -d of each timed run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "untimed wrk run per target and scenario before its first timed run (0: none)")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds (the median is reported)")
	fs.IntVar(&o.conns, "conns", 64, "wrk -c, connections")
	fs.IntVar(&o.threads, "threads", 1, "wrk -t, threads")
	scen := fs.String("scenarios", strings.Join(allScenarios, ","), "comma list of scenarios: "+strings.Join(allScenarios, ", "))
	targ := fs.String("targets", strings.Join(allTargets, ","), "comma list of targets: "+strings.Join(allTargets, ", "))
	fs.StringVar(&o.results, "results", "bench/results", "directory for the Markdown and SVG results (relative to the repository root)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs, wrk outputs); it is always kept on failure")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/compare [flags]\n\nscgate vs Apache mod_proxy_scgi vs nginx scgi_pass, with wrk (Debian, root).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["rounds"] {
			o.rounds = 1
		}
		if !set["duration"] {
			o.duration = 3 * time.Second
		}
		if !set["scenarios"] {
			*scen = "hello,balancer"
		}
	}
	var err error
	if o.scenarios, err = pickList("scenario", *scen, allScenarios); err != nil {
		return o, err
	}
	if o.targets, err = pickList("target", *targ, allTargets); err != nil {
		return o, err
	}
	switch {
	case o.rounds < 1 || o.rounds > 20:
		return o, fmt.Errorf("-rounds %d: want 1 to 20", o.rounds)
	case o.duration < time.Second || o.duration > 2*time.Minute:
		return o, fmt.Errorf("-duration %v: want 1s to 2m", o.duration)
	case o.warmup < 0 || o.warmup > 30*time.Second:
		return o, fmt.Errorf("-warmup %v: want 0 to 30s", o.warmup)
	case o.conns < 1 || o.conns > 1000:
		return o, fmt.Errorf("-conns %d: want 1 to 1000", o.conns)
	case o.threads < 1 || o.threads > o.conns:
		return o, fmt.Errorf("-threads %d: want 1 to -conns", o.threads)
	}
	if o.duration%time.Second != 0 || o.warmup%time.Second != 0 {
		return o, errors.New("-duration and -warmup must be whole seconds (wrk -d)")
	}
	o.args = args
	return o, nil
}

// pickList parses a comma list of names from all, keeping all's order.
func pickList(what, list string, all []string) ([]string, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.Contains(all, n) {
			return nil, fmt.Errorf("unknown %s %q (want %s)", what, n, strings.Join(all, ", "))
		}
		want[n] = true
	}
	var out []string
	for _, n := range all {
		if want[n] {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s given", what)
	}
	return out, nil
}

// estimate is how long the measurements take: the timed runs, the
// warm-ups, and about half a second around each wrk run.
func (o options) estimate() time.Duration {
	cells := time.Duration(len(o.scenarios) * len(o.targets))
	timed := cells * time.Duration(o.rounds) * (o.duration + 500*time.Millisecond)
	warm := time.Duration(0)
	if o.warmup > 0 {
		warm = cells * (o.warmup + 500*time.Millisecond)
	}
	return timed + warm
}
