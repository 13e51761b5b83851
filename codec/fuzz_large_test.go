package codec

import (
	"strings"
	"testing"
)

// Inputs at and just past the size limits go through the fuzz targets' checks here rather
// than as seeds: the fuzzer spends up to -fuzzminimizetime (60 s) minimizing each new
// input that grew out of a seed of several KiB, which stalls a 20 s run.

func TestFuzzChecksRequestLimits(t *testing.T) {
	head := func(target string, fields ...string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: a\r\n" + strings.Join(fields, "") + "\r\n"
	}
	lineOf := func(n int) string { return "/" + strings.Repeat("a", n-len("GET / HTTP/1.1")) } // a request line of n bytes
	tests := []struct {
		name, in string
		status   int // 0: parses
	}{
		{"line at limit", head(lineOf(8190)), 0},
		{"line over limit", head(lineOf(8191)), 414},
		{"field at limit", head("/", "X: "+strings.Repeat("v", 8190-3)+"\r\n"), 0},
		{"field over limit", head("/", "X: "+strings.Repeat("v", 8191-3)+"\r\n"), 431},
		{"fields at limit", head("/", strings.Repeat("X: 1\r\n", 99)), 0},
		{"fields over limit", head("/", strings.Repeat("X: 1\r\n", 100)), 431},
		{"many cookies", head("/", strings.Repeat("Cookie: a=1\r\ncookie: b=2\r\n", 49)), 0},
	}
	for _, tc := range tests {
		var r Request
		if _, err := r.Parse([]byte(tc.in), nil); statusOf(err) != tc.status {
			t.Errorf("%s: %v, want status %d", tc.name, err, tc.status)
		}
		checkParseRequest(t, []byte(tc.in))
	}
}

func TestFuzzChecksChunkedLimits(t *testing.T) {
	tests := []struct {
		name, in string
		bad      bool
	}{
		{"size line at limit", "5;" + strings.Repeat("e", 4096-4) + "\r\nhello\r\n0\r\n\r\n", false},
		{"size line over limit", "5;" + strings.Repeat("e", 4096-3) + "\r\nhello\r\n0\r\n\r\n", true},
		{"trailer line at limit", "0\r\nT: " + strings.Repeat("t", 8190-3) + "\r\n\r\n", false},
		{"trailer line over limit", "0\r\nT: " + strings.Repeat("t", 8191-3) + "\r\n\r\n", true},
		{"trailers at limit", "0\r\n" + strings.Repeat("T: 1\r\n", 100) + "\r\n", false},
		{"trailers over limit", "0\r\n" + strings.Repeat("T: 1\r\n", 101) + "\r\n", true},
		{"many small chunks", strings.Repeat("1\r\na\r\n", 2000) + "0\r\n\r\n", false},
	}
	for _, tc := range tests {
		var d ChunkedDecoder
		_, _, done, err := d.Decode(nil, []byte(tc.in))
		if (err != nil) != tc.bad || done == tc.bad {
			t.Errorf("%s: done %v err %v", tc.name, done, err)
		}
		for _, split := range []int{0, 1, 4095, 4096, 8192, len(tc.in) - 1} {
			checkChunked(t, []byte(tc.in), split)
		}
	}
}

func TestFuzzChecksResponseLimits(t *testing.T) {
	var many strings.Builder
	many.WriteString("Status: 200 OK\r\nContent-Type: text/html\r\n")
	for i := range 150 {
		many.WriteString("X-Header-" + strings.Repeat("x", i%20) + ": value\r\n")
	}
	many.WriteString(strings.Repeat("Set-Cookie: c=v; Path=/; HttpOnly\r\n", 30) + "\r\nbody")
	tests := []struct {
		name, in string
		err      error
	}{
		{"head at limit", "X: " + strings.Repeat("v", MaxResponseHead-3-4) + "\r\n\r\nbody", nil},
		{"head over limit", "X: " + strings.Repeat("v", MaxResponseHead-3-3) + "\r\n\r\nbody", ErrMalformed},
		{"head over limit, LF only", "X: " + strings.Repeat("v", MaxResponseHead-3-1) + "\n\n", ErrMalformed},
		{"many headers", many.String(), nil},
	}
	for _, tc := range tests {
		var r Response
		if _, err := r.Parse([]byte(tc.in)); err != tc.err {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
		checkParseResponse(t, []byte(tc.in))
	}
}

func TestFuzzChecksSCGILarge(t *testing.T) {
	headers := strings.Repeat("X-Many: v\n", 97) + "Cookie: " + strings.Repeat("c", 8000)
	extra := strings.Repeat("E=1\nHTTP_X_MANY=spoof\n", 50) + "LONG=" + strings.Repeat("\x00", 1000)
	if !checkSCGIRoundTrip(t, "POST", "/scgi-bin/"+strings.Repeat("%41", 1500)+"?"+strings.Repeat("q", 2000), headers, extra, 1<<62, 10, scgiFuzzSplit) {
		t.Fatal("the parser refused the request")
	}
}
