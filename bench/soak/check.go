package main

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pathSpec is one path of the workload, run by its own wrk -t1 process.
type pathSpec struct {
	Name      string
	Method    string
	Path      string // URL path and query
	BodyBytes int    // request body (POST), 0 for none
	Conns     int    // wrk -c
	Desc      string
	// What may fail, and only inside a kill window (a member down), because
	// the gateway cannot send the request again; Why says why.
	AllowStatus []int
	AllowLost   bool
	Why         string
}

// The workload: 32 connections in all. /bal/ goes to the two balancer
// members, which are killed in turn; /scgi-bin/ and /sf/ go to a third
// backend that is never killed, so nothing on them may fail.
var workload = []pathSpec{
	{Name: "hello", Method: "GET", Path: "/bal/hello", Conns: 8,
		Desc: "GET /bal/hello, 14 bytes, balancer",
		Why: "nothing may fail: a request whose member dies before answering is sent again to the other member " +
			"(GET may be repeated), and the app writes this answer in one 84-byte write(2), so it never arrives cut in two"},
	{Name: "64k", Method: "GET", Path: "/bal/bytes?n=65536", Conns: 6,
		Desc:        "GET /bal/bytes?n=65536, 64 KiB, balancer",
		AllowStatus: []int{502}, AllowLost: true,
		Why: "the app writes the head, then the 64 KiB body in a second write: a member killed in between leaves an answer " +
			"already begun, which the gateway does not send again (it resends only when nothing came back); it answers 502 " +
			"when the head has not reached the client yet, else cuts the client connection (a lost request). Only in a kill window"},
	{Name: "stream", Method: "GET", Path: "/scgi-bin/bytes?n=1048576&cl=0", Conns: 4,
		Desc: "GET /scgi-bin/bytes?n=1048576&cl=0, 1 MiB streamed without Content-Length (chunked to the client), fixed backend",
		Why:  "nothing may fail: its backend is never killed"},
	{Name: "post", Method: "POST", Path: "/bal/sha256", BodyBytes: 16384, Conns: 8,
		Desc:        "POST /bal/sha256 with a 16 KiB body, balancer",
		AllowStatus: []int{502, 503},
		Why: "a POST is never sent twice: 502 when its member died after the request went out (connection closed before " +
			"any answer), 503 when its body had been written into a connect that was then refused (the bytes are gone). " +
			"The app reads the whole body and answers in one write, so no cut answers. Only in a kill window"},
	{Name: "sendfile", Method: "GET", Path: "/sf/sendfile?path=", Conns: 6,
		Desc: "GET /sf/sendfile?path=FILE, the app answers X-Sendfile, the gateway sends the 256 KiB file, fixed backend",
		Why:  "nothing may fail: its backend is never killed"},
}

// window is the time a balancer member is down: from its SIGKILL until its
// replacement listens on the same port.
type window struct {
	Member   string // "m1" or "m2"
	PID      int    // the killed process
	From, To time.Time
}

// windowSlack is how long after To a failure still counts as in the
// window: the second after the member listens again (os.time() has whole
// seconds, and a request may be failing over at that moment).
const windowSlack = time.Second

// covers reports whether a failure noted in second sec (os.time(), which
// truncates) may have happened while the member was down.
func (w window) covers(sec int64) bool {
	return sec >= w.From.Unix() && sec <= w.To.Add(windowSlack).Unix()
}

func inAnyWindow(ws []window, sec int64) bool {
	for _, w := range ws {
		if w.covers(sec) {
			return true
		}
	}
	return false
}

// check is one pass/fail line of the summary.
type check struct {
	Name   string
	OK     bool
	Detail string
}

