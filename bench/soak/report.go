package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scgate/scgate/bench/internal/run"
)

// judge runs every check and prints them.
func (s *soak) judge() bool {
	var cs []check
	for _, phase := range []string{"warmup", "load"} {
		var ws []window
		if phase == "load" {
			ws = s.windows
		}
		for i, r := range s.results[phase] {
			cs = append(cs, checkPath(s.specs[i], r, ws, phase))
		}
	}
	samples := s.sm.all()
	cs = append(cs, checkSamples(samples, s.baseline, s.final)...)
	cs = append(cs, checkResources(s.baseline, s.final, peakRSS(samples), defaultLimits)...)
	cs = append(cs, check{Name: "members killed and restarted", OK: len(s.windows) == len(s.sched.kills),
		Detail: fmt.Sprintf("%d of %d scheduled kills done", len(s.windows), len(s.sched.kills))})
	urls := map[string]string{"m1": s.memberURL("m1"), "m2": s.memberURL("m2"), "fixed": s.memberURL("fixed")}
	cs = append(cs, checkMembers(samples, s.windows, urls, s.loadEnds, s.loadEnd)...)
	s.checks = cs
	passed := true
	for _, c := range cs {
		passed = passed && c.OK
	}
	return passed
}

// checkSamples wants the status page to have answered every sample, and
// the baseline and final samples to be complete.
func checkSamples(samples []sample, base, final sample) []check {
	var missing []string
	for _, s := range samples {
		if s.Err != "" {
			missing = append(missing, s.At.Format("15:04:05")+" "+s.Err)
		}
	}
	c := check{Name: "every sample complete (status page answered)", OK: len(missing) == 0 && base.Err == "" && final.Err == "",
		Detail: fmt.Sprintf("%d samples", len(samples))}
	if len(missing) > 0 {
		c.Detail += fmt.Sprintf(", %d incomplete: %s", len(missing), strings.Join(missing[:min(len(missing), 5)], "; "))
	}
	return []check{c}
}

func peakRSS(samples []sample) int64 {
	var p int64
	for _, s := range samples {
		p = max(p, s.RSSKiB)
	}
	return p
}

// totals adds up a phase's wrk results.
func totals(rs []pathResult) (sent, ok, failed int64) {
	for _, r := range rs {
		sent += r.Sent
		ok += r.ok2xx()
		failed += r.Answered - r.ok2xx() + r.LostEnd
	}
	return
}

// summary is the text printed at the end and shown under the plot.
func (s *soak) summary(passed bool) []string {
	var out []string
	verdict := "PASSED"
	if !passed {
		verdict = "FAILED"
	}
	samples := s.sm.all()
	out = append(out, fmt.Sprintf("soak %s: %s load, %d member kills (%s), settle %s, %s",
		verdict, s.opts.duration, len(s.windows), windowsText(s.windows, s.loadStart), s.opts.settle, s.wrkSummary()))
	row := func(what string, sm sample) string {
		return fmt.Sprintf("%-26s RSS %9s  fds %4d  goroutines %4d", what, fmtKiB(sm.RSSKiB), sm.FDs, sm.Goroutines)
	}
	out = append(out, row("idle, just started:", s.cold))
	if s.opts.warmup > 0 {
		out = append(out, row("baseline (after warm-up):", s.baseline))
	} else {
		out = append(out, row("baseline:", s.baseline))
	}
	var peak sample
	for _, sm := range samples {
		if sm.RSSKiB > peak.RSSKiB {
			peak = sm
		}
	}
	out = append(out, fmt.Sprintf("%-26s RSS %9s  (at %.0fs, %s)", "peak:", fmtKiB(peak.RSSKiB), peak.At.Sub(s.sm.start).Seconds(), peak.Phase))
	out = append(out, row("final (after settle):", s.final))
	sent, ok, failed := totals(s.results["load"])
	out = append(out, fmt.Sprintf("load: %d requests sent by wrk, %d answered 2xx with the right body, %d failed or lost (%.0f req/s); the gateway sent %d requests to backends in all",
		sent, ok, failed, float64(ok)/s.loadEnd.Sub(s.loadStart).Seconds(), s.final.Requests))
	for _, c := range s.checks {
		mark := "PASS"
		if !c.OK {
			mark = "FAIL"
		}
		out = append(out, fmt.Sprintf("%s %s: %s", mark, c.Name, c.Detail))
	}
	return out
}

