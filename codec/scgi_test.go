package codec

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// readNetstring mirrors the reference server (SP scgi/util.py): digits, ':', LEN bytes, ','.
func readNetstring(b []byte) (block []byte, rest []byte, err error) {
	colon := bytes.IndexByte(b, ':')
	if colon <= 0 {
		return nil, nil, fmt.Errorf("no length")
	}
	if colon > 1 && b[0] == '0' {
		return nil, nil, fmt.Errorf("leading zero")
	}
	n, err := strconv.Atoi(string(b[:colon]))
	if err != nil {
		return nil, nil, err
	}
	b = b[colon+1:]
	if len(b) < n+1 || b[n] != ',' {
		return nil, nil, fmt.Errorf("length %d does not end at ','", n)
	}
	return b[:n], b[n+1:], nil
}

type kv struct{ k, v string }

// parseEnv splits a header block into ordered pairs, failing on duplicates or a missing NUL.
func parseEnv(t *testing.T, block []byte) []kv {
	t.Helper()
	parts := strings.Split(string(block), "\x00")
	if len(parts)%2 != 1 || parts[len(parts)-1] != "" {
		t.Fatalf("block is not name NUL value NUL pairs: %q", block)
	}
	var env []kv
	seen := map[string]bool{}
	for i := 0; i+1 < len(parts); i += 2 {
		if parts[i] == "" || seen[parts[i]] {
			t.Fatalf("empty or duplicate name %q", parts[i])
		}
		seen[parts[i]] = true
		env = append(env, kv{parts[i], parts[i+1]})
	}
	return env
}

func netstringOf(pairs []kv) string {
	var b strings.Builder
	for _, p := range pairs {
		b.WriteString(p.k + "\x00" + p.v + "\x00")
	}
	return strconv.Itoa(b.Len()) + ":" + b.String() + ","
}

