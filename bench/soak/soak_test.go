package main

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/config"
)

// The soak itself runs as its own command (go run ./bench/soak -duration
// 30s); these tests cover its pure parts.

// The testdata files are real wrk 4.1.0 outputs with soak.lua: a POST run
// of the soak with 502s at two kills, a clean streamed run, and a run
// against the app's closemid route (every answer cut short, so every
// request is lost) that shows the Lua count of lost requests matching
// wrk's read errors.
func TestParseResultReal(t *testing.T) {
	tests := []struct {
		file string
		want pathResult
	}{
		{"wrk-post-502.out", pathResult{Name: "post", Sent: 73859, Answered: 73852, Status: 9, P50us: 3074, P99us: 10355,
			Statuses: map[int]int64{200: 73843, 502: 9},
			Fails:    []failure{{1795650111, "502", 3}, {1795650121, "502", 6}}}},
		{"wrk-stream.out", pathResult{Name: "stream", Sent: 9817, Answered: 9814, P50us: 10947, P99us: 36107,
			Statuses: map[int]int64{200: 9814}}},
		{"wrk-cut.out", pathResult{Name: "cut", Sent: 8153, Lost: 8149, LostEnd: 8149, Read: 8149, Statuses: map[int]int64{},
			Fails: []failure{{1795650162, "lost", 670}, {1795650163, "lost", 7384}, {1795650164, "lost", 95}}}},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseResult(string(data))
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if !sameResult(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.file, got, tt.want)
		}
	}
}

func sameResult(a, b pathResult) bool {
	if len(a.Statuses) != len(b.Statuses) || len(a.Fails) != len(b.Fails) {
		return false
	}
	for k, v := range a.Statuses {
		if b.Statuses[k] != v {
			return false
		}
	}
	for i := range a.Fails {
		if a.Fails[i] != b.Fails[i] {
			return false
		}
	}
	a.Statuses, b.Statuses, a.Fails, b.Fails = nil, nil, nil, nil
	return a.Name == b.Name && a.Sent == b.Sent && a.Answered == b.Answered && a.Lost == b.Lost &&
		a.LostEnd == b.LostEnd && a.BadBody == b.BadBody && a.Connect == b.Connect && a.Read == b.Read &&
		a.Write == b.Write && a.Status == b.Status && a.Timeout == b.Timeout && a.P50us == b.P50us && a.P99us == b.P99us
}

const goodLine = "soak-result name=x sent=10 answered=9 lost=0 lostend=0 badbody=0 connect=0 read=0 write=0 status=1 timeout=0 p50us=1 p99us=2 statuses=200:8,502:1 fails=100:502:1"

