package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func TestParseRequestValid(t *testing.T) {
	tests := []struct {
		name, in                  string
		method, target, path, qry string
		hasQuery                  bool
		minor                     int
		host                      string
		cl                        int64
		chunked, keep, expect     bool
		headers                   int
	}{
		{name: "simple", in: "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			method: "GET", target: "/", path: "/", minor: 1, host: "a", cl: -1, keep: true, headers: 1},
		{name: "query", in: "GET /p/q?x=1&y HTTP/1.1\r\nHost: a\r\n\r\n",
			method: "GET", target: "/p/q?x=1&y", path: "/p/q", qry: "x=1&y", hasQuery: true, minor: 1, host: "a", cl: -1, keep: true, headers: 1},
		{name: "empty query", in: "GET /p? HTTP/1.1\r\nHost: a\r\n\r\n",
			method: "GET", target: "/p?", path: "/p", hasQuery: true, minor: 1, host: "a", cl: -1, keep: true, headers: 1},
		{name: "second ? in query", in: "GET /p?a?b HTTP/1.1\r\nHost: a\r\n\r\n",
			method: "GET", target: "/p?a?b", path: "/p", qry: "a?b", hasQuery: true, minor: 1, host: "a", cl: -1, keep: true, headers: 1},
		{name: "LF only", in: "GET / HTTP/1.1\nHost: a\n\n",
			method: "GET", target: "/", path: "/", minor: 1, host: "a", cl: -1, keep: true, headers: 1},
		{name: "leading blank lines", in: "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
			method: "GET", target: "/", path: "/", minor: 1, host: "a", cl: -1, keep: true, headers: 1},
		{name: "http10 no host", in: "GET /x HTTP/1.0\r\n\r\n",
			method: "GET", target: "/x", path: "/x", cl: -1},
		{name: "http10 keep-alive", in: "GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			method: "GET", target: "/x", path: "/x", cl: -1, keep: true, headers: 1},
		{name: "http10 keep-alive in list", in: "GET /x HTTP/1.0\r\nConnection: foo , keep-alive\r\n\r\n",
			method: "GET", target: "/x", path: "/x", cl: -1, keep: true, headers: 1},
		{name: "http10 expect ignored", in: "POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
			method: "POST", target: "/x", path: "/x", cl: 1, headers: 2},
		{name: "http10 keep-alive and close", in: "GET /x HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
			method: "GET", target: "/x", path: "/x", cl: -1, headers: 1},
		{name: "http11 close", in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n",
			method: "GET", target: "/", path: "/", minor: 1, host: "a", cl: -1, headers: 2},
		{name: "content-length", in: "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\nExpect: 100-Continue\r\n\r\n",
			method: "POST", target: "/u", path: "/u", minor: 1, host: "a", cl: 42, keep: true, expect: true, headers: 3},
		{name: "content-length of 19 digits", in: "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000007\r\n\r\n",
			method: "POST", target: "/u", path: "/u", minor: 1, host: "a", cl: 7, keep: true, headers: 2},
		{name: "chunked", in: "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n",
			method: "POST", target: "/u", path: "/u", minor: 1, host: "a", cl: -1, chunked: true, keep: true, headers: 2},
		{name: "absolute form", in: "GET http://example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
			method: "GET", target: "/p?q", path: "/p", qry: "q", hasQuery: true, minor: 1, host: "example.com:8080", cl: -1, keep: true, headers: 1},
		{name: "absolute form no path", in: "GET HTTPS://example.com HTTP/1.1\r\n\r\n",
			method: "GET", target: "/", path: "/", minor: 1, host: "example.com", cl: -1, keep: true},
		{name: "absolute form query only", in: "GET http://h?a=b HTTP/1.1\r\n\r\n",
			method: "GET", target: "/?a=b", path: "/", qry: "a=b", hasQuery: true, minor: 1, host: "h", cl: -1, keep: true},
		{name: "asterisk", in: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
			method: "OPTIONS", target: "*", path: "*", minor: 1, host: "a", cl: -1, keep: true, headers: 1},
		{name: "high bytes in target", in: "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
			method: "GET", target: "/caf\xc3\xa9", path: "/caf\xc3\xa9", minor: 1, host: "a", cl: -1, keep: true, headers: 1},
		{name: "OWS trimmed and empty value", in: "GET / HTTP/1.1\r\nHost:\ta \t\r\nX-Empty:\r\nX-Tab: a\tb\r\n\r\n",
			method: "GET", target: "/", path: "/", minor: 1, host: "a", cl: -1, keep: true, headers: 3},
		{name: "empty host", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n",
			method: "GET", target: "/", path: "/", minor: 1, host: "", cl: -1, keep: true, headers: 1},
		{name: "obs-text in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: \xff\xfe\r\n\r\n",
			method: "GET", target: "/", path: "/", minor: 1, host: "a", cl: -1, keep: true, headers: 2},
		{name: "token method", in: "M-SEARCH! / HTTP/1.1\r\nHost: a\r\n\r\n",
			method: "M-SEARCH!", target: "/", path: "/", minor: 1, host: "a", cl: -1, keep: true, headers: 1},
	}
	var r Request
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.in + "BODY")
			n, err := r.Parse(buf, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n != len(tc.in) {
				t.Errorf("n = %d, want %d", n, len(tc.in))
			}
			if string(r.Method) != tc.method || string(r.Target) != tc.target || string(r.Path) != tc.path ||
				string(r.Query) != tc.qry || r.HasQuery != tc.hasQuery {
				t.Errorf("method %q target %q path %q query %q has %v", r.Method, r.Target, r.Path, r.Query, r.HasQuery)
			}
			if r.Minor != tc.minor || string(r.Host) != tc.host || r.ContentLength != tc.cl ||
				r.Chunked != tc.chunked || r.KeepAlive != tc.keep || r.Expect100 != tc.expect {
				t.Errorf("minor %d host %q cl %d chunked %v keep %v expect %v", r.Minor, r.Host, r.ContentLength, r.Chunked, r.KeepAlive, r.Expect100)
			}
			if tc.host != "" && r.Host == nil {
				t.Errorf("Host nil")
			}
			if len(r.Headers) != tc.headers {
				t.Errorf("%d headers, want %d", len(r.Headers), tc.headers)
			}
		})
	}
}

