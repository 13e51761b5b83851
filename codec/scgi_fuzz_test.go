package codec

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// FuzzSCGIEncode builds a request head from its inputs, parses it, encodes it with
// AppendSCGI and decodes the netstring again with decodeSCGI, which shares no code
// with the encoder. The environment must be exactly what the rules documented on
// Env, AppendSCGI and reference B.2/B.4 give for that request, recomputed here.
//
// Inputs: method and target of the request line; headers, one field line per '\n'
// ("Name: value"); extra, Env.Extra as NAME=VALUE lines; bodyLen, the Content-Length
// (sent as a header when flags has scgiFuzzCL) or the decoded length of a chunked
// body; prefix, Env.PrefixLen; flags, the scgiFuzz* bits.
func FuzzSCGIEncode(f *testing.F) {
	for _, s := range scgiFuzzSeeds {
		f.Add(s.method, s.target, s.headers, s.extra, s.bodyLen, s.prefix, s.flags)
	}
	f.Fuzz(func(t *testing.T, method, target, headers, extra string, bodyLen int64, prefix int, flags uint8) {
		checkSCGIRoundTrip(t, method, target, headers, extra, bodyLen, prefix, flags)
	})
}

const (
	scgiFuzzHTTP10   = 1 << iota // "HTTP/1.0" instead of "HTTP/1.1"
	scgiFuzzPassAuth             // Env.PassAuth
	scgiFuzzSplit                // Env.SplitPathInfo
	scgiFuzzCL                   // send "Content-Length: bodyLen" when bodyLen >= 0
	scgiFuzzNoHost               // no "Host: example.com" first
)

var scgiFuzzSeeds = []struct {
	method, target, headers, extra string
	bodyLen                        int64
	prefix                         int
	flags                          uint8
}{
	{"GET", "/scgi-bin/app/x?y=1", "User-Agent: curl/8.5.0\nAccept: */*", "", 0, 10, 0},
	{"POST", "/scgi-bin/form", "Content-Type: application/x-www-form-urlencoded\nContent-Type: x", "REDIRECT_STATUS=200", 27, 10, scgiFuzzCL | scgiFuzzSplit},
	{"PUT", "/u?a?b", "Transfer-Encoding: chunked\nCookie: a=1\nX-A: 1\ncookie: b=2\nx-a: 2\nCOOKIE: c", "", 1 << 40, 2, scgiFuzzSplit},
	{"GET", "http://h:1/p?q", "Authorization: Basic x\nProxy-Authorization: Basic y\nProxy: http://evil\nX_Forwarded_For: spoof\nX.Dot: 1", "", -1, 0, scgiFuzzPassAuth},
	{"GET", "https://h?q", "Authorization: Basic x\nProxy: http://evil", "HTTP_PROXY=set by SetEnv\nHTTP_AUTHORIZATION=env", -1, 0, 0},
	{"OPTIONS", "*", "", "SCRIPT_NAME=spoof\nPATH_INFO=kept unless split\n=empty\nA\x00B=nul\nNULVAL=a\x00b\nA=1\nA=2", 0, 3, scgiFuzzHTTP10 | scgiFuzzNoHost},
	{"GET", "/a%2fb/../%2e%2e/c%20d", "Host: other\nX-Forwarded-For: 1.1.1.1\nx-forwarded-for: 2.2.2.2", "HTTP_X_FORWARDED_FOR=spoof\nCONTENT_TYPE=no header", 0, 1, scgiFuzzNoHost | scgiFuzzSplit},
	{"M-SEARCH", "/%7e\xff?\xfe", "X: \xff\t\x80 v\nY:\nZ: a  b ", "CONTENT_LENGTH=99\nSCGI=2\nHTTP_X=e", 9, 99, scgiFuzzCL},
	{"GET", "/", "Empty:", "", 5, -5, scgiFuzzSplit | scgiFuzzCL},
	{"DELETE", "/scgi-bin/x", "Proxy-Authorization: Basic y\nauthorization: Basic x\nPROXY: p", "TWO_NULS=\x00a\x00\nHTTP_PROXY_AUTHORIZATION=env", 0, 10, 0},
}

// TestSCGIFuzzSeedsEncode keeps the seeds meaningful: each must get past the parser.
func TestSCGIFuzzSeedsEncode(t *testing.T) {
	for i, s := range scgiFuzzSeeds {
		if !checkSCGIRoundTrip(t, s.method, s.target, s.headers, s.extra, s.bodyLen, s.prefix, s.flags) {
			t.Errorf("seed %d: the parser refuses %q %q", i, s.method, s.target)
		}
	}
}