func TestParseResultErrors(t *testing.T) {
	if _, err := parseResult("Running 1s test\n" + goodLine + "\n"); err != nil {
		t.Fatalf("good line: %v", err)
	}
	bad := map[string]string{
		"no line":             "Running 1s test\nRequests/sec: 1\n",
		"two lines":           goodLine + "\n" + goodLine,
		"statuses add up":     strings.Replace(goodLine, "200:8", "200:7", 1),
		"more than sent":      strings.Replace(goodLine, "sent=10", "sent=8", 1),
		"lost over lostend":   strings.Replace(goodLine, "lost=0", "lost=1", 1),
		"missing key":         strings.Replace(goodLine, " badbody=0", "", 1),
		"unknown key":         goodLine + " extra=1",
		"twice":               goodLine + " sent=10",
		"not a number":        strings.Replace(goodLine, "sent=10", "sent=ten", 1),
		"negative":            strings.Replace(goodLine, "read=0", "read=-1", 1),
		"bad status":          strings.Replace(goodLine, "502:1 ", "5x2:1 ", 1),
		"bad fail":            strings.Replace(goodLine, "fails=100:502:1", "fails=100:1", 1),
		"zero count":          strings.Replace(goodLine, "fails=100:502:1", "fails=100:502:0", 1),
		"not key=value":       goodLine + " junk",
		"the Lua script died": "soak.lua: attempt to index a nil value\n",
	}
	for name, out := range bad {
		if _, err := parseResult(out); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func spec(name string) pathSpec {
	for _, p := range workload {
		if p.Name == name {
			return p
		}
	}
	panic(name)
}

func TestWorkload(t *testing.T) {
	conns := 0
	for _, p := range workload {
		conns += p.Conns
		if p.Why == "" || p.Desc == "" {
			t.Errorf("%s: no Why or Desc", p.Name)
		}
		if strings.HasPrefix(p.Path, "/bal/") != (len(p.AllowStatus) > 0 || p.AllowLost || p.Name == "hello") {
			t.Errorf("%s: only balancer paths may be allowed to fail", p.Name)
		}
	}
	if conns != 32 {
		t.Errorf("%d connections in all, want 32", conns)
	}
}

func TestCheckPath(t *testing.T) {
	kill := time.Unix(1000, 500e6) // SIGKILL at 1000.5, member back at 1003.2
	ws := []window{{Member: "m1", From: kill, To: time.Unix(1003, 200e6)}}
	clean := func() pathResult {
		return pathResult{Sent: 100, Answered: 98, Statuses: map[int]int64{200: 98}}
	}
	with := func(f func(*pathResult)) pathResult {
		r := clean()
		f(&r)
		return r
	}
	fail := func(sec int64, kind string, n int64) func(*pathResult) {
		return func(r *pathResult) {
			r.Fails = append(r.Fails, failure{sec, kind, n})
			switch kind {
			case "lost":
				r.Lost += n
				r.LostEnd += n
				r.Read += n
			case "badbody":
				r.BadBody += n
			default:
				r.Statuses[502] += n
				r.Statuses[200] -= n
			}
		}
	}
	tests := []struct {
		name string
		path string
		r    pathResult
		ok   bool
	}{
		{"clean", "hello", clean(), true},
		{"post 502 at the kill", "post", with(fail(1000, "502", 3)), true},
		{"post 503 while down", "post", with(fail(1002, "503", 1)), true},
		{"post 502 the second after restart", "post", with(fail(1004, "502", 1)), true},
		{"post 502 two seconds after restart", "post", with(fail(1005, "502", 1)), false},
		{"post 502 the second before the kill", "post", with(fail(999, "502", 1)), false},
		{"post 500 at the kill", "post", with(fail(1000, "500", 1)), false},
		{"post cut at the kill", "post", with(fail(1000, "lost", 1)), false},
		{"hello 502 at the kill", "hello", with(fail(1000, "502", 1)), false},
		{"hello lost at the kill", "hello", with(fail(1000, "lost", 1)), false},
		{"64k cut at the kill", "64k", with(fail(1001, "lost", 2)), true},
		{"64k 502 at the kill", "64k", with(fail(1001, "502", 1)), true},
		{"64k cut with no member down", "64k", with(fail(1010, "lost", 1)), false},
		{"stream 502 at the kill", "stream", with(fail(1000, "502", 1)), false},
		{"sendfile lost at the kill", "sendfile", with(fail(1000, "lost", 1)), false},
		{"a wrong body, even at the kill", "64k", with(fail(1000, "badbody", 1)), false},
		{"lost at an unknown time", "64k", with(func(r *pathResult) { r.LostEnd = 1; r.Read = 1 }), false},
		{"connect errors", "hello", with(func(r *pathResult) { r.Connect = 1 }), false},
		{"timeouts", "hello", with(func(r *pathResult) { r.Timeout = 1 }), false},
		{"more socket errors than lost requests", "hello", with(func(r *pathResult) { r.Read = 1 }), false},
		{"no answer at all", "hello", pathResult{Sent: 5, Statuses: map[int]int64{}}, false},
	}
	for _, tt := range tests {
		c := checkPath(spec(tt.path), tt.r, ws, "load")
		if c.OK != tt.ok {
			t.Errorf("%s: ok=%v, want %v (%s)", tt.name, c.OK, tt.ok, c.Detail)
		}
	}
	// Without kill windows (the warm-up) nothing may fail anywhere.
	if c := checkPath(spec("post"), with(fail(1000, "502", 1)), nil, "warmup"); c.OK {
		t.Errorf("a 502 with no member killed passed: %s", c.Detail)
	}
}

func TestCheckResources(t *testing.T) {
	base := sample{RSSKiB: 9000, FDs: 16, Goroutines: 11, Connections: 1, InFlight: 1}
	tests := []struct {
		name  string
		final sample
		fail  string // the check that fails, "" for none
	}{
		{"same", base, ""},
		{"RSS up 20 MiB", sample{RSSKiB: 9000 + 20<<10, FDs: 16, Goroutines: 11}, ""},
		{"RSS up 20 MiB + 1 KiB", sample{RSSKiB: 9001 + 20<<10, FDs: 16, Goroutines: 11}, "RSS back near baseline"},
		{"one fd more", sample{RSSKiB: 9000, FDs: 17, Goroutines: 11}, "open fds back to baseline"},
		{"one fd less", sample{RSSKiB: 9000, FDs: 15, Goroutines: 11}, "open fds back to baseline"},
		{"goroutines +1", sample{RSSKiB: 9000, FDs: 16, Goroutines: 12}, ""},
		{"goroutines -1", sample{RSSKiB: 9000, FDs: 16, Goroutines: 10}, ""},
		{"goroutines +2", sample{RSSKiB: 9000, FDs: 16, Goroutines: 13}, "goroutines back to baseline"},
		{"goroutines -2", sample{RSSKiB: 9000, FDs: 16, Goroutines: 9}, "goroutines back to baseline"},
		{"no status", sample{RSSKiB: 9000, FDs: 16}, "goroutines back to baseline"},
		{"a client still connected", sample{RSSKiB: 9000, FDs: 16, Goroutines: 11, Connections: 2}, "gateway idle at the end"},
		{"a request in flight", sample{RSSKiB: 9000, FDs: 16, Goroutines: 11, InFlight: 2}, "gateway idle at the end"},
	}
	for _, tt := range tests {
		for _, c := range checkResources(base, tt.final, 40000, defaultLimits) {
			if want := c.Name != tt.fail; c.OK != want {
				t.Errorf("%s: %s ok=%v, want %v (%s)", tt.name, c.Name, c.OK, want, c.Detail)
			}
		}
	}
}

func TestWindowCovers(t *testing.T) {
	w := window{From: time.Unix(100, 900e6), To: time.Unix(103, 100e6)}
	for sec, want := range map[int64]bool{99: false, 100: true, 102: true, 103: true, 104: true, 105: false} {
		if got := w.covers(sec); got != want {
			t.Errorf("covers(%d) = %v, want %v", sec, got, want)
		}
	}
}

func TestKillSchedule(t *testing.T) {
	every30s := func(n int) []time.Duration {
		var out []time.Duration
		for i := 1; i <= n; i++ {
			out = append(out, time.Duration(i)*30*time.Second)
		}
		return out
	}
	tests := []struct {
		d        time.Duration
		interval time.Duration
		down     time.Duration
		kills    []time.Duration
	}{
		{30 * time.Second, 10 * time.Second, 3 * time.Second, []time.Duration{10 * time.Second, 20 * time.Second}},
		{20 * time.Second, 6 * time.Second, 2 * time.Second, []time.Duration{6 * time.Second, 12 * time.Second}},
		{5 * time.Minute, 30 * time.Second, 5 * time.Second, every30s(9)},
		{100 * time.Second, 30 * time.Second, 5 * time.Second, every30s(3)},
		{99 * time.Second, 30 * time.Second, 5 * time.Second, every30s(2)},
	}
	for _, tt := range tests {
		sc := killSchedule(tt.d)
		if sc.interval != tt.interval || sc.down != tt.down || !equalDurations(sc.kills, tt.kills) {
			t.Errorf("killSchedule(%v) = %+v, want interval %v, down %v, kills %v", tt.d, sc, tt.interval, tt.down, tt.kills)
		}
	}
	if memberOf(0) != "m1" || memberOf(1) != "m2" || memberOf(2) != "m1" {
		t.Error("kills do not alternate m1, m2, m1")
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-duration", "30s"})
	if err != nil || o.duration != 30*time.Second || o.warmup != 0 || o.settle <= keepAliveTimeout {
		t.Errorf("-duration 30s: %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-duration", "19s"}, {"-duration", "30500ms"}, {"-settle", "5s"}, {"-warmup", "1s"}, {"extra"}} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

const statusDoc = `{"in_flight":1,"connections":1,"refused":0,"goroutines":11,"balancers":[
 {"name":"/scgi-bin/","lbmethod":"byrequests","members":[{"url":"scgi://127.0.0.1:4100/","state":"ok","requests":7,"failures":0}]},
 {"name":"/sf/","lbmethod":"byrequests","members":[{"url":"scgi://127.0.0.1:4100/","state":"ok","requests":3,"failures":1}]},
 {"name":"two","lbmethod":"byrequests","members":[{"url":"scgi://127.0.0.1:4101/","state":"error","requests":50,"failures":4},
   {"url":"scgi://127.0.0.1:4102/","state":"ok","requests":60,"failures":0}]}]}`

func TestParseStatus(t *testing.T) {
	var s sample
	if err := parseStatus([]byte(statusDoc), &s); err != nil {
		t.Fatal(err)
	}
	if s.Goroutines != 11 || s.Requests != 120 || s.Connections != 1 || s.InFlight != 1 {
		t.Errorf("sample %+v", s)
	}
	fixed := s.Members["scgi://127.0.0.1:4100/"]
	if fixed.Requests != 10 || fixed.Failures != 1 || fixed.State != "ok" {
		t.Errorf("the fixed backend, summed over its two mappings: %+v", fixed)
	}
	if m := s.Members["scgi://127.0.0.1:4101/"]; m.State != "error" || m.Failures != 4 {
		t.Errorf("m1: %+v", m)
	}
	if err := parseStatus([]byte(`{"in_flight":0,"balancers":[]}`), &s); err == nil {
		t.Error("a status page without goroutines parsed")
	}
	if err := parseStatus([]byte(`<html>`), &s); err == nil {
		t.Error("HTML parsed as the status JSON")
	}
}

func TestParseVmRSS(t *testing.T) {
	st := "Name:\tscgate\nVmPeak:\t 1000 kB\nVmRSS:\t    9012 kB\nRssAnon:\t 100 kB\n"
	if v, err := parseVmRSS(st); err != nil || v != 9012 {
		t.Errorf("parseVmRSS = %d, %v", v, err)
	}
	if _, err := parseVmRSS("Name:\tzombie\nState:\tZ (zombie)\n"); err == nil {
		t.Error("no VmRSS line parsed")
	}
}

// samplesForMembers is a run of 1 s samples with m1 and the fixed backend.
func samplesForMembers(t0 time.Time, m1Req, m1Fail, fixedFail []uint64) []sample {
	var out []sample
	for i := range m1Req {
		out = append(out, sample{At: t0.Add(time.Duration(i) * time.Second), Goroutines: 10, Members: map[string]memberStat{
			"u1": {Requests: m1Req[i], Failures: m1Fail[i]},
			"uf": {Requests: uint64(i), Failures: fixedFail[i]},
		}})
	}
	return out
}

func TestCheckMembers(t *testing.T) {
	t0 := time.Unix(1000, 0)
	urls := map[string]string{"m1": "u1", "fixed": "uf"}
	ws := []window{{Member: "m1", From: t0.Add(2500 * time.Millisecond), To: t0.Add(4500 * time.Millisecond)}}
	end := t0.Add(8500 * time.Millisecond)
	ok := func(cs []check) string {
		var bad []string
		for _, c := range cs {
			if !c.OK {
				bad = append(bad, c.Name)
			}
		}
		return strings.Join(bad, "; ")
	}
	// m1 fails while down (2.5 s to 4.5 s) and comes back; fixed fails as the load ends.
	good := samplesForMembers(t0,
		[]uint64{0, 10, 20, 21, 21, 21, 30, 40, 50, 50},
		[]uint64{0, 0, 0, 3, 5, 5, 5, 5, 5, 5},
		[]uint64{0, 0, 0, 0, 0, 0, 0, 0, 0, 2})
	if bad := ok(checkMembers(good, ws, urls, []time.Time{end}, end)); bad != "" {
		t.Errorf("good run failed: %s", bad)
	}
	// m1 never takes a request after its restart.
	stuck := samplesForMembers(t0,
		[]uint64{0, 10, 20, 21, 21, 21, 21, 21, 21, 21},
		[]uint64{0, 0, 0, 3, 5, 5, 5, 5, 5, 5},
		[]uint64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if bad := ok(checkMembers(stuck, ws, urls, []time.Time{end}, end)); !strings.Contains(bad, "m1 back after its restart") {
		t.Errorf("a member that never came back passed: %q", bad)
	}
	// The sample taken just before the kill read the status page just after
	// it: its failures count as the kill's.
	late := samplesForMembers(t0,
		[]uint64{0, 10, 20, 21, 21, 21, 30, 40, 50, 50},
		[]uint64{0, 0, 2, 3, 5, 5, 5, 5, 5, 5},
		[]uint64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if bad := ok(checkMembers(late, ws, urls, []time.Time{end}, end)); !strings.Contains(bad, "m1: the gateway counted") {
		t.Errorf("failures read before the kill passed: %q", bad)
	}
	late[2].StatusAt = ws[0].From.Add(5 * time.Millisecond)
	if bad := ok(checkMembers(late, ws, urls, []time.Time{end}, end)); bad != "" {
		t.Errorf("failures read just after the kill failed: %s", bad)
	}
	// m1 fails at 6-7 s, with nothing killed then; fixed fails mid-load.
	blamed := samplesForMembers(t0,
		[]uint64{0, 10, 20, 21, 21, 21, 30, 40, 50, 50},
		[]uint64{0, 0, 0, 3, 5, 5, 5, 6, 6, 6},
		[]uint64{0, 0, 1, 1, 1, 1, 1, 1, 1, 1})
	bad := ok(checkMembers(blamed, ws, urls, []time.Time{end}, end))
	if !strings.Contains(bad, "m1: the gateway counted") || !strings.Contains(bad, "fixed: the gateway counted") {
		t.Errorf("failures outside the windows passed: %q", bad)
	}
}

func TestWriteCSV(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	samples := []sample{
		{At: t0, Phase: "idle", RSSKiB: 9000, FDs: 16, Goroutines: 11, Requests: 5, Connections: 1, InFlight: 1,
			Members: map[string]memberStat{"u1": {State: "ok", Requests: 2}}},
		{At: t0.Add(1500 * time.Millisecond), Phase: "load", RSSKiB: 14000, FDs: 70, Events: []string{"kill m1 (PID 7) at 1.2s", "load, x"},
			Err: "status: refused"},
	}
	var b bytes.Buffer
	if err := writeCSV(&b, t0, samples, []csvMember{{"m1", "u1"}, {"m2", "u2"}}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"t_s", "unix_ms", "phase", "rss_kib", "fds", "goroutines", "requests", "connections", "in_flight",
			"m1_requests", "m1_failures", "m1_state", "m2_requests", "m2_failures", "m2_state", "events", "error"},
		{"0.000", "1700000000000", "idle", "9000", "16", "11", "5", "1", "1", "2", "0", "ok", "", "", "", "", ""},
		{"1.500", "1700000001500", "load", "14000", "70", "0", "0", "0", "0", "", "", "", "", "", "",
			"kill m1 (PID 7) at 1.2s; load, x", "status: refused"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%q", len(rows), len(want), rows)
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d:\n got %q\nwant %q", i, rows[i], want[i])
		}
	}
}

func TestPlotSVG(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var samples []sample
	for i := range 20 {
		ph := "idle"
		switch {
		case i >= 3 && i < 14:
			ph = "load"
		case i >= 14:
			ph = "settle"
		}
		s := sample{At: t0.Add(time.Duration(i) * time.Second), Phase: ph, RSSKiB: 9000 + int64(i)*100, FDs: 16 + i%3,
			Goroutines: 11, Requests: uint64(i * 1000)}
		if i == 7 {
			s.Goroutines, s.Err = 0, "status: timeout" // a gap in the lines
		}
		samples = append(samples, s)
	}
	ws := []window{{Member: "m1", PID: 42, From: t0.Add(6 * time.Second), To: t0.Add(9 * time.Second)}}
	lines := []string{"soak PASSED: <&> " + strings.Repeat("long ", 60), "FAIL something"}
	svg := plotSVG(t0, samples, ws, samples[2], defaultLimits, lines, "test")
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
	}
	for _, want := range []string{"SIGKILL m1 (PID 42)", "open fds", "goroutines", "&lt;&amp;&gt;", `fill="#d62728"`} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	for _, l := range wrapText(lines[0], wrapAt) {
		if n := len([]rune(l)); n > wrapAt {
			t.Errorf("wrapped line of %d runes", n)
		}
	}
}

// TestGatewayConf has scgate's own config parser read the config the soak
// writes.
func TestGatewayConf(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "scgate.conf")
	text := gatewayConf(dir, map[string]int{"scgate": 18090, "m1": 4101, "m2": 4102, "fixed": 4100})
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.ParseFile(path); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	for _, want := range []string{"BalancerMember scgi://127.0.0.1:4101/ retry=1", "BalancerMember scgi://127.0.0.1:4102/ retry=1",
		"ProxyPass /scgi-bin/ scgi://127.0.0.1:4100/", "KeepAliveTimeout 5", "SetHandler scgate-status"} {
		if !strings.Contains(text, want) {
			t.Errorf("config lacks %q", want)
		}
	}
}