func TestSpecExampleFraming(t *testing.T) {
	// SP §5: the spec's own example is 70 bytes long.
	want := "70:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,"
	got := netstringOf([]kv{{"CONTENT_LENGTH", "27"}, {"SCGI", "1"}, {"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/deepthought"}})
	if got != want {
		t.Fatalf("%q", got)
	}
	block, rest, err := readNetstring([]byte(want + "What is the answer to life?"))
	if err != nil || len(block) != 70 || string(rest) != "What is the answer to life?" || len(rest) != 27 {
		t.Fatalf("%d %q %v", len(block), rest, err)
	}

	// The same request through AppendSCGI frames correctly too.
	var r Request
	if _, err := r.Parse([]byte("POST /deepthought HTTP/1.1\r\nHost: h\r\nContent-Length: 27\r\n\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	e := &Env{Req: &r, ContentLength: 27, DecodedPath: []byte("/deepthought")}
	out := AppendSCGI(nil, e)
	block, rest, err = readNetstring(out)
	if err != nil || len(rest) != 0 {
		t.Fatalf("%v rest %q", err, rest)
	}
	env := parseEnv(t, block)
	if env[0] != (kv{"CONTENT_LENGTH", "27"}) || env[1] != (kv{"SCGI", "1"}) {
		t.Fatalf("first two: %v", env[:2])
	}
}

func workedExample(t testing.TB) *Env {
	r := new(Request)
	if _, err := r.Parse([]byte("GET /scgi-bin/app/x?y=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	path, err := DecodePath(nil, r.Path)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{
		Req:                r,
		ContentLength:      0,
		DecodedPath:        path,
		PrefixLen:          len("/scgi-bin/"),
		ScriptFilenameBase: []byte("proxy:scgi://localhost/"),
		ServerSoftware:     []byte("Apache"),
		ServerName:         []byte("example.com"),
		ServerAddr:         []byte("192.0.2.1"),
		ServerPort:         []byte("80"),
		RemoteAddr:         []byte("192.0.2.10"),
		RemotePort:         []byte("54321"),
		DocumentRoot:       []byte("/var/www/html"),
		ServerAdmin:        []byte("webmaster@localhost"),
		Scheme:             []byte("http"),
		ContextPrefix:      []byte(""),
	}
}

// TestWorkedExample reproduces reference B.4 byte for byte, without PATH and SERVER_SIGNATURE
// (597 - 67 - 18 = 513).
func TestWorkedExample(t *testing.T) {
	pairs := []kv{
		{"CONTENT_LENGTH", "0"},
		{"SCGI", "1"},
		{"HTTP_HOST", "example.com"},
		{"HTTP_USER_AGENT", "curl/8.5.0"},
		{"HTTP_ACCEPT", "*/*"},
		{"SERVER_SOFTWARE", "Apache"},
		{"SERVER_NAME", "example.com"},
		{"SERVER_ADDR", "192.0.2.1"},
		{"SERVER_PORT", "80"},
		{"REMOTE_ADDR", "192.0.2.10"},
		{"DOCUMENT_ROOT", "/var/www/html"},
		{"REQUEST_SCHEME", "http"},
		{"CONTEXT_PREFIX", ""},
		{"CONTEXT_DOCUMENT_ROOT", "/var/www/html"},
		{"SERVER_ADMIN", "webmaster@localhost"},
		{"SCRIPT_FILENAME", "proxy:scgi://localhost/app/x"},
		{"REMOTE_PORT", "54321"},
		{"SERVER_PROTOCOL", "HTTP/1.1"},
		{"REQUEST_METHOD", "GET"},
		{"QUERY_STRING", "y=1"},
		{"REQUEST_URI", "/scgi-bin/app/x?y=1"},
		{"SCRIPT_NAME", "/scgi-bin/app/x"},
	}
	want := netstringOf(pairs)
	if !strings.HasPrefix(want, "513:") {
		t.Fatalf("expected block length: %q", want[:5])
	}
	// Apache's own 597 bytes are ours plus PATH and SERVER_SIGNATURE.
	apache := 513 + len("PATH\x00/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\x00") + len("SERVER_SIGNATURE\x00\x00")
	if apache != 597 {
		t.Fatalf("Apache length %d", apache)
	}
	e := workedExample(t)
	got := AppendSCGI([]byte("pre"), e)
	if string(got) != "pre"+want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if SCGILen(e) != len(want) {
		t.Fatalf("SCGILen %d, want %d", SCGILen(e), len(want))
	}

	// proxy-scgi-pathinfo variant.
	e.SplitPathInfo = true
	pairs[len(pairs)-1] = kv{"SCRIPT_NAME", "/scgi-bin"}
	pairs = append(pairs, kv{"PATH_INFO", "/app/x"})
	if got := AppendSCGI(nil, e); string(got) != netstringOf(pairs) {
		t.Fatalf("split got\n%q\nwant\n%q", got, netstringOf(pairs))
	}
}

func envWith(t *testing.T, head string, mod func(*Env)) *Env {
	t.Helper()
	r := new(Request)
	if _, err := r.Parse([]byte(head), nil); err != nil {
		t.Fatalf("%q: %v", head, err)
	}
	e := &Env{Req: r}
	if r.Path[0] == '/' {
		e.DecodedPath, _ = DecodePath(nil, r.Path)
	}
	if mod != nil {
		mod(e)
	}
	return e
}

func lookup(env []kv, k string) (string, bool) {
	for _, p := range env {
		if p.k == k {
			return p.v, true
		}
	}
	return "", false
}

func TestSCGIHeaders(t *testing.T) {
	head := "POST /p HTTP/1.1\r\n" +
		"Host: h\r\n" +
		"X-Forwarded-For: 1.1.1.1\r\n" +
		"X_Forwarded_For: spoof\r\n" +
		"Cookie: a=1\r\n" +
		"Accept: text/html\r\n" +
		"cookie: b=2\r\n" +
		"ACCEPT: */*\r\n" +
		"Content-Type: text/plain\r\n" +
		"Content-Length: 3\r\n" +
		"Proxy: http://evil\r\n" +
		"Authorization: Basic x\r\n" +
		"Proxy-Authorization: Basic y\r\n" +
		"X.Dot: 1\r\n" +
		"x-forwarded-for: 2.2.2.2\r\n" +
		"\r\n"
	e := envWith(t, head, func(e *Env) { e.ContentLength = 3 })
	env := parseEnv(t, mustBlock(t, AppendSCGI(nil, e)))
	var order []string
	for _, p := range env {
		if strings.HasPrefix(p.k, "HTTP_") || p.k == "CONTENT_TYPE" {
			order = append(order, p.k+"="+p.v)
		}
	}
	want := []string{
		"HTTP_HOST=h",
		"HTTP_X_FORWARDED_FOR=1.1.1.1, 2.2.2.2",
		"HTTP_COOKIE=a=1; b=2",
		"HTTP_ACCEPT=text/html, */*",
		"CONTENT_TYPE=text/plain",
	}
	if strings.Join(order, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %v\nwant %v", order, want)
	}
	if v, _ := lookup(env, "CONTENT_LENGTH"); v != "3" || env[0].k != "CONTENT_LENGTH" {
		t.Fatalf("CONTENT_LENGTH %q", v)
	}

	e.PassAuth = true
	env = parseEnv(t, mustBlock(t, AppendSCGI(nil, e)))
	if v, _ := lookup(env, "HTTP_AUTHORIZATION"); v != "Basic x" {
		t.Errorf("HTTP_AUTHORIZATION %q", v)
	}
	if v, _ := lookup(env, "HTTP_PROXY_AUTHORIZATION"); v != "Basic y" {
		t.Errorf("HTTP_PROXY_AUTHORIZATION %q", v)
	}
	if _, ok := lookup(env, "HTTP_PROXY"); ok {
		t.Errorf("HTTP_PROXY exported")
	}
}

func TestSCGIExtra(t *testing.T) {
	e := envWith(t, "GET /a?b HTTP/1.0\r\nX-A: 1\r\n\r\n", func(e *Env) {
		e.Extra = []Header{
			{[]byte("REDIRECT_STATUS"), []byte("200")},
			{[]byte("SCRIPT_NAME"), []byte("spoof")},
			{[]byte("HTTP_X_A"), []byte("spoof")},
			{[]byte("HTTP_X_B"), []byte("kept")},
			{[]byte("REDIRECT_STATUS"), []byte("second")},
			{[]byte(""), []byte("empty")},
			{[]byte("A\x00B"), []byte("nul")},
			{[]byte("NULVAL"), []byte("a\x00b")},
			{[]byte("PATH_INFO"), []byte("kept without split")},
			{[]byte("CONTENT_TYPE"), []byte("kept without content-type")},
			{[]byte("CONTENT_LENGTH"), []byte("99")},
		}
	})
	env := parseEnv(t, mustBlock(t, AppendSCGI(nil, e)))
	var got []string
	for _, p := range env[2:] {
		if p.k == "HTTP_X_A" {
			break
		}
		got = append(got, p.k+"="+p.v)
	}
	want := "REDIRECT_STATUS=200|HTTP_X_B=kept|NULVAL=a?b|PATH_INFO=kept without split|CONTENT_TYPE=kept without content-type"
	if strings.Join(got, "|") != want {
		t.Fatalf("got  %v\nwant %v", strings.Join(got, "|"), want)
	}
	if v, _ := lookup(env, "SERVER_PROTOCOL"); v != "HTTP/1.0" {
		t.Errorf("SERVER_PROTOCOL %q", v)
	}
	if v, _ := lookup(env, "HTTP_X_A"); v != "1" {
		t.Errorf("HTTP_X_A %q", v)
	}
}

func TestSCGIPathVariables(t *testing.T) {
	tests := []struct {
		target             string
		prefix             int
		split              bool
		script, info, file string
		hasInfo            bool
		query, uri         string
	}{
		{"/scgi-bin/app/x?y=1", 10, false, "/scgi-bin/app/x", "", "base/app/x", false, "y=1", "/scgi-bin/app/x?y=1"},
		{"/scgi-bin/", 10, true, "/scgi-bin", "/", "base/", true, "", "/scgi-bin/"},
		{"/scgi-bin/a%20b", 10, true, "/scgi-bin", "/a b", "base/a%20b", true, "", "/scgi-bin/a%20b"},
		{"/scgi-bin/a", 9, true, "/scgi-bin", "/a", "base//a", true, "", "/scgi-bin/a"},
		{"/app", 1, true, "", "/app", "base/app", true, "", "/app"},
		{"/x//y/../z", 0, false, "/x/z", "", "base//x/z", false, "", "/x//y/../z"},
		{"/short", 99, true, "/short", "/", "base/", true, "", "/short"},
		{"/short", -5, true, "", "/short", "base//short", true, "", "/short"},
	}
	for _, tc := range tests {
		e := envWith(t, "GET "+tc.target+" HTTP/1.1\r\nHost: h\r\n\r\n", func(e *Env) {
			e.PrefixLen, e.SplitPathInfo = tc.prefix, tc.split
			e.ScriptFilenameBase = []byte("base/")
		})
		out := AppendSCGI(nil, e)
		if len(out) != SCGILen(e) {
			t.Errorf("%s: SCGILen %d != %d", tc.target, SCGILen(e), len(out))
		}
		env := parseEnv(t, mustBlock(t, out))
		script, _ := lookup(env, "SCRIPT_NAME")
		info, hasInfo := lookup(env, "PATH_INFO")
		file, _ := lookup(env, "SCRIPT_FILENAME")
		query, hasQuery := lookup(env, "QUERY_STRING")
		uri, _ := lookup(env, "REQUEST_URI")
		if script != tc.script || info != tc.info || hasInfo != tc.hasInfo || file != tc.file ||
			query != tc.query || !hasQuery || uri != tc.uri {
			t.Errorf("%s: SCRIPT_NAME %q PATH_INFO %q(%v) SCRIPT_FILENAME %q QUERY_STRING %q REQUEST_URI %q",
				tc.target, script, info, hasInfo, file, query, uri)
		}
	}
}

func mustBlock(t *testing.T, out []byte) []byte {
	t.Helper()
	block, rest, err := readNetstring(out)
	if err != nil || len(rest) != 0 {
		t.Fatalf("netstring: %v, rest %q", err, rest)
	}
	return block
}

// TestSCGILen checks SCGILen against the output over many shapes, including degenerate ones.
func TestSCGILen(t *testing.T) {
	heads := []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a?b HTTP/1.0\r\n\r\n",
		typicalRequest,
		"POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: a\r\ncontent-type: b\r\nCookie: 1\r\nCookie: 2\r\nX_Y: z\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /" + strings.Repeat("%7e", 400) + " HTTP/1.1\r\nHost: h\r\n\r\n",
	}
	lengths := []int64{-1, 0, 9, 10, 99999, 1 << 40}
	for _, head := range heads {
		for _, cl := range lengths {
			for _, split := range []bool{false, true} {
				e := envWith(t, head, func(e *Env) {
					e.ContentLength, e.SplitPathInfo, e.PrefixLen, e.PassAuth = cl, split, 3, split
					e.ScriptFilenameBase = []byte("proxy:scgi://127.0.0.1/")
					e.ServerName = []byte("n\x00ul")
					e.Extra = []Header{{[]byte("A"), []byte("b")}, {[]byte("A"), []byte("c")}}
				})
				out := AppendSCGI(nil, e)
				if len(out) != SCGILen(e) {
					t.Errorf("%q cl %d: SCGILen %d, output %d", head, cl, SCGILen(e), len(out))
				}
				parseEnv(t, mustBlock(t, out))
			}
		}
	}
	// A nil request and an empty Env still give a well-formed netstring.
	for _, e := range []*Env{{}, {PrefixLen: 100}} {
		out := AppendSCGI(nil, e)
		if len(out) != SCGILen(e) {
			t.Errorf("empty env: %d vs %d", SCGILen(e), len(out))
		}
		parseEnv(t, mustBlock(t, out))
	}
}

func TestAppendSCGIAllocs(t *testing.T) {
	e := workedExample(t)
	e.Extra = []Header{{[]byte("REDIRECT_STATUS"), []byte("200")}}
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendSCGI(buf[:0], e)
		_ = SCGILen(e)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per AppendSCGI into a warm buffer", allocs)
	}
}

func BenchmarkAppendSCGI(b *testing.B) {
	r := new(Request)
	if _, err := r.Parse([]byte(typicalRequest), nil); err != nil {
		b.Fatal(err)
	}
	e := workedExample(b)
	e.Req = r
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendSCGI(buf[:0], e)
	}
	b.SetBytes(int64(len(buf)))
}