// checkPath judges one path's wrk result against what it may lose.
func checkPath(p pathSpec, r pathResult, ws []window, phase string) check {
	c := check{Name: fmt.Sprintf("%s: %s", phase, p.Name), OK: true}
	var bad, allowed []string
	var nAllowed int64
	for _, f := range r.Fails {
		ok := false
		switch f.Kind {
		case "badbody":
		case "lost":
			ok = p.AllowLost && inAnyWindow(ws, f.Unix)
		default:
			st, err := strconv.Atoi(f.Kind)
			ok = err == nil && slices.Contains(p.AllowStatus, st) && inAnyWindow(ws, f.Unix)
		}
		desc := fmt.Sprintf("%d %s at %s", f.Count, f.Kind, time.Unix(f.Unix, 0).Format("15:04:05"))
		if ok {
			allowed = append(allowed, desc)
			nAllowed += f.Count
		} else {
			bad = append(bad, desc)
		}
	}
	if r.LostEnd > r.Lost {
		bad = append(bad, fmt.Sprintf("%d lost at the end, at an unknown time", r.LostEnd-r.Lost))
	}
	if r.Connect > 0 {
		bad = append(bad, fmt.Sprintf("%d connect errors (the gateway refused connections)", r.Connect))
	}
	if r.Timeout > 0 {
		bad = append(bad, fmt.Sprintf("%d answers slower than wrk's --timeout", r.Timeout))
	}
	if r.Read+r.Write > r.LostEnd {
		bad = append(bad, fmt.Sprintf("wrk counted %d read/write errors but only %d requests went unanswered",
			r.Read+r.Write, r.LostEnd))
	}
	if r.ok2xx() == 0 {
		bad = append(bad, "no 2xx answer at all")
	}
	c.Detail = fmt.Sprintf("%d sent, %d answered 2xx (%s), p50 %s, p99 %s", r.Sent, r.ok2xx(), fmtStatuses(r.Statuses),
		fmtUs(r.P50us), fmtUs(r.P99us))
	if len(allowed) > 0 {
		c.Detail += fmt.Sprintf("; %d allowed failure(s) in kill windows: %s", nAllowed, strings.Join(allowed, ", "))
	}
	if len(bad) > 0 {
		c.OK = false
		c.Detail += "; NOT ALLOWED: " + strings.Join(bad, ", ")
	}
	return c
}

func fmtStatuses(m map[int]int64) string {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", m[k], k))
	}
	if len(parts) == 0 {
		return "no answers"
	}
	return strings.Join(parts, " ")
}

func fmtUs(us int64) string {
	return fmt.Sprintf("%.2f ms", float64(us)/1000)
}

// limits are the margins within which the gateway must come back to its
// baseline after the settle period.
type limits struct {
	RSSSlackKiB    int64 // final RSS <= baseline + this
	GoroutineSlack int   // |final - baseline| <= this
	FDSlack        int   // |final - baseline| <= this (0: exactly)
}

// defaultLimits, and why:
//   - fds exactly: an idle gateway holds its listeners, epoll and event fds
//     and log files, nothing else; every client and SCGI connection, file
//     sent and duplicated socket must be closed once the clients are gone
//     (the settle period outlasts KeepAliveTimeout). One fd leaked per
//     kill, per sendfile or per client connection shows.
//   - goroutines ±1: idle, the gateway runs a fixed set (11 here, the same
//     before and after every run so far); one more that a library starts
//     lazily on first use is tolerated, two are not, so a goroutine leaked
//     per kill fails even the 30 s run (two kills).
//   - RSS <= baseline + 20 MiB: the first load grows the Go heap and the
//     buffers to their working size (about +5 MiB here), which an idle
//     process keeps: no allocation, so no GC cycle, and the scavenger only
//     returns what lies above the heap goal. 20 MiB is four times that, and
//     small against any leak per request: about 80 bytes per request over
//     the 30 s run's ~250k requests, 8 bytes over 5 minutes' ~2.8M.
var defaultLimits = limits{RSSSlackKiB: 20 << 10, GoroutineSlack: 1, FDSlack: 0}