// checkSCGIRoundTrip reports false when the parser refuses the request, else checks its encoding.
func checkSCGIRoundTrip(t *testing.T, method, target, headers, extra string, bodyLen int64, prefix int, flags uint8) bool {
	t.Helper()
	var head strings.Builder
	head.WriteString(method + " " + target + " HTTP/1.")
	if flags&scgiFuzzHTTP10 != 0 {
		head.WriteString("0\r\n")
	} else {
		head.WriteString("1\r\n")
	}
	var lines []string
	if flags&scgiFuzzNoHost == 0 {
		lines = append(lines, "Host: example.com")
	}
	if headers != "" {
		lines = append(lines, strings.Split(headers, "\n")...)
	}
	if flags&scgiFuzzCL != 0 && bodyLen >= 0 {
		lines = append(lines, "Content-Length: "+strconv.FormatInt(bodyLen, 10))
	}
	for _, l := range lines {
		head.WriteString(l + "\r\n")
	}
	head.WriteString("\r\n")

	var r Request
	if _, err := r.Parse([]byte(head.String()), nil); err != nil {
		return false
	}

	// The parser took the request line and the field lines as they were built.
	if !strings.ContainsAny(method+target, " \r\n") {
		if string(r.Method) != method || string(r.URI) != target {
			t.Fatalf("method %q uri %q from %q %q", r.Method, r.URI, method, target)
		}
	}
	if blank := indexOf(lines, ""); blank < 0 {
		if len(r.Headers) != len(lines) {
			t.Fatalf("%d headers from %d lines", len(r.Headers), len(lines))
		}
		for i, l := range lines {
			name, value, _ := strings.Cut(l, ":")
			if string(r.Headers[i].Name) != name || string(r.Headers[i].Value) != strings.Trim(value, " \t") {
				t.Fatalf("header %d %q: %q", i, l, r.Headers[i])
			}
		}
	}

	e := &Env{
		Req:                &r,
		ContentLength:      r.ContentLength,
		PrefixLen:          prefix,
		SplitPathInfo:      flags&scgiFuzzSplit != 0,
		PassAuth:           flags&scgiFuzzPassAuth != 0,
		ScriptFilenameBase: []byte("proxy:scgi://127.0.0.1:4000/"),
		ServerSoftware:     []byte("scgate"),
		ServerName:         []byte("n\x00ul"),
		ServerAddr:         []byte("192.0.2.1"),
		ServerPort:         []byte("80"),
		RemoteAddr:         []byte("192.0.2.10"),
		RemotePort:         []byte("54321"),
		DocumentRoot:       []byte("/var/www"),
		ServerAdmin:        []byte("root@localhost"),
		Scheme:             []byte("http"),
		ContextPrefix:      []byte(""),
	}
	if r.ContentLength < 0 {
		e.ContentLength = bodyLen // the decoded length of a chunked body, or nonsense
	}
	var err error
	if e.DecodedPath, err = DecodePath(nil, r.Path); err != nil {
		// The loop refuses such a path; the encoder must still frame whatever it gets.
		e.DecodedPath = append([]byte(nil), r.Path...)
	}
	if extra != "" {
		for _, l := range strings.Split(extra, "\n") {
			name, value, _ := strings.Cut(l, "=")
			e.Extra = append(e.Extra, Header{Name: []byte(name), Value: []byte(value)})
		}
	}

	out := AppendSCGI([]byte("pre"), e)
	if !bytes.HasPrefix(out, []byte("pre")) {
		t.Fatalf("dst prefix lost: %q", out)
	}
	out = out[3:]
	if n := SCGILen(e); n != len(out) {
		t.Fatalf("SCGILen %d, wrote %d", n, len(out))
	}
	env, err := decodeSCGI(out)
	if err != nil {
		t.Fatalf("%v in %q", err, out)
	}

	// The rules stated one by one, for readable failures.
	if len(env) < 2 || env[0].k != "CONTENT_LENGTH" || env[1] != (kv{"SCGI", "1"}) {
		t.Fatalf("first two: %q", env)
	}
	if cl, err := strconv.ParseInt(env[0].v, 10, 64); err != nil || cl != max(e.ContentLength, 0) || strconv.FormatInt(cl, 10) != env[0].v {
		t.Fatalf("CONTENT_LENGTH %q for %d", env[0].v, e.ContentLength)
	}
	seen := map[string]bool{}
	for _, p := range env {
		if p.k == "" || strings.IndexByte(p.k, 0) >= 0 || strings.IndexByte(p.v, 0) >= 0 || seen[p.k] {
			t.Fatalf("bad or repeated name %q (value %q)", p.k, p.v)
		}
		seen[p.k] = true
	}
	wantHeaders, hasCT := expectedHeaderVars(r.Headers, e.PassAuth)
	// An HTTP_* name no header gives may come from Extra (SetEnv); one a header gives may not.
	var gotHeaders []kv
	for _, p := range env {
		if strings.HasPrefix(p.k, "HTTP_") && (hasName(wantHeaders, p.k) || !isExtraName(e, p.k)) {
			gotHeaders = append(gotHeaders, p)
		}
	}
	if !equalKV(gotHeaders, wantHeaders) {
		t.Fatalf("HTTP_* variables\n got  %q\n want %q\nfrom %q", gotHeaders, wantHeaders, r.Headers)
	}
	_, ctSeen := lookup(env, "CONTENT_TYPE")
	if hasCT && !ctSeen {
		t.Fatalf("Content-Type header without CONTENT_TYPE")
	}
	query := ""
	if _, q, ok := strings.Cut(string(r.URI), "?"); ok {
		query = q
	}
	for name, want := range map[string]string{
		"REQUEST_METHOD": string(r.Method),
		"REQUEST_URI":    string(r.URI),
		"QUERY_STRING":   query,
	} {
		if got, ok := lookup(env, name); !ok || got != want {
			t.Fatalf("%s = %q (%v), want %q", name, got, ok, want)
		}
	}

	// And the whole environment, in wire order.
	want := expectedEnv(e, wantHeaders)
	if !equalKV(env, want) {
		t.Fatalf("environment\n got  %q\n want %q", env, want)
	}
	return true
}