func windowsText(ws []window, start time.Time) string {
	var parts []string
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("%s at %.0fs down %.1fs", w.Member, w.From.Sub(start).Seconds(), w.To.Sub(w.From).Seconds()))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// report prints the summary and writes the CSV and the SVG, with their
// soak-latest copies.
func (s *soak) report(passed bool) error {
	lines := s.summary(passed)
	fmt.Println()
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Println()
	if n := countLines(filepath.Join(s.tmp, "scgate-error.log")); n > 0 {
		logf("scgate wrote %d line(s) to its error log (LogLevel warn); the last ones:\n%s", n, run.Tail(filepath.Join(s.tmp, "scgate-error.log"), 3))
	}
	dir := s.opts.results
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.repo, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var csvBuf bytes.Buffer
	members := []csvMember{{"m1", s.memberURL("m1")}, {"m2", s.memberURL("m2")}, {"fixed", s.memberURL("fixed")}}
	if err := writeCSV(&csvBuf, s.sm.start, s.sm.all(), members); err != nil {
		return err
	}
	svg := plotSVG(s.sm.start, s.sm.all(), s.windows, s.baseline, defaultLimits, lines,
		fmt.Sprintf("%s, %s", s.started.Format("2006-01-02 15:04"), run.Machine()))
	stamp := "soak-" + s.started.Format("20060102-150405")
	for _, f := range []struct {
		name string
		data []byte
	}{{stamp + ".csv", csvBuf.Bytes()}, {stamp + ".svg", svg}, {"soak-latest.csv", csvBuf.Bytes()}, {"soak-latest.svg", svg}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	logf("results: %s/%s.{csv,svg} (copied to soak-latest.*); took %s", dir, stamp, time.Since(s.started).Round(time.Second))
	return nil
}

func countLines(path string) int {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return 0
	}
	return bytes.Count(data, []byte("\n"))
}

// series is one panel of the plot.
type series struct {
	title  string
	unit   string
	color  string
	values []float64 // NaN: no value
	base   float64   // the baseline (NaN: none)
	limLo  float64   // allowed band at the end (NaN: none)
	limHi  float64
}