func TestParseRequestHeaders(t *testing.T) {
	var r Request
	in := "GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nX-A:  1 \r\nx-a: 2\r\n\r\n"
	if _, err := r.Parse([]byte(in), nil); err != nil {
		t.Fatal(err)
	}
	want := []Header{{[]byte("Host"), []byte("example.com")}, {[]byte("User-Agent"), []byte("curl/8.5.0")},
		{[]byte("X-A"), []byte("1")}, {[]byte("x-a"), []byte("2")}}
	if len(r.Headers) != len(want) {
		t.Fatalf("got %d headers", len(r.Headers))
	}
	for i := range want {
		if !bytes.Equal(r.Headers[i].Name, want[i].Name) || !bytes.Equal(r.Headers[i].Value, want[i].Value) {
			t.Errorf("header %d = %q: %q", i, r.Headers[i].Name, r.Headers[i].Value)
		}
	}
}

func TestParseRequestErrors(t *testing.T) {
	long := strings.Repeat("a", 9000)
	tests := []struct {
		name, in string
		status   int
	}{
		{"no version", "GET /\r\n\r\n", 400},
		{"HTTP/0.9 style", "GET\r\n\r\n", 400},
		{"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"space before version twice", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
		{"leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"lower version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
		{"garbage version", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400},
		{"long version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
		{"http2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"http12", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
		{"http09", "GET / HTTP/0.9\r\n\r\n", 505},
		{"relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"ftp target", "GET ftp://h/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"empty authority", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"userinfo", "GET http://u@h/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"ctl in target", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"del in target", "GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"tab in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bare CR in request line", "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bare CR leading", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"too many blank lines", strings.Repeat("\r\n", 11) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"long request line", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"long incomplete request line", "GET /" + long, 414},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nJunk\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400},
		{"bad name", "GET / HTTP/1.1\r\nHost: a\r\nX(y): v\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
		{"CTL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x1bb\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
		{"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
		{"leading whitespace first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
		{"long field", "GET / HTTP/1.1\r\nHost: a\r\nX: " + long + "\r\n\r\n", 431},
		{"long incomplete field", "GET / HTTP/1.1\r\nHost: a\r\nX: " + long, 431},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: 1\r\n", 100) + "\r\n", 431},
		{"cl sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400},
		{"cl negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", 400},
		{"cl empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
		{"cl hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400},
		{"cl overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400},
		{"cl differing", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
		{"cl list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400},
		{"cl twice, same value", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", 400},
		{"cl over 19 digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000005\r\n\r\n", 400},
		{"cl and te", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"te and cl", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
		{"te gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"te gzip chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400},
		{"te chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"te two fields", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"te trailing comma", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", 400},
		{"te empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400},
		{"te on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400},
		{"two hosts 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
	}
	var r Request
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := r.Parse([]byte(tc.in), nil)
			if got := statusOf(err); got != tc.status {
				t.Fatalf("Parse = %d, %v; want status %d", n, err, tc.status)
			}
			if n != 0 {
				t.Errorf("n = %d on error", n)
			}
		})
	}
}

func TestParseRequestLimits(t *testing.T) {
	lim := &Limits{MaxLine: 16, MaxField: 10, MaxFields: 2}
	tests := []struct {
		in     string
		status int
	}{
		{"GET /23456789012 HTTP/1.1\r\nHost: a\r\n\r\n", 414},       // 27-byte line
		{"GET /23 HTTP/1.1\r\nHost: a\r\n\r\n", 0},                  // exactly 16
		{"GET /234 HTTP/1.1\r\nHost: a\r\n\r\n", 414},               // 17
		{"GET /2 HTTP/1.1\r\nHost: a\r\nX: 3456789\r\n\r\n", 0},     // field of exactly 10
		{"GET /2 HTTP/1.1\r\nHost: a\r\nX: 34567890\r\n\r\n", 431},  // 11
		{"GET /2 HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n", 431}, // 3 fields
		{"GET /2 HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n", 0},
		{"GET /2345678901234", 414},             // incomplete, already 18
		{"GET /23 HTTP/1.1\r", 0},               // 16 + CR: may still be valid
		{"GET /2 HTTP/1.1\r\nX: 34567890", 431}, // incomplete field of 11
		{"GET /2 HTTP/1.1\r\nX: 3456789\r", 0},
	}
	var r Request
	for _, tc := range tests {
		_, err := r.Parse([]byte(tc.in), lim)
		if tc.status == 0 {
			if err != nil && err != ErrNeedMore {
				t.Errorf("%q: %v", tc.in, err)
			}
			continue
		}
		if got := statusOf(err); got != tc.status {
			t.Errorf("%q: %v, want %d", tc.in, err, tc.status)
		}
	}
}

// TestParseRequestSplit feeds every prefix of valid heads: each must need more, and the whole must parse the same.
func TestParseRequestSplit(t *testing.T) {
	heads := []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\n\nPOST /x?y HTTP/1.1\r\nHost: example.com\r\nContent-Length: 12\r\nCookie: a=b\r\n\r\n",
		"GET http://h/p HTTP/1.0\nConnection: keep-alive\n\n",
		"PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
	}
	for _, head := range heads {
		var whole Request
		n, err := whole.Parse([]byte(head), nil)
		if err != nil || n != len(head) {
			t.Fatalf("%q: %d, %v", head, n, err)
		}
		for i := 0; i < len(head); i++ {
			var r Request
			if _, err := r.Parse([]byte(head[:i]), nil); err != ErrNeedMore {
				t.Fatalf("%q prefix %d: %v, want ErrNeedMore", head, i, err)
			}
			// Reuse after need-more must still parse the whole head.
			n2, err := r.Parse([]byte(head), nil)
			if err != nil || n2 != n || string(r.Target) != string(whole.Target) ||
				len(r.Headers) != len(whole.Headers) || r.KeepAlive != whole.KeepAlive ||
				r.ContentLength != whole.ContentLength || r.Chunked != whole.Chunked {
				t.Fatalf("%q after prefix %d: %d, %v", head, i, n2, err)
			}
		}
	}
}

// TestParseRequestEarlyReject checks that a non-HTTP preamble is refused before a line end arrives.
func TestParseRequestEarlyReject(t *testing.T) {
	var r Request
	if _, err := r.Parse([]byte("\x16\x03\x01\x02\x00\x01"), nil); statusOf(err) != 400 {
		t.Fatalf("TLS hello: %v", err)
	}
	if _, err := r.Parse([]byte("GET /partial"), nil); err != ErrNeedMore {
		t.Fatalf("partial: %v", err)
	}
}

const typicalRequest = "GET /scgi-bin/app/x?y=1 HTTP/1.1\r\n" +
	"Host: example.com\r\n" +
	"User-Agent: curl/8.5.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Encoding: gzip, deflate\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=abc123; theme=dark\r\n" +
	"\r\n"

func TestParseRequestAllocs(t *testing.T) {
	var r Request
	buf := []byte(typicalRequest)
	abs := []byte("GET http://h?q HTTP/1.1\r\n\r\n")
	bad := []byte("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	r.Parse(buf, nil)
	r.Parse(abs, nil)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.Parse(buf, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Parse(abs, nil); err != nil {
			t.Fatal(err)
		}
		r.Parse(bad, nil)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per warm Parse", allocs)
	}
}

func BenchmarkParseRequest(b *testing.B) {
	var r Request
	buf := []byte(typicalRequest)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := r.Parse(buf, nil); err != nil {
			b.Fatal(err)
		}
	}
}