// decodeSCGI reads one netstring holding an SCGI header block, strictly: a length without
// sign or leading zero that is exactly the block's, ':' and ',' around it, nothing after,
// and a block of NUL-terminated name and value pairs.
func decodeSCGI(b []byte) ([]kv, error) {
	colon := bytes.IndexByte(b, ':')
	if colon <= 0 || colon > 10 {
		return nil, errorString("no length before ':'")
	}
	digits := b[:colon]
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, errorString("non-digit in the length")
		}
		n = n*10 + int(c-'0')
	}
	if len(digits) > 1 && digits[0] == '0' {
		return nil, errorString("leading zero in the length")
	}
	block := b[colon+1:]
	if len(block) != n+1 || block[n] != ',' {
		return nil, errorString("length " + strconv.Itoa(n) + " is not the block's " + strconv.Itoa(len(block)-1) + " followed by ','")
	}
	block = block[:n]
	var env []kv
	for len(block) > 0 {
		name, rest, ok := bytes.Cut(block, []byte{0})
		if !ok {
			return nil, errorString("name without NUL")
		}
		value, rest, ok := bytes.Cut(rest, []byte{0})
		if !ok {
			return nil, errorString("value of " + string(name) + " without NUL")
		}
		env = append(env, kv{string(name), string(value)})
		block = rest
	}
	return env, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// expectedHeaderVars applies reference B.2/E.4 to the request headers: a name of
// [A-Za-z0-9-] only becomes HTTP_NAME (upper case, '-' as '_'), once, at its first
// appearance, with the values of all its repeats (any case) joined by ", " or, for
// Cookie, "; "; Content-Length, Transfer-Encoding and Proxy never, Authorization and
// Proxy-Authorization only with PassAuth; Content-Type becomes CONTENT_TYPE, after them.
func expectedHeaderVars(hs []Header, passAuth bool) (vars []kv, contentType bool) {
	index := map[string]int{}
	for _, h := range hs {
		name := string(h.Name)
		if name == "" || strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			continue
		}
		switch strings.ToLower(name) {
		case "content-type":
			contentType = true
			continue
		case "content-length", "transfer-encoding", "proxy":
			continue
		case "authorization", "proxy-authorization":
			if !passAuth {
				continue
			}
		}
		v := "HTTP_" + strings.ReplaceAll(strings.ToUpper(name), "-", "_")
		sep := ", "
		if v == "HTTP_COOKIE" {
			sep = "; "
		}
		value := strings.ReplaceAll(string(h.Value), "\x00", "?")
		if i, ok := index[v]; ok {
			vars[i].v += sep + value
			continue
		}
		index[v] = len(vars)
		vars = append(vars, kv{v, value})
	}
	return vars, contentType
}

// isExtraName reports whether name is among e.Extra, which may legitimately carry HTTP_* names.
func isExtraName(e *Env, name string) bool {
	for _, x := range e.Extra {
		if string(x.Name) == name {
			return true
		}
	}
	return false
}