// plotSVG draws RSS, open fds, goroutines and requests per second over
// time, one panel each, with the load phases shaded, member kills (red)
// and restarts (green) marked, the baseline dashed and the band the final
// value must end in; the summary lines go below.
func plotSVG(start time.Time, samples []sample, ws []window, base sample, lim limits, lines []string, subtitle string) []byte {
	const (
		width, left, right = 960, 70, 20
		top, panelH, gap   = 72, 120, 34
	)
	nan := math.NaN()
	ts := make([]float64, len(samples))
	rss := make([]float64, len(samples))
	fds := make([]float64, len(samples))
	gor := make([]float64, len(samples))
	rps := make([]float64, len(samples))
	for i, s := range samples {
		ts[i] = s.At.Sub(start).Seconds()
		rss[i], fds[i], gor[i], rps[i] = nan, nan, nan, nan
		if s.RSSKiB > 0 {
			rss[i] = float64(s.RSSKiB) / 1024
		}
		if s.FDs > 0 {
			fds[i] = float64(s.FDs)
		}
		if s.Goroutines > 0 {
			gor[i] = float64(s.Goroutines)
		}
		if i > 0 && s.Goroutines > 0 && samples[i-1].Goroutines > 0 && s.Requests >= samples[i-1].Requests {
			rps[i] = float64(s.Requests-samples[i-1].Requests) / s.At.Sub(samples[i-1].At).Seconds()
		}
	}
	baseRSS := float64(base.RSSKiB) / 1024
	panels := []series{
		{"RSS", "MiB", "#3465a4", rss, baseRSS, nan, baseRSS + float64(lim.RSSSlackKiB)/1024},
		{"open fds", "", "#c8553d", fds, float64(base.FDs), float64(base.FDs - lim.FDSlack), float64(base.FDs + lim.FDSlack)},
		{"goroutines", "", "#2a9d8f", gor, float64(base.Goroutines), float64(base.Goroutines - lim.GoroutineSlack), float64(base.Goroutines + lim.GoroutineSlack)},
		{"requests to backends per second", "/s", "#6a4c93", rps, nan, nan, nan},
	}
	plotH := len(panels) * (panelH + gap)
	nText := 0
	for _, l := range lines {
		nText += len(wrapText(l, wrapAt))
	}
	height := top + plotH + 16 + 14*nText + 10
	tMax := 1.0
	if len(ts) > 0 {
		tMax = math.Max(1, ts[len(ts)-1])
	}
	plotW := float64(width - left - right)
	xOf := func(t float64) float64 { return float64(left) + t/tMax*plotW }

	var w bytes.Buffer
	esc := html.EscapeString
	fmt.Fprintf(&w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(&w, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&w, `<text x="%d" y="24" font-size="16" font-weight="bold" fill="#222">%s</text>`+"\n", left,
		esc("scgate soak: RSS, open fds and goroutines over time"))
	fmt.Fprintf(&w, `<text x="%d" y="40" font-size="11" fill="#555">%s</text>`+"\n", left, esc(subtitle))
	fmt.Fprintf(&w, `<text x="%d" y="54" font-size="11" fill="#555">%s</text>`+"\n", left,
		esc("grey: load; red: a member SIGKILLed, green dashed: restarted; black dashed: baseline; shaded band: where the value must be after the settle period"))

	// The load phases, from the samples' phase.
	type span struct{ from, to float64 }
	var loads []span
	for i, s := range samples {
		if s.Phase != "load" && s.Phase != "warmup" {
			continue
		}
		if i > 0 && samples[i-1].Phase == s.Phase && len(loads) > 0 {
			loads[len(loads)-1].to = ts[i]
			continue
		}
		from := ts[i] - 1
		loads = append(loads, span{math.Max(0, from), ts[i]})
	}

	// The band of allowed final values spans the last settle period.
	settleFrom := tMax * 0.9
	for i := len(samples) - 1; i >= 0 && samples[i].Phase == "settle"; i-- {
		settleFrom = ts[i]
	}
	for pi, p := range panels {
		y0 := float64(top + pi*(panelH+gap))
		y1 := y0 + panelH
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range p.values {
			if !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		for _, v := range []float64{p.base, p.limLo, p.limHi} {
			if !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		if math.IsInf(lo, 0) {
			lo, hi = 0, 1
		}
		lo = math.Min(0, lo)
		hi = niceCeil(hi * 1.05)
		if hi <= lo {
			hi = lo + 1
		}
		yOf := func(v float64) float64 { return y1 - (v-lo)/(hi-lo)*panelH }
		for _, l := range loads {
			fmt.Fprintf(&w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="#eeeeee"/>`+"\n", xOf(l.from), y0, xOf(l.to)-xOf(l.from), panelH)
		}
		if !math.IsNaN(p.limLo) || !math.IsNaN(p.limHi) {
			blo, bhi := p.limLo, p.limHi
			if math.IsNaN(blo) {
				blo = lo
			}
			x := xOf(settleFrom)
			fmt.Fprintf(&w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.15"/>`+"\n",
				x, yOf(bhi)-1, float64(width-right)-x, math.Max(2, yOf(blo)-yOf(bhi)+2), p.color)
		}
		fmt.Fprintf(&w, `<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="none" stroke="#999"/>`+"\n", left, y0, plotW, panelH)
		for _, v := range []float64{lo, (lo + hi) / 2, hi} {
			fmt.Fprintf(&w, `<text x="%d" y="%.1f" font-size="10" text-anchor="end" fill="#555">%s</text>`+"\n", left-6, yOf(v)+3, fmtAxis(v))
		}
		title := p.title
		if p.unit != "" && p.unit != "/s" {
			title += " (" + p.unit + ")"
		}
		fmt.Fprintf(&w, `<text x="%d" y="%.1f" font-size="12" font-weight="bold" fill="%s">%s</text>`+"\n", left+6, y0+14, p.color, esc(title))
		if !math.IsNaN(p.base) {
			fmt.Fprintf(&w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#444" stroke-dasharray="4,3" stroke-width="1"/>`+"\n",
				left, yOf(p.base), width-right, yOf(p.base))
		}
		for _, win := range ws {
			xk, xr := xOf(win.From.Sub(start).Seconds()), xOf(win.To.Sub(start).Seconds())
			fmt.Fprintf(&w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-width="1.5"><title>%s</title></line>`+"\n",
				xk, y0, xk, y1, esc(fmt.Sprintf("SIGKILL %s (PID %d)", win.Member, win.PID)))
			fmt.Fprintf(&w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#2ca02c" stroke-width="1" stroke-dasharray="3,2"/>`+"\n", xr, y0, xr, y1)
			if pi == 0 {
				fmt.Fprintf(&w, `<text x="%.1f" y="%.1f" font-size="9" text-anchor="middle" fill="#d62728">%s</text>`+"\n", xk, y0-3, win.Member)
			}
		}
		var path strings.Builder
		pen := false
		for i, v := range p.values {
			if math.IsNaN(v) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f,%.1f ", cmd, xOf(ts[i]), yOf(v))
			pen = true
		}
		fmt.Fprintf(&w, `<path d="%s" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n", strings.TrimSpace(path.String()), p.color)
	}
	// Time axis under the last panel.
	yAxis := top + len(panels)*(panelH+gap) - gap + 14
	step := niceStep(tMax / 10)
	for t := 0.0; t <= tMax+1e-9; t += step {
		fmt.Fprintf(&w, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle" fill="#555">%s</text>`+"\n", xOf(t), yAxis, fmtAxis(t)+"s")
	}
	y := yAxis + 22
	for _, l := range lines {
		color := "#222"
		if strings.HasPrefix(l, "FAIL") {
			color = "#d62728"
		}
		for _, part := range wrapText(l, wrapAt) {
			fmt.Fprintf(&w, `<text x="%d" y="%d" font-size="10" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" fill="%s" xml:space="preserve" style="white-space:pre">%s</text>`+"\n",
				10, y, color, esc(part))
			y += 14
		}
	}
	fmt.Fprintf(&w, "</svg>\n")
	return w.Bytes()
}

// wrapAt is the width of the summary lines under the plot, in characters
// of a 10 px monospace font.
const wrapAt = 156

// wrapText breaks a line at spaces into pieces of at most n runes (a word
// longer than that stays whole); the pieces after the first are indented.
func wrapText(s string, n int) []string {
	var out []string
	cur := ""
	for _, word := range strings.Split(s, " ") {
		switch {
		case cur == "":
			cur = word
		case len([]rune(cur))+1+len([]rune(word)) <= n:
			cur += " " + word
		default:
			out = append(out, cur)
			cur = "    " + word
		}
	}
	return append(out, cur)
}

// niceStep rounds a step up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// niceCeil rounds x up to a multiple of a nice step.
func niceCeil(x float64) float64 {
	if x <= 0 {
		return 1
	}
	st := niceStep(x / 4)
	return math.Ceil(x/st) * st
}

func fmtAxis(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
