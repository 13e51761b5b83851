package codec

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStatusText(t *testing.T) {
	for code, want := range map[int]string{200: "OK", 404: "Not Found", 502: "Bad Gateway", 431: "Request Header Fields Too Large",
		299: "", -1: "", 1000: "", 0: ""} {
		if got := StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q, want %q", code, got, want)
		}
	}
	// Every code net/http names is in the table (phrases follow RFC 9110, so some differ).
	for code := 100; code < 600; code++ {
		if StatusText(code) == "" && http.StatusText(code) != "" {
			t.Errorf("%d missing (net/http: %q)", code, http.StatusText(code))
		}
	}
}

func TestIsHopByHop(t *testing.T) {
	for _, n := range []string{"Connection", "keep-alive", "PROXY-CONNECTION", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "status"} {
		if !IsHopByHop([]byte(n)) {
			t.Errorf("%s should be hop-by-hop", n)
		}
	}
	for _, n := range []string{"Content-Type", "Set-Cookie", "Location", "T", "Trailers", ""} {
		if IsHopByHop([]byte(n)) {
			t.Errorf("%s should not be hop-by-hop", n)
		}
	}
}

var testDate = []byte("Wed, 25 Nov 2026 19:00:00 GMT")

func TestAppendResponseHead(t *testing.T) {
	tests := []struct {
		name string
		h    ResponseHead
		want string
	}{
		{"content-length", ResponseHead{Minor: 1, Status: 200, ContentLength: 5,
			Headers: []Header{{[]byte("Content-Type"), []byte("text/plain")}, {[]byte("Connection"), []byte("x")},
				{[]byte("Set-Cookie"), []byte("a=1")}, {[]byte("Set-Cookie"), []byte("b=2")}, {[]byte("Date"), []byte("old")},
				{[]byte("Server"), []byte("backend")}, {[]byte("Content-Length"), []byte("99")}, {[]byte("X-Bad"), []byte("a\r\nInjected: 1")},
				{[]byte("Bad Name"), []byte("v")}}},
			"HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 19:00:00 GMT\r\nServer: scgate\r\nContent-Type: text/plain\r\n" +
				"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\n"},
		{"chunked", ResponseHead{Minor: 1, Status: 404, Reason: []byte("Nope"), ContentLength: 7, Chunked: true},
			"HTTP/1.1 404 Nope\r\nDate: Wed, 25 Nov 2026 19:00:00 GMT\r\nServer: scgate\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"close", ResponseHead{Status: 302, ContentLength: -1, Close: true, Headers: []Header{{[]byte("Location"), []byte("http://e/")}}},
			"HTTP/1.1 302 Found\r\nDate: Wed, 25 Nov 2026 19:00:00 GMT\r\nServer: scgate\r\nLocation: http://e/\r\nConnection: close\r\n\r\n"},
		{"keep-alive 1.0", ResponseHead{Status: 200, ContentLength: 0, KeepAlive: true},
			"HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 19:00:00 GMT\r\nServer: scgate\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"},
		{"unknown code", ResponseHead{Status: 299, ContentLength: -1},
			"HTTP/1.1 299 Unknown\r\nDate: Wed, 25 Nov 2026 19:00:00 GMT\r\nServer: scgate\r\n\r\n"},
		{"invalid code", ResponseHead{Status: 42, Reason: []byte("x"), ContentLength: -1},
			"HTTP/1.1 500 Internal Server Error\r\nDate: Wed, 25 Nov 2026 19:00:00 GMT\r\nServer: scgate\r\n\r\n"},
		{"reason with CRLF", ResponseHead{Status: 200, Reason: []byte("OK\r\nX: y"), ContentLength: -1},
			"HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 19:00:00 GMT\r\nServer: scgate\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendResponseHead([]byte("pre"), &tc.h, testDate, []byte("scgate"))
			if string(got) != "pre"+tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, "pre"+tc.want)
			}
			// net/http must read it back.
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got[3:])), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
}