// checkResources compares the final sample with the baseline.
func checkResources(base, final sample, peakRSS int64, lim limits) []check {
	var out []check
	fd := check{Name: "open fds back to baseline", OK: abs(final.FDs-base.FDs) <= lim.FDSlack,
		Detail: fmt.Sprintf("baseline %d, final %d (allowed: ±%d)", base.FDs, final.FDs, lim.FDSlack)}
	gr := check{Name: "goroutines back to baseline", OK: base.Goroutines > 0 && final.Goroutines > 0 &&
		abs(final.Goroutines-base.Goroutines) <= lim.GoroutineSlack,
		Detail: fmt.Sprintf("baseline %d, final %d (allowed: ±%d)", base.Goroutines, final.Goroutines, lim.GoroutineSlack)}
	rss := check{Name: "RSS back near baseline", OK: base.RSSKiB > 0 && final.RSSKiB > 0 && final.RSSKiB <= base.RSSKiB+lim.RSSSlackKiB,
		Detail: fmt.Sprintf("baseline %s, final %s, peak %s (allowed: final <= baseline + %s)",
			fmtKiB(base.RSSKiB), fmtKiB(final.RSSKiB), fmtKiB(peakRSS), fmtKiB(lim.RSSSlackKiB))}
	idle := check{Name: "gateway idle at the end", OK: final.InFlight <= 1 && final.Connections <= 1,
		Detail: fmt.Sprintf("%d request(s) in flight, %d client connection(s): the status request itself, at most", final.InFlight, final.Connections)}
	return append(out, fd, gr, rss, idle)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func fmtKiB(k int64) string {
	return fmt.Sprintf("%.1f MiB", float64(k)/1024)
}

// checkMembers uses the gateway's own counters (the status page, sampled
// every second): each restarted member took requests again before its
// next kill or the end of the load (retry=1 brings it back), and no
// member's failure count grew outside that member's kill windows, except
// around the end of a load phase, when wrk drops the requests it has in
// flight and the gateway counts each as its member's failure.
func checkMembers(samples []sample, ws []window, urls map[string]string, loadEnds []time.Time, loadEnd time.Time) []check {
	var out []check
	at := func(s sample, member string) (memberStat, bool) {
		m, ok := s.Members[urls[member]]
		return m, ok && s.Goroutines > 0
	}
	for i, w := range ws {
		until := loadEnd
		for _, w2 := range ws[i+1:] {
			if w2.Member == w.Member {
				until = w2.From
				break
			}
		}
		var first, last *memberStat
		for _, s := range samples {
			if s.At.Before(w.To) || s.At.After(until) {
				continue
			}
			if m, ok := at(s, w.Member); ok {
				if first == nil {
					first = &m
				}
				last = &m
			}
		}
		c := check{Name: fmt.Sprintf("%s back after its restart at %s", w.Member, w.To.Format("15:04:05"))}
		switch {
		case first == nil:
			c.Detail = "no status sample after the restart"
		case last.Requests > first.Requests:
			c.OK = true
			c.Detail = fmt.Sprintf("it took %d requests until %s", last.Requests-first.Requests, until.Format("15:04:05"))
		default:
			c.Detail = fmt.Sprintf("its request count stayed at %d until %s", first.Requests, until.Format("15:04:05"))
		}
		out = append(out, c)
	}
	names := make([]string, 0, len(urls))
	for n := range urls {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		var own []window
		for _, w := range ws {
			if w.Member == name {
				own = append(own, w)
			}
		}
		excused := func(from, to time.Time) bool {
			for _, w := range own {
				if !to.Before(w.From) && !from.After(w.To.Add(windowSlack)) {
					return true
				}
			}
			for _, e := range loadEnds {
				if !to.Before(e.Add(-time.Second)) && !from.After(e.Add(2*time.Second)) {
					return true
				}
			}
			return false
		}
		var prev *sample
		var total uint64
		var bad []string
		for i := range samples {
			s := &samples[i]
			m, ok := at(*s, name)
			if !ok {
				continue
			}
			if prev != nil {
				// The counters of a sample were read between its At and
				// its StatusAt: the failures added since the previous
				// sample happened after prev.At and by s.StatusAt.
				to := s.StatusAt
				if to.IsZero() {
					to = s.At
				}
				pm := prev.Members[urls[name]]
				if m.Failures > pm.Failures {
					total += m.Failures - pm.Failures
					if !excused(prev.At, to) {
						bad = append(bad, fmt.Sprintf("+%d between %s and %s", m.Failures-pm.Failures,
							prev.At.Format("15:04:05.000"), to.Format("15:04:05.000")))
					}
				}
			}
			prev = s
		}
		c := check{Name: fmt.Sprintf("%s: the gateway counted failures only while it was down or as a load ended", name), OK: len(bad) == 0,
			Detail: fmt.Sprintf("%d failure(s) counted by the gateway", total)}
		if len(bad) > 0 {
			c.Detail += "; at other times: " + strings.Join(bad, ", ")
		}
		out = append(out, c)
	}
	return out
}
