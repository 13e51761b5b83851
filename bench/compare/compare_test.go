package main

import (
	"encoding/xml"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/bench/internal/run"
)

// The testdata files are real wrk 4.1.0 outputs (wrk -t1 --latency against
// scgate -demo): a plain run, one whose answers were all 404, one where
// every request timed out, and a 1 MiB answer.
func TestParseWrk(t *testing.T) {
	tests := []struct {
		file string
		want wrkResult
	}{
		{"wrk-hello.txt", wrkResult{ReqPerSec: 12451.83, Requests: 24971, Elapsed: 2010 * time.Millisecond,
			P50: 4890 * time.Microsecond, P99: 16610 * time.Microsecond}},
		{"wrk-non2xx.txt", wrkResult{ReqPerSec: 10325.39, Requests: 20689, Elapsed: 2 * time.Second,
			P50: 5630 * time.Microsecond, P99: 20320 * time.Microsecond, Non2xx: 20689}},
		{"wrk-timeout.txt", wrkResult{ReqPerSec: 3.99, Requests: 8, Elapsed: 2 * time.Second, SocketErrors: 8}},
		{"wrk-1m.txt", wrkResult{ReqPerSec: 785.98, Requests: 1585, Elapsed: 2020 * time.Millisecond,
			P50: 76630 * time.Microsecond, P99: 177210 * time.Microsecond}},
	}
	for _, tt := range tests {
		data, err := os.ReadFile("testdata/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseWrk(string(data))
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.file, got, tt.want)
		}
	}
}

func TestParseWrkIncomplete(t *testing.T) {
	data, err := os.ReadFile("testdata/wrk-hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Without --latency there is no distribution: an error, not zeros.
	noDist := strings.Replace(string(data), "Latency Distribution", "", 1)
	if _, err := parseWrk(noDist); err == nil || !strings.Contains(err.Error(), "--latency") {
		t.Errorf("no latency distribution: err = %v", err)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("wrk failure output parsed without error")
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"812.00us": 812 * time.Microsecond, "0.00us": 0, "1.23ms": 1230 * time.Microsecond,
		"2.01s": 2010 * time.Millisecond, "1.50m": 90 * time.Second, "1.00h": time.Hour,
	} {
		if got, err := parseWrkDuration(in); err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "12", "ms", "-1ms", "1.2xs"} {
		if _, err := parseWrkDuration(in); err == nil {
			t.Errorf("parseWrkDuration(%q): no error", in)
		}
	}
}

// Our own process is in /proc and in its own process group's sum.
func TestGroupCPUTicks(t *testing.T) {
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	st, err := run.ParseStat(string(self))
	if err != nil || st.PID != os.Getpid() {
		t.Fatalf("/proc/self/stat: %+v, %v", st, err)
	}
	if _, n, err := groupCPUTicks(st.Pgrp); err != nil || n < 1 {
		t.Errorf("groupCPUTicks(own group %d) = %d processes, %v", st.Pgrp, n, err)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
}

// The templates in bench/ hold only placeholders that fillTemplate knows.
func TestTemplates(t *testing.T) {
	if _, err := os.Stat("../../go.mod"); err != nil {
		t.Skip("not in the repository")
	}
	b := &bench{repo: "../..", tmp: "/tmp/x", backends: [2]int{4000, 4001}, sock: "/tmp/x/app.sock", files: "/tmp/x/files"}
	for _, p := range []string{"bench/apache/compare.conf", "bench/nginx/compare.conf", "bench/scgate/compare.conf"} {
		out, err := b.fillTemplate(p, 18080)
		if err != nil {
			t.Error(err)
			continue
		}
		if !strings.Contains(string(out), "127.0.0.1:18080") || !strings.Contains(string(out), "127.0.0.1:4001") {
			t.Errorf("%s: port or second backend not filled in", p)
		}
	}
}

// The chart is well-formed XML with one bar per scenario and target.
func TestSVG(t *testing.T) {
	b := &bench{opts: options{scenarios: []string{"hello", "balancer"}, targets: allTargets, rounds: 1, conns: 64, threads: 1, duration: 3 * time.Second}}
	sums := map[string]map[string]summary{
		"hello":    {"apache": {rps: 10000}, "nginx": {rps: 20000}, "scgate": {rps: 30000}},
		"balancer": {"apache": {rps: 900}, "nginx": {rps: 0}, "scgate": {rps: 1234.5}},
	}
	out := b.svg(sums)
	d := xml.NewDecoder(strings.NewReader(string(out)))
	bars := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("bad SVG: %v\n%s", err, out)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			for _, a := range se.Attr {
				if a.Name.Local == "width" && a.Value == "36" {
					bars++
				}
			}
		}
	}
	if bars != 6 {
		t.Errorf("%d bars, want 6", bars)
	}
	for _, label := range []string{"30.0k", "1.23k", "900"} {
		if !strings.Contains(string(out), ">"+label+"<") {
			t.Errorf("label %s missing", label)
		}
	}
}
