package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/scgate/scgate/bench/internal/run"
)

// summary is one scenario on one target over the rounds: the medians.
type summary struct {
	rps      float64
	p50, p99 time.Duration
	cpu      float64 // µs of the gateway's CPU time per request
	errors   int64
	requests int64
}

func summarize(runs []runResult, clkTck int64) summary {
	var s summary
	var rps, p50, p99, cpu []float64
	for _, r := range runs {
		rps = append(rps, r.wrk.ReqPerSec)
		p50 = append(p50, float64(r.wrk.P50))
		p99 = append(p99, float64(r.wrk.P99))
		cpu = append(cpu, r.cpuPerReq(clkTck))
		s.errors += r.wrk.Errors()
		s.requests += r.wrk.Requests
	}
	s.rps, s.cpu = median(rps), median(cpu)
	s.p50, s.p99 = time.Duration(median(p50)), time.Duration(median(p99))
	return s
}

// median of the values (the mean of the middle two for an even count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func fmtMs(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// fmtRPS is a short req/s label for the chart: 789, 1.23k, 12.3k, 123k.
func fmtRPS(v float64) string {
	switch {
	case v >= 99950:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 9995:
		return fmt.Sprintf("%.1fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.2fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

func ratio(a, b float64) string {
	if b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// machine describes the host: CPU model, cores, kernel, architecture.
func machine() string {
	return fmt.Sprintf("%s (%s)", run.Machine(), runtime.GOARCH)
}

// version runs a program's version option and returns the line holding
// marker, after marker's prefix.
func version(argv []string, marker string) string {
	out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput() // wrk -v exits 1
	for _, line := range strings.Split(string(out), "\n") {
		if _, after, ok := strings.Cut(line, marker); ok {
			return strings.TrimSpace(marker + after)
		}
	}
	return "unknown"
}

// versions collects the versions of the software measured.
func (b *bench) versions() []string {
	var out []string
	for _, t := range b.opts.targets {
		switch t {
		case "apache":
			out = append(out, version([]string{b.bins["apache2"], "-v"}, "Apache/")+" event MPM")
		case "nginx":
			out = append(out, version([]string{b.bins["nginx"], "-v"}, "nginx/")+" (2 workers)")
		case "scgate":
			out = append(out, "scgate "+b.scgateRevision())
		}
	}
	wrk := version([]string{b.bins["wrk"], "-v"}, "wrk ")
	if i := strings.Index(wrk, " Copyright"); i > 0 {
		wrk = wrk[:i]
	}
	out = append(out, wrk, version([]string{b.bins["go"], "version"}, "go1"))
	return out
}

// scgateRevision is the commit the scgate binary was built from, as the Go
// toolchain stamped it, or else as git tells it (read-only commands, no
// optional locks); "+ local changes" when the tree had some.
func (b *bench) scgateRevision() string {
	rev, modified := "", false
	if out, err := exec.Command(b.bins["go"], "version", "-m", filepath.Join(b.tmp, "scgate")).Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "build" {
				if v, ok := strings.CutPrefix(f[1], "vcs.revision="); ok && len(v) >= 12 {
					rev = v[:12]
				}
				if f[1] == "vcs.modified=true" {
					modified = true
				}
			}
		}
	}
	if rev == "" { // built with -buildvcs=false (GOFLAGS)
		git := func(args ...string) ([]byte, error) {
			cmd := exec.Command("git", append([]string{"--no-optional-locks"}, args...)...)
			cmd.Dir = b.repo
			return cmd.Output()
		}
		out, err := git("rev-parse", "HEAD")
		v := strings.TrimSpace(string(out))
		if err != nil || len(v) < 12 {
			return "(revision unknown)"
		}
		rev = v[:12]
		_, err = git("diff", "--quiet", "HEAD", "--")
		modified = err != nil
	}
	if modified {
		rev += " + local changes"
	}
	return rev
}

var scenarioDesc = map[string]string{
	"hello":    "`GET /scgi-bin/hello`, a 14-byte answer from one TCP backend",
	"64k":      "`GET /scgi-bin/bytes?n=65536`, a 64 KiB answer",
	"post4k":   "`POST /scgi-bin/echo` with a 4096-byte body (wrk `-s post.lua`), echoed back",
	"balancer": "`GET /bal/hello` through a balancer of the two backends (round-robin / byrequests)",
	"sendfile": "`GET /sf/sendfile?...`: the backend names a 1 MiB file, the gateway sends it (Apache and scgate `ProxySCGISendfile On` with X-Sendfile; nginx X-Accel-Redirect to an `internal` location), sendfile on",
	"unix":     "`GET /unix/hello` to the first backend over its unix socket",
}

// commandLine is how the run was started.
func (b *bench) commandLine() string {
	parts := []string{"go run ./bench/compare"}
	for _, a := range b.opts.args {
		if a == "" || strings.ContainsAny(a, " \t'\"$`\\|&;<>()*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// markdown writes the report; svgName is the chart it embeds.
func (b *bench) markdown(sums map[string]map[string]summary, svgName string, took time.Duration) []byte {
	o := b.opts
	var w bytes.Buffer
	fmt.Fprintf(&w, "# scgate vs Apache mod_proxy_scgi vs nginx scgi_pass\n\n")
	fmt.Fprintf(&w, "- **Date:** %s (the run took %s)\n", b.started.Format("2006-01-02 15:04:05 MST"), took.Round(time.Second))
	fmt.Fprintf(&w, "- **Machine:** %s\n", machine())
	fmt.Fprintf(&w, "- **Software:** %s\n", strings.Join(b.versions(), ", "))
	warm := "no warm-up"
	if o.warmup > 0 {
		warm = fmt.Sprintf("an untimed %s warm-up per target and scenario before its first run", wrkSeconds(o.warmup))
	}
	fmt.Fprintf(&w, "- **wrk:** `wrk -t%d -c%d -d%s --latency URL` (post4k adds `-s post.lua`), %d round(s), the targets interleaved and their order rotated each round, %s; the table shows the medians of the rounds\n",
		o.threads, o.conns, wrkSeconds(o.duration), o.rounds, warm)
	fmt.Fprintf(&w, "- **Command:** `%s`\n", b.commandLine())
	fmt.Fprintf(&w, "- **Set-up:** every target on its own loopback port in front of the same backends (`bench/backend` on 127.0.0.1:%d with a unix socket, and 127.0.0.1:%d); keep-alive without a request cap, no access logs; configs: `bench/apache/compare.conf`, `bench/nginx/compare.conf`, `bench/scgate/compare.conf`\n\n",
		b.backends[0], b.backends[1])
	fmt.Fprintf(&w, "![req/s per scenario and target](%s)\n\n", svgName)

	hasScgate := slices.Contains(o.targets, "scgate") && len(o.targets) > 1
	fmt.Fprintf(&w, "| scenario | target | req/s | p50 | p99 | CPU/req | errors |")
	if hasScgate {
		fmt.Fprintf(&w, " scgate req/s ÷ target | scgate CPU/req ÷ target |")
	}
	fmt.Fprintf(&w, "\n|---|---|--:|--:|--:|--:|--:|")
	if hasScgate {
		fmt.Fprintf(&w, "--:|--:|")
	}
	fmt.Fprintln(&w)
	for _, s := range o.scenarios {
		for _, t := range o.targets {
			m := sums[s][t]
			fmt.Fprintf(&w, "| %s | %s | %.0f | %s | %s | %.1f µs | %d |", s, t, m.rps, fmtMs(m.p50), fmtMs(m.p99), m.cpu, m.errors)
			if hasScgate {
				if t == "scgate" {
					fmt.Fprintf(&w, " — | — |")
				} else {
					g := sums[s]["scgate"]
					fmt.Fprintf(&w, " %s | %s |", ratio(g.rps, m.rps), ratio(g.cpu, m.cpu))
				}
			}
			fmt.Fprintln(&w)
		}
	}
	fmt.Fprintf(&w, "\nScenarios:\n\n")
	for _, s := range o.scenarios {
		fmt.Fprintf(&w, "- **%s**: %s\n", s, scenarioDesc[s])
	}
	fmt.Fprintf(&w, "\nCPU/req is the CPU time (user + system) of the gateway's whole process group, "+
		"Apache's parent and workers, nginx's master and workers, scgate's one process, from /proc/PID/stat "+
		"(utime+stime, plus cutime+cstime of reaped children) before and after each timed run, divided by the "+
		"requests wrk completed in it; the backend's CPU is not in it. A req/s ratio above 1 means scgate served "+
		"more; a CPU/req ratio below 1 means it spent less CPU per request. errors: wrk's socket errors and "+
		"non-2xx answers over all rounds. wrk, the backends and the gateway share the machine's %d cores, "+
		"so absolute numbers depend on the machine and on whatever else runs on it.\n", runtime.NumCPU())
	return w.Bytes()
}

var targetColor = map[string]string{"apache": "#c8553d", "nginx": "#2a9d8f", "scgate": "#3465a4"}

// svg draws one group of bars per scenario, one bar per target, each
// scenario normalised to its fastest target, with req/s labels and a legend.
func (b *bench) svg(sums map[string]map[string]summary) []byte {
	o := b.opts
	const (
		barW, barGap, groupGap = 36, 5, 48
		left, right            = 24, 24
		top, chartH            = 112, 220
	)
	n := len(o.targets)
	groupW := n*barW + (n-1)*barGap
	width := left + len(o.scenarios)*(groupW+groupGap) - groupGap + right
	width = max(width, 640)
	showRatios := slices.Contains(o.targets, "scgate") && n > 1
	bottom := 34
	if showRatios {
		bottom += 13 * (n - 1)
	}
	height := top + chartH + bottom
	base := top + chartH
	var w bytes.Buffer
	esc := html.EscapeString
	text := func(x, y, size int, anchor, fill, s string) {
		fmt.Fprintf(&w, `<text x="%d" y="%d" font-size="%d" text-anchor="%s" fill="%s">%s</text>`+"\n", x, y, size, anchor, fill, esc(s))
	}
	fmt.Fprintf(&w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(&w, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&w, `<text x="%d" y="24" font-size="16" font-weight="bold" fill="#222">%s</text>`+"\n", left,
		esc("HTTP to SCGI: requests per second (higher is better)"))
	text(left, 44, 11, "start", "#555", fmt.Sprintf("%s, wrk -t%d -c%d -d%s, median of %d round(s)",
		b.started.Format("2006-01-02"), o.threads, o.conns, wrkSeconds(o.duration), o.rounds))
	text(left, 59, 11, "start", "#555", machine())
	text(left, 74, 11, "start", "#555", "bars scaled to the fastest target of each scenario; labels in req/s")
	// Legend.
	x := left
	for i, t := range o.targets {
		fmt.Fprintf(&w, `<rect x="%d" y="84" width="12" height="12" fill="%s"/>`, x, colorOf(t, i))
		text(x+16, 94, 12, "start", "#222", t)
		x += 16 + 8*len(t) + 22
	}
	// Baseline.
	fmt.Fprintf(&w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-width="1"/>`+"\n", left-6, base, width-right+6, base)
	for g, s := range o.scenarios {
		gx := left + g*(groupW+groupGap)
		peak := 0.0
		for _, t := range o.targets {
			peak = max(peak, sums[s][t].rps)
		}
		for i, t := range o.targets {
			v := sums[s][t].rps
			h := 0
			if peak > 0 && !math.IsNaN(v) {
				h = int(math.Round(v / peak * float64(chartH-18)))
			}
			bx := gx + i*(barW+barGap)
			fmt.Fprintf(&w, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
				bx, base-h, barW, h, colorOf(t, i), esc(fmt.Sprintf("%s %s: %.0f req/s", s, t, v)))
			text(bx+barW/2, base-h-4, 10, "middle", "#222", fmtRPS(v))
		}
		text(gx+groupW/2, base+20, 13, "middle", "#222", s)
		if showRatios {
			y := base + 20
			for _, t := range o.targets {
				if t != "scgate" {
					y += 13
					text(gx+groupW/2, y, 10, "middle", "#666", fmt.Sprintf("scgate %s %s", ratio(sums[s]["scgate"].rps, sums[s][t].rps), t))
				}
			}
		}
	}
	fmt.Fprintf(&w, "</svg>\n")
	return w.Bytes()
}

// errorLogWarnings shows what the gateways wrote to their error logs
// (LogLevel warn) during the run, which may explain odd numbers.
func (b *bench) errorLogWarnings() {
	for _, t := range b.targets {
		for _, p := range []string{t.proc.LogPath, filepath.Join(b.tmp, t.name+"-error.log")} {
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			var lines []string
			for _, l := range strings.Split(string(data), "\n") {
				// Apache's start-up and shutdown notices are not warnings.
				if strings.TrimSpace(l) != "" && !strings.Contains(l, ":notice]") {
					lines = append(lines, l)
				}
			}
			if len(lines) > 0 {
				logf("%s wrote %d line(s) to %s; the last ones:\n    %s", t.name, len(lines), p,
					strings.Join(lines[max(0, len(lines)-5):], "\n    "))
			}
		}
	}
}

func colorOf(t string, i int) string {
	if c, ok := targetColor[t]; ok {
		return c
	}
	return []string{"#888", "#e9c46a", "#6a4c93"}[i%3]
}

// report writes the Markdown and SVG results and their latest.* copies,
// and prints the table.
func (b *bench) report() error {
	took := time.Since(b.started)
	sums := map[string]map[string]summary{}
	for _, s := range b.opts.scenarios {
		sums[s] = map[string]summary{}
		for _, t := range b.opts.targets {
			sums[s][t] = summarize(b.results[s][t], b.clkTck)
		}
	}
	dir := b.opts.results
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(b.repo, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stamp := "compare-" + b.started.Format("20060102-150405")
	chart := b.svg(sums)
	files := []struct {
		name string
		data []byte
	}{
		{stamp + ".svg", chart},
		{stamp + ".md", b.markdown(sums, stamp+".svg", took)},
		{"latest.svg", chart},
		{"latest.md", b.markdown(sums, "latest.svg", took)},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	md := files[1].data
	if i := bytes.Index(md, []byte("| scenario |")); i >= 0 {
		table := md[i:]
		if j := bytes.Index(table, []byte("\n\n")); j >= 0 {
			table = table[:j+1]
		}
		fmt.Printf("\n%s\n", table)
	}
	for _, s := range b.opts.scenarios {
		for _, t := range b.opts.targets {
			if e := sums[s][t].errors; e > 0 {
				logf("WARNING: %s %s: %d errors (socket errors or non-2xx answers) over the rounds", s, t, e)
			}
		}
	}
	b.errorLogWarnings()
	logf("results: %s/%s.md, %s.svg (copied to latest.md, latest.svg); took %s",
		dir, stamp, stamp, took.Round(time.Second))
	return nil
}