func TestAppendErrorResponse(t *testing.T) {
	for _, status := range []int{400, 404, 414, 431, 502, 503, 505, 299, 7} {
		for _, close := range []bool{false, true} {
			out := AppendErrorResponse(nil, status, close, testDate, []byte("scgate"))
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
			if err != nil {
				t.Fatalf("%d: %v", status, err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("%d: %v", status, err)
			}
			want := status
			if status < 100 {
				want = 500
			}
			if resp.StatusCode != want || int64(len(body)) != resp.ContentLength || resp.Close != close ||
				!strings.Contains(string(body), "<title>") || resp.Header.Get("Content-Type") != "text/html; charset=iso-8859-1" {
				t.Errorf("%d: status %d len %d/%d close %v body %q", status, resp.StatusCode, len(body), resp.ContentLength, resp.Close, body)
			}
			if text := StatusText(want); text != "" && !strings.Contains(string(body), "<h1>"+text+"</h1>") {
				t.Errorf("%d: body %q", status, body)
			}
		}
	}
	want := "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n</body></html>\n"
	if out := AppendErrorResponse(nil, 404, false, nil, nil); !bytes.HasSuffix(out, []byte(want)) {
		t.Errorf("body shape: %q", out)
	}
}

func TestChunkWriterRoundTrip(t *testing.T) {
	for _, n := range []int{1, 9, 15, 16, 255, 4096, 1 << 20} {
		got := string(AppendChunkHeader(nil, n))
		if want := strings.ToLower(strings.TrimLeft(strings.ToUpper(hex(n)), "0")) + "\r\n"; got != want {
			t.Errorf("%d: %q want %q", n, got, want)
		}
	}
	if got := AppendChunkHeader([]byte("x"), 0); string(got) != "x" {
		t.Errorf("n=0: %q", got)
	}
	var d ChunkedDecoder
	body := chunkedBody(3, 300)
	out, n, done, err := d.Decode(nil, body)
	if err != nil || !done || n != len(body) || len(out) != 900 {
		t.Fatalf("round trip: %d %v %v", n, done, err)
	}
}

func hex(n int) string {
	const digits = "0123456789abcdef"
	s := ""
	for ; n > 0; n >>= 4 {
		s = string(digits[n&15]) + s
	}
	return s
}

func TestContinue100(t *testing.T) {
	if string(Continue100) != "HTTP/1.1 100 Continue\r\n\r\n" || string(LastChunk) != "0\r\n\r\n" {
		t.Fatal("constants")
	}
}

func TestDateCache(t *testing.T) {
	var d DateCache
	if got := d.Get(); len(got) != len(httpDateLayout) {
		t.Fatalf("zero value Get: %q", got)
	}
	d.Update(time.Date(2026, 11, 25, 20, 0, 0, 0, time.FixedZone("CET", 3600)))
	if got := string(d.Get()); got != "Wed, 25 Nov 2026 19:00:00 GMT" {
		t.Fatalf("Get = %q", got)
	}
	if got := string(d.Append([]byte("Date: "))); got != "Date: Wed, 25 Nov 2026 19:00:00 GMT" {
		t.Fatalf("Append = %q", got)
	}
	buf := make([]byte, 0, 64)
	if allocs := testing.AllocsPerRun(100, func() { buf = d.Append(buf[:0]) }); allocs != 0 {
		t.Fatalf("%v allocs per Append", allocs)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); d.Update(time.Now()) }()
		go func() {
			defer wg.Done()
			if len(d.Get()) != len(httpDateLayout) {
				t.Error("torn value")
			}
		}()
	}
	wg.Wait()
}

func typicalHead() *ResponseHead {
	return &ResponseHead{Minor: 1, Status: 200, ContentLength: 1234, Headers: []Header{
		{[]byte("Content-Type"), []byte("text/html; charset=utf-8")},
		{[]byte("Cache-Control"), []byte("no-cache")},
		{[]byte("Set-Cookie"), []byte("session=abc123; Path=/; HttpOnly")},
		{[]byte("X-Frame-Options"), []byte("DENY")},
	}}
}

func TestAppendResponseHeadAllocs(t *testing.T) {
	h := typicalHead()
	buf := make([]byte, 0, 1024)
	server := []byte("scgate")
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendResponseHead(buf[:0], h, testDate, server)
		buf = AppendErrorResponse(buf, 404, true, testDate, server)
		buf = AppendChunkHeader(buf, 4096)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per AppendResponseHead into a warm buffer", allocs)
	}
}

func BenchmarkAppendResponseHead(b *testing.B) {
	h := typicalHead()
	buf := make([]byte, 0, 1024)
	server := []byte("scgate")
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendResponseHead(buf[:0], h, testDate, server)
	}
}
