package codec

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"testing"
)

// verdict classifies a parse result for consistency checks.
func verdict(t *testing.T, err error) string {
	t.Helper()
	switch {
	case err == nil:
		return "ok"
	case err == ErrNeedMore:
		return "more"
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error of type %T: %v", err, err)
	}
	return "bad"
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		typicalRequest,
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\nPOST /x?y HTTP/1.1\nHost: h\nContent-Length: 5\n\nhello",
		"PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
		"GET http://h:1/p?q HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%2fb/../%2e%2e/c HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\nCookie: a\r\ncookie: b\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParseRequest)
}

var smallLimits = &Limits{MaxLine: 40, MaxField: 30, MaxFields: 4}

// checkParseRequest is FuzzParseRequest's property check, also run on inputs too big for a seed.
func checkParseRequest(t *testing.T, data []byte) {
	for _, lim := range []*Limits{nil, smallLimits} {
		var r Request
		n, err := r.Parse(data, lim)
		v := verdict(t, err)
		if v != "ok" {
			if n != 0 {
				t.Fatalf("n = %d with %v", n, err)
			}
			if v == "bad" {
				// More input cannot repair a malformed head.
				more := append(append([]byte{}, data...), "\r\n\r\nHost: x\r\n\r\n"...)
				if _, err2 := r.Parse(more, lim); verdict(t, err2) != "bad" {
					t.Fatalf("%q is bad (%v) but with more bytes: %v", data, err, err2)
				}
			}
			continue
		}
		checkRequest(t, &r, data, n)
		// Exactly the head parses the same; any shorter prefix needs more.
		if n2, err2 := r.Parse(data[:n], lim); err2 != nil || n2 != n {
			t.Fatalf("head alone: %d %v, want %d", n2, err2, n)
		}
		for _, p := range []int{0, n / 2, n - 1} {
			if _, err2 := r.Parse(data[:p], lim); err2 != ErrNeedMore {
				t.Fatalf("prefix %d of head %d: %v", p, n, err2)
			}
		}
		r.Parse(data, lim)
		checkEncoders(t, &r)
	}
}

func checkRequest(t *testing.T, r *Request, data []byte, n int) {
	if n <= 0 || n > len(data) {
		t.Fatalf("n = %d of %d", n, len(data))
	}
	if !isTokenBytes(r.Method) || len(r.Target) == 0 || r.Minor > 1 || r.Minor < 0 {
		t.Fatalf("method %q target %q minor %d", r.Method, r.Target, r.Minor)
	}
	if r.HasQuery {
		if string(r.Target) != string(r.Path)+"?"+string(r.Query) {
			t.Fatalf("target %q path %q query %q", r.Target, r.Path, r.Query)
		}
	} else if string(r.Target) != string(r.Path) || len(r.Query) != 0 {
		t.Fatalf("target %q path %q", r.Target, r.Path)
	}
	if r.Path[0] != '/' && string(r.Target) != "*" {
		t.Fatalf("path %q", r.Path)
	}
	if r.Chunked && (r.ContentLength >= 0 || r.Minor == 0) {
		t.Fatal("chunked with Content-Length or on HTTP/1.0")
	}
	if r.Minor == 1 && r.Host == nil {
		t.Fatal("HTTP/1.1 without host")
	}
	for _, h := range r.Headers {
		if !isTokenBytes(h.Name) || !validFieldValue(h.Value) || len(trimOWS(h.Value)) != len(h.Value) {
			t.Fatalf("header %q: %q", h.Name, h.Value)
		}
	}
}

// checkEncoders runs a parsed request through DecodePath and AppendSCGI.
func checkEncoders(t *testing.T, r *Request) {
	path, err := DecodePath([]byte("x"), r.Path)
	if err != nil {
		verdict(t, err)
		if string(path) != "x" {
			t.Fatalf("DecodePath changed dst on error: %q", path)
		}
		path = []byte("x/")
	}
	path = path[1:]
	if bytes.Contains(path, []byte("//")) || bytes.Contains(path, []byte("/../")) || bytes.HasSuffix(path, []byte("/..")) {
		t.Fatalf("DecodePath(%q) = %q", r.Path, path)
	}
	for _, split := range []bool{false, true} {
		e := &Env{Req: r, ContentLength: r.ContentLength, DecodedPath: path, PrefixLen: 3, SplitPathInfo: split, PassAuth: split,
			ScriptFilenameBase: []byte("proxy:scgi://h/"), Extra: r.Headers}
		out := AppendSCGI(nil, e)
		if len(out) != SCGILen(e) {
			t.Fatalf("SCGILen %d, wrote %d", SCGILen(e), len(out))
		}
		parseEnv(t, mustBlock(t, out))
	}
}