// expectedEnv is the environment AppendSCGI must write for e, in wire order (reference B.4).
func expectedEnv(e *Env, headerVars []kv) []kv {
	nul := func(b []byte) string { return strings.ReplaceAll(string(b), "\x00", "?") }
	r := e.Req
	env := []kv{{"CONTENT_LENGTH", strconv.FormatInt(max(e.ContentLength, 0), 10)}, {"SCGI", "1"}}

	var contentType []string
	for _, h := range r.Headers {
		if strings.EqualFold(string(h.Name), "content-type") {
			contentType = append(contentType, nul(h.Value))
		}
	}

	// Every name the encoder writes itself; Extra may not repeat one.
	own := map[string]bool{}
	for _, v := range headerVars {
		own[v.k] = true
	}
	for _, v := range []string{"CONTENT_LENGTH", "SCGI", "SERVER_SOFTWARE", "SERVER_NAME", "SERVER_ADDR", "SERVER_PORT",
		"REMOTE_ADDR", "DOCUMENT_ROOT", "REQUEST_SCHEME", "CONTEXT_PREFIX", "CONTEXT_DOCUMENT_ROOT", "SERVER_ADMIN",
		"SCRIPT_FILENAME", "REMOTE_PORT", "SERVER_PROTOCOL", "REQUEST_METHOD", "QUERY_STRING", "REQUEST_URI", "SCRIPT_NAME"} {
		own[v] = true
	}
	if contentType != nil {
		own["CONTENT_TYPE"] = true
	}
	if e.SplitPathInfo {
		own["PATH_INFO"] = true
	}
	extraSeen := map[string]bool{}
	for _, x := range e.Extra {
		name := string(x.Name)
		first := !extraSeen[name]
		extraSeen[name] = true
		if first && name != "" && !strings.Contains(name, "\x00") && !own[name] {
			env = append(env, kv{name, nul(x.Value)})
		}
	}

	env = append(env, headerVars...)
	if contentType != nil {
		env = append(env, kv{"CONTENT_TYPE", strings.Join(contentType, ", ")})
	}

	p := min(max(e.PrefixLen, 0), len(e.DecodedPath))
	pre, rest := e.DecodedPath[:p], e.DecodedPath[p:]
	var file strings.Builder
	file.WriteString(nul(e.ScriptFilenameBase))
	for _, c := range rest {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("~$-_.+!*'(),;:@&=/", c) >= 0 {
			file.WriteByte(c)
		} else {
			file.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)>>4, 16)+strconv.FormatInt(int64(c)&15, 16)))
		}
	}
	proto := "HTTP/1.1"
	if r.Minor == 0 {
		proto = "HTTP/1.0"
	}
	_, query, _ := strings.Cut(string(r.Target), "?")
	env = append(env,
		kv{"SERVER_SOFTWARE", nul(e.ServerSoftware)},
		kv{"SERVER_NAME", nul(e.ServerName)},
		kv{"SERVER_ADDR", nul(e.ServerAddr)},
		kv{"SERVER_PORT", nul(e.ServerPort)},
		kv{"REMOTE_ADDR", nul(e.RemoteAddr)},
		kv{"DOCUMENT_ROOT", nul(e.DocumentRoot)},
		kv{"REQUEST_SCHEME", nul(e.Scheme)},
		kv{"CONTEXT_PREFIX", nul(e.ContextPrefix)},
		kv{"CONTEXT_DOCUMENT_ROOT", nul(e.DocumentRoot)},
		kv{"SERVER_ADMIN", nul(e.ServerAdmin)},
		kv{"SCRIPT_FILENAME", file.String()},
		kv{"REMOTE_PORT", nul(e.RemotePort)},
		kv{"SERVER_PROTOCOL", proto},
		kv{"REQUEST_METHOD", nul(r.Method)},
		kv{"QUERY_STRING", query},
		kv{"REQUEST_URI", nul(r.URI)},
	)
	if !e.SplitPathInfo {
		return append(env, kv{"SCRIPT_NAME", nul(e.DecodedPath)})
	}
	info := nul(rest)
	if !strings.HasPrefix(info, "/") {
		info = "/" + info
	}
	return append(env, kv{"SCRIPT_NAME", strings.TrimSuffix(nul(pre), "/")}, kv{"PATH_INFO", info})
}

func hasName(env []kv, name string) bool {
	_, ok := lookup(env, name)
	return ok
}

func equalKV(a, b []kv) bool {
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

func indexOf(s []string, x string) int {
	for i, v := range s {
		if v == x {
			return i
		}
	}
	return -1
}