func FuzzChunked(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), 3)
	f.Add([]byte("5;a=\"b;c\"\r\nhello\r\n6\nworld!\n0\r\nT: 1\r\n\r\nrest"), 12)
	f.Add([]byte("ffff\r\n"), 2)
	f.Add([]byte("0\r\nX: \x00\r\n\r\n"), 0)
	f.Add(chunkedBody(3, 20), 40)
	f.Fuzz(checkChunked)
}

// checkChunked is FuzzChunked's property check, also run on inputs too big for a seed.
func checkChunked(t *testing.T, data []byte, split int) {
	var d ChunkedDecoder
	out, n, done, err := d.Decode(nil, data)
	if n < 0 || n > len(data) {
		t.Fatalf("n = %d of %d", n, len(data))
	}
	if err != nil {
		if statusOf(err) != 400 || done {
			t.Fatalf("error %v done %v", err, done)
		}
	} else if !done && n != len(data) {
		t.Fatalf("stopped at %d of %d without done or error", n, len(data))
	}
	if len(out) > n {
		t.Fatalf("decoded %d bytes from %d", len(out), n)
	}

	// Any split gives the same result.
	if split < 0 {
		split = -split
	}
	if len(data) > 0 {
		split %= len(data) + 1
	} else {
		split = 0
	}
	d.Reset()
	out2, n1, done2, err2 := d.Decode(nil, data[:split])
	n2 := n1
	if err2 == nil && !done2 {
		var k int
		out2, k, done2, err2 = d.Decode(out2, data[split:])
		n2 += k
	}
	if (err == nil) != (err2 == nil) || done != done2 {
		t.Fatalf("split %d: err %v/%v done %v/%v", split, err, err2, done, done2)
	}
	if err == nil && (!bytes.Equal(out, out2) || n != n2) {
		t.Fatalf("split %d: %q/%q n %d/%d", split, out, out2, n, n2)
	}
	if done {
		d.Reset()
		if _, n3, done3, err3 := d.Decode(nil, data[:n]); !done3 || n3 != n || err3 != nil {
			t.Fatalf("body alone: %d %v %v", n3, done3, err3)
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		typicalResponse,
		"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nbody",
		"HTTP/1.1 302 Found\nLocation: http://e/\n\n",
		"Location: /internal\r\n\r\n",
		"Status: 404: Not Found\r\n\r\n",
		"\r\n",
		"X: a\r\n b\r\n\r\n",
		"Content-Length: 5\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a\r\nSet-Cookie: b\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParseResponse)
}

// checkParseResponse is FuzzParseResponse's property check, also run on inputs too big for a seed.
func checkParseResponse(t *testing.T, data []byte) {
	var r Response
	n, err := r.Parse(data)
	switch verdict(t, err) {
	case "more":
		if len(data) > MaxResponseHead || n != 0 {
			t.Fatalf("need more after %d bytes", len(data))
		}
		return
	case "bad":
		if err != ErrMalformed || n != 0 {
			t.Fatalf("%v, n %d", err, n)
		}
		more := append(append([]byte{}, data...), "\r\n\r\n"...)
		if _, err2 := r.Parse(more); err2 != ErrMalformed {
			t.Fatalf("malformed %q became %v with more bytes", data, err2)
		}
		return
	}
	if n <= 0 || n > len(data) || n > MaxResponseHead {
		t.Fatalf("n = %d of %d", n, len(data))
	}
	if r.Status < 100 || r.Status > 599 {
		t.Fatalf("status %d", r.Status)
	}
	for _, h := range r.Headers {
		if !isTokenBytes(h.Name) || !validFieldValue(h.Value) || equalFold(h.Name, "status") ||
			equalFold(h.Name, "content-length") || equalFold(h.Name, "transfer-encoding") {
			t.Fatalf("header %q: %q", h.Name, h.Value)
		}
	}
	if _, err := (&Response{}).Parse(data[:n-1]); err != ErrNeedMore {
		t.Fatalf("head minus one byte: %v", err)
	}
	if n2, err := (&Response{}).Parse(data[:n]); err != nil || n2 != n {
		t.Fatalf("head alone: %d %v", n2, err)
	}

	// Whatever the backend sent, the client gets a head net/http can read.
	h := ResponseHead{Minor: 1, Status: r.Status, Reason: r.Reason, Headers: r.Headers, ContentLength: r.ContentLength, Chunked: r.ContentLength < 0}
	head := AppendResponseHead(nil, &h, testDate, []byte("scgate"))
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		t.Fatalf("net/http cannot read %q: %v", head, err)
	}
	resp.Body.Close()
	if resp.StatusCode != r.Status {
		t.Fatalf("status %d != %d", resp.StatusCode, r.Status)
	}
}
