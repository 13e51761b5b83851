package loop_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/bench/backend/app"
	"github.com/scgate/scgate/loop"
	"github.com/scgate/scgate/pool"
)

// ioTimeout bounds every socket operation of a test, so a gateway bug fails
// the test instead of hanging it.
const ioTimeout = 60 * time.Second

// ---- fixtures ----

// startApp runs the sample SCGI backend on addr ("127.0.0.1:0" or "unix:/path").
func startApp(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := app.Listen(addr)
	if err != nil {
		t.Fatalf("backend listen %s: %v", addr, err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Serve(ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("app.Serve: %v", err)
		}
	})
	return ln
}

// freeAddr returns a 127.0.0.1 address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func mustBackend(t *testing.T, url string) *pool.Backend {
	t.Helper()
	b, err := pool.ParseBackend(url)
	if err != nil {
		t.Fatalf("ParseBackend(%q): %v", url, err)
	}
	return b
}

// startGateway runs a gateway with cfg (Listen and Loops filled in when empty)
// and returns its address.
func startGateway(t *testing.T, cfg loop.Config) string {
	t.Helper()
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	pick := cfg.Listen == ""
	var err error
	for try := 0; try < 3; try++ {
		if pick {
			cfg.Listen = freeAddr(t)
		}
		var s *loop.Server
		s, err = loop.New(cfg)
		if err != nil {
			t.Fatalf("loop.New: %v", err)
		}
		if err = s.Start(); err != nil {
			if pick {
				continue // the port went to someone else meanwhile
			}
			break
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Stop(ctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
		return s.Addr()
	}
	t.Fatalf("gateway Start on %s: %v", cfg.Listen, err)
	return ""
}

// fixture is a gateway with /scgi-bin/ mapped to a TCP sample backend.
type fixture struct {
	gw      string        // gateway host:port
	backend string        // backend host:port
	b       *pool.Backend // the /scgi-bin/ backend, for its counters
}

func newFixture(t *testing.T, tweak func(cfg *loop.Config, backend string)) *fixture {
	t.Helper()
	be := startApp(t, "127.0.0.1:0").Addr().String()
	b := mustBackend(t, "scgi://"+be+"/")
	cfg := loop.Config{Mappings: []loop.Mapping{{Prefix: "/scgi-bin/", Backend: b}}}
	if tweak != nil {
		tweak(&cfg, be)
	}
	return &fixture{gw: startGateway(t, cfg), backend: be, b: b}
}

func (f *fixture) url(path string) string { return "http://" + f.gw + path }

// newClient is a keep-alive client that does not follow redirects.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       2 * ioTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp, body
}

// ---- raw connections ----

type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) localPort() string {
	return strconv.Itoa(r.c.LocalAddr().(*net.TCPAddr).Port)
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// read reads one response to a request with method and its whole body.
func (r *rawConn) read(method string) (*http.Response, []byte) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("reading response to %s: %v", method, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("reading body of %q: %v", resp.Status, err)
	}
	return resp, body
}

// env reads a response of the env route.
func (r *rawConn) env(method string) *envReply {
	r.t.Helper()
	resp, body := r.read(method)
	return parseEnv(r.t, resp, body)
}

// expectClosed asserts the peer closes the connection without sending more.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	n, err := r.br.Read(b[:])
	switch {
	case n > 0:
		rest, _ := r.br.Peek(r.br.Buffered())
		r.t.Fatalf("want the connection closed, got more bytes: %q", append(b[:n], rest...))
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	default:
		r.t.Fatalf("want the connection closed, got %v", err)
	}
}

// ---- the env route ----

type envReply struct {
	Vars       [][2]string `json:"vars"`
	BodyLen    int64       `json:"body_len"`
	BodySHA256 string      `json:"body_sha256"`
}

func parseEnv(t *testing.T, resp *http.Response, body []byte) *envReply {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("env: status %q, body %q", resp.Status, body)
	}
	var e envReply
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("env: %v in %q", err, body)
	}
	if len(e.Vars) < 2 || e.Vars[0][0] != "CONTENT_LENGTH" || e.Vars[1] != [2]string{"SCGI", "1"} {
		t.Errorf("env: want CONTENT_LENGTH first and SCGI=1 second, got %q", e.Vars)
	}
	seen := map[string]bool{}
	for _, kv := range e.Vars {
		if seen[kv[0]] {
			t.Errorf("env: %s sent twice: %q", kv[0], e.Vars)
		}
		seen[kv[0]] = true
	}
	return &e
}

func (e *envReply) get(name string) (string, bool) {
	for _, kv := range e.Vars {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

// check asserts the named variables hold these values ("" name absent when
// listed in absent).
func (e *envReply) check(t *testing.T, want map[string]string, absent []string) {
	t.Helper()
	for name, v := range want {
		got, ok := e.get(name)
		if !ok {
			t.Errorf("%s missing (want %q)", name, v)
		} else if got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	for _, name := range absent {
		if got, ok := e.get(name); ok {
			t.Errorf("%s = %q, want it absent", name, got)
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// patternSHA is the SHA-256 of the first n bytes of the bytes route's stream.
func patternSHA(t *testing.T, n int64) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, app.PatternReader(n)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ---- 1. CGI variables ----

func TestCGIVariablesGet(t *testing.T) {
	f := newFixture(t, func(cfg *loop.Config, _ string) {
		cfg.ServerSoftware = "scgate-e2e"
		cfg.ServerAdmin = "ops@example.com"
		cfg.DocumentRoot = "/srv/e2e"
	})
	rc := dialRaw(t, f.gw)
	rc.send("GET /scgi-bin/app/env?y=1&z=%41+b HTTP/1.1\r\n" +
		"Host: example.com\r\n" +
		"User-Agent: e2e/1.0\r\n" +
		"Accept: */*\r\n" +
		"Content-Type: text/x-e2e\r\n" +
		"X-Trace-Id: abc-123\r\n" +
		"\r\n")
	e := rc.env("GET")

	want := [][2]string{
		{"CONTENT_LENGTH", "0"},
		{"SCGI", "1"},
		{"HTTP_HOST", "example.com"},
		{"HTTP_USER_AGENT", "e2e/1.0"},
		{"HTTP_ACCEPT", "*/*"},
		{"HTTP_X_TRACE_ID", "abc-123"},
		{"CONTENT_TYPE", "text/x-e2e"},
		{"SERVER_SOFTWARE", "scgate-e2e"},
		{"SERVER_NAME", "example.com"},
		{"SERVER_ADDR", "127.0.0.1"},
		{"SERVER_PORT", "80"}, // Host has no port: the scheme's, as Apache (not the port we listen on)
		{"REMOTE_ADDR", "127.0.0.1"},
		{"DOCUMENT_ROOT", "/srv/e2e"},
		{"REQUEST_SCHEME", "http"},
		{"CONTEXT_PREFIX", ""},
		{"CONTEXT_DOCUMENT_ROOT", "/srv/e2e"},
		{"SERVER_ADMIN", "ops@example.com"},
		{"SCRIPT_FILENAME", "proxy:scgi://" + f.backend + "/app/env"},
		{"REMOTE_PORT", rc.localPort()},
		{"SERVER_PROTOCOL", "HTTP/1.1"},
		{"REQUEST_METHOD", "GET"},
		{"QUERY_STRING", "y=1&z=%41+b"},
		{"REQUEST_URI", "/scgi-bin/app/env?y=1&z=%41+b"},
		{"SCRIPT_NAME", "/scgi-bin/app/env"},
	}
	// Every expected variable with its value, and nothing else.
	wantMap := map[string]string{}
	for _, kv := range want {
		wantMap[kv[0]] = kv[1]
	}
	e.check(t, wantMap, []string{"PATH_INFO", "HTTP_CONTENT_TYPE", "GATEWAY_INTERFACE"})
	for _, kv := range e.Vars {
		if _, ok := wantMap[kv[0]]; !ok {
			t.Errorf("unexpected variable %s=%q", kv[0], kv[1])
		}
	}
	// Header variables keep the request's order.
	var headerOrder []string
	for _, kv := range e.Vars {
		if strings.HasPrefix(kv[0], "HTTP_") {
			headerOrder = append(headerOrder, kv[0])
		}
	}
	if got, wantOrder := strings.Join(headerOrder, ","), "HTTP_HOST,HTTP_USER_AGENT,HTTP_ACCEPT,HTTP_X_TRACE_ID"; got != wantOrder {
		t.Errorf("header variables in order %s, want %s", got, wantOrder)
	}
	if e.BodyLen != 0 {
		t.Errorf("body_len %d, want 0", e.BodyLen)
	}
}

func TestCGIServerName(t *testing.T) {
	f := newFixture(t, func(cfg *loop.Config, _ string) { cfg.ServerName = "gw.example" })

	// UseCanonicalName Off: the name and port the client asked for.
	for _, tc := range []struct {
		name, req string
		want      map[string]string
	}{
		{"host with port", "GET /scgi-bin/env HTTP/1.1\r\nHost: www.example.com:8081\r\n\r\n", map[string]string{
			"HTTP_HOST": "www.example.com:8081", "SERVER_NAME": "www.example.com", "SERVER_PORT": "8081",
			"QUERY_STRING": "", "REQUEST_URI": "/scgi-bin/env",
		}},
		{"IPv6 host", "GET /scgi-bin/env HTTP/1.1\r\nHost: [::1]:8082\r\n\r\n", map[string]string{
			"HTTP_HOST": "[::1]:8082", "SERVER_NAME": "[::1]", "SERVER_PORT": "8082",
		}},
		{"no Host in HTTP/1.0", "GET /scgi-bin/env? HTTP/1.0\r\n\r\n", map[string]string{
			"SERVER_NAME": "gw.example", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.0",
			"QUERY_STRING": "", "REQUEST_URI": "/scgi-bin/env?",
		}},
		{"absolute form", "GET http://abs.example:9000/scgi-bin/env?q HTTP/1.1\r\nHost: other.example\r\n\r\n", map[string]string{
			"HTTP_HOST": "other.example", "SERVER_NAME": "abs.example", "SERVER_PORT": "9000",
			"QUERY_STRING": "q", "SCRIPT_NAME": "/scgi-bin/env",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, f.gw)
			rc.send(tc.req)
			rc.env("GET").check(t, tc.want, nil)
		})
	}
}

func TestScriptFilenameDefaultPort(t *testing.T) {
	b := mustBackend(t, "scgi://127.0.0.1:4000/")
	if b.ScriptFilenameBase != "proxy:scgi://127.0.0.1/" {
		t.Errorf("ScriptFilenameBase for port 4000 = %q, want proxy:scgi://127.0.0.1/", b.ScriptFilenameBase)
	}
	// End to end too when 4000 is free on this machine.
	ln, err := app.Listen("127.0.0.1:4000")
	if err != nil {
		t.Logf("port 4000 busy (%v): checked ParseBackend only", err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- app.Serve(ln) }()
	t.Cleanup(func() { ln.Close(); <-done })
	gw := startGateway(t, loop.Config{Mappings: []loop.Mapping{{Prefix: "/scgi-bin/", Backend: b}}})
	resp, body := get(t, newClient(t), "http://"+gw+"/scgi-bin/x/env")
	parseEnv(t, resp, body).check(t, map[string]string{"SCRIPT_FILENAME": "proxy:scgi://127.0.0.1/x/env"}, nil)
}

func TestCGIVariablesPOST(t *testing.T) {
	f := newFixture(t, nil)
	c := newClient(t)
	body := "name=value&x=%20y"
	resp, err := c.Post(f.url("/scgi-bin/env"), "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	e := parseEnv(t, resp, rb)
	e.check(t, map[string]string{
		"CONTENT_LENGTH": strconv.Itoa(len(body)),
		"CONTENT_TYPE":   "application/x-www-form-urlencoded",
		"REQUEST_METHOD": "POST",
	}, []string{"HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"})
	if e.BodyLen != int64(len(body)) || e.BodySHA256 != sha([]byte(body)) {
		t.Errorf("backend got body of %d bytes sha %s, want %d bytes sha %s", e.BodyLen, e.BodySHA256, len(body), sha([]byte(body)))
	}
}

func TestCGIVariablesChunkedPOST(t *testing.T) {
	f := newFixture(t, nil)
	rc := dialRaw(t, f.gw)
	rc.send("POST /scgi-bin/env HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\n" +
		"7;ext=1\r\n, world\r\n" +
		"0\r\nX-Trailer: t\r\n\r\n")
	e := rc.env("POST")
	const body = "hello, world"
	e.check(t, map[string]string{
		"CONTENT_LENGTH": strconv.Itoa(len(body)),
		"CONTENT_TYPE":   "text/plain",
	}, []string{"HTTP_TRANSFER_ENCODING", "HTTP_CONTENT_LENGTH"})
	if e.BodyLen != int64(len(body)) || e.BodySHA256 != sha([]byte(body)) {
		t.Errorf("backend got %d bytes sha %s, want %d bytes sha %s", e.BodyLen, e.BodySHA256, len(body), sha([]byte(body)))
	}
	// The connection carries on.
	rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, b := rc.read("GET"); resp.StatusCode != 200 || string(b) != "Hello, world!\n" {
		t.Errorf("after chunked POST: %q %q", resp.Status, b)
	}
}

func TestExpect100Continue(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct{ name, framing, body string }{
		{"content-length", "Content-Length: 11\r\n", "hello world"},
		{"chunked", "Transfer-Encoding: chunked\r\n", "b\r\nhello world\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, f.gw)
			rc.send("POST /scgi-bin/env HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + tc.framing + "\r\n")
			// Nothing of the body has been sent: only the interim answer can come.
			resp, err := http.ReadResponse(rc.br, &http.Request{Method: "POST"})
			if err != nil {
				t.Fatalf("waiting for 100 Continue: %v", err)
			}
			if resp.StatusCode != 100 || resp.Proto != "HTTP/1.1" {
				t.Fatalf("interim response %q %q, want HTTP/1.1 100 Continue", resp.Proto, resp.Status)
			}
			rc.send(tc.body)
			e := rc.env("POST")
			if e.BodyLen != 11 || e.BodySHA256 != sha([]byte("hello world")) {
				t.Errorf("backend got %d bytes sha %s", e.BodyLen, e.BodySHA256)
			}
			e.check(t, map[string]string{"CONTENT_LENGTH": "11", "HTTP_EXPECT": "100-continue"}, nil)
		})
	}
}

func TestCGIHeaderRules(t *testing.T) {
	f := newFixture(t, func(cfg *loop.Config, be string) {
		cfg.Mappings = append(cfg.Mappings,
			loop.Mapping{Prefix: "/auth/", Backend: mustBackend(t, "scgi://"+be+"/"), PassAuth: true},
			loop.Mapping{Prefix: "/app/", Backend: mustBackend(t, "scgi://"+be+"/"), SplitPathInfo: true},
		)
	})
	const headers = "Host: x\r\n" +
		"X-Multi: a\r\n" +
		"Accept: text/html\r\n" +
		"X-Multi: b, c\r\n" +
		"Cookie: a=1\r\n" +
		"Cookie: b=2\r\n" +
		"X_Under: evil\r\n" +
		"X-Under: good\r\n" +
		"Proxy: http://evil.example/\r\n" +
		"Authorization: Basic dXNlcjpwYXNz\r\n" +
		"\r\n"
	tests := []struct {
		name   string
		target string
		want   map[string]string
		absent []string
	}{
		{
			name:   "joins, drops",
			target: "/scgi-bin/env",
			want: map[string]string{
				"HTTP_X_MULTI": "a, b, c",
				"HTTP_COOKIE":  "a=1; b=2",
				"HTTP_X_UNDER": "good",
				"HTTP_ACCEPT":  "text/html",
				"SCRIPT_NAME":  "/scgi-bin/env",
			},
			absent: []string{"HTTP_PROXY", "HTTP_AUTHORIZATION", "PATH_INFO"},
		},
		{
			name:   "PassAuth",
			target: "/auth/env",
			want:   map[string]string{"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz", "HTTP_X_UNDER": "good"},
			absent: []string{"HTTP_PROXY"},
		},
		{
			name:   "SplitPathInfo",
			target: "/app/rest/env?q=1",
			want: map[string]string{
				"SCRIPT_NAME":     "/app",
				"PATH_INFO":       "/rest/env",
				"REQUEST_URI":     "/app/rest/env?q=1",
				"QUERY_STRING":    "q=1",
				"SCRIPT_FILENAME": "proxy:scgi://" + f.backend + "/rest/env",
			},
			absent: []string{"HTTP_AUTHORIZATION"},
		},
		{
			name:   "percent-encoded path",
			target: "/scgi-bin/caf%C3%A9%20au%20lait/env?a=%2F",
			want: map[string]string{
				"SCRIPT_NAME":     "/scgi-bin/café au lait/env",
				"REQUEST_URI":     "/scgi-bin/caf%C3%A9%20au%20lait/env?a=%2F",
				"QUERY_STRING":    "a=%2F",
				"SCRIPT_FILENAME": "proxy:scgi://" + f.backend + "/caf%C3%A9%20au%20lait/env",
			},
			absent: []string{"PATH_INFO"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, f.gw)
			rc.send("GET " + tc.target + " HTTP/1.1\r\n" + headers)
			rc.env("GET").check(t, tc.want, tc.absent)
		})
	}
}

// ---- 2. routing ----

func TestRouting(t *testing.T) {
	tcpBE := startApp(t, "127.0.0.1:0").Addr().String()
	sock := filepath.Join(t.TempDir(), "app.sock")
	startApp(t, "unix:"+sock)
	gw := startGateway(t, loop.Config{Mappings: []loop.Mapping{
		{Prefix: "/scgi-bin/", Backend: mustBackend(t, "scgi://"+tcpBE+"/")},
		{Prefix: "/scgi-bin/special/", Backend: mustBackend(t, "unix:"+sock+"|scgi://localhost/")},
		{Prefix: "/u/", Backend: mustBackend(t, "unix:"+sock+"|scgi://localhost/base/")},
	}})
	c := newClient(t)
	for _, tc := range []struct {
		path, scriptFilename string
	}{
		{"/scgi-bin/env", "proxy:scgi://" + tcpBE + "/env"},
		{"/scgi-bin/specialist/env", "proxy:scgi://" + tcpBE + "/specialist/env"},
		{"/scgi-bin/special/env", "proxy:scgi://localhost/env"},
		{"/scgi-bin/special/deeper/env", "proxy:scgi://localhost/deeper/env"},
		{"/u/env", "proxy:scgi://localhost/base/env"},
	} {
		resp, body := get(t, c, "http://"+gw+tc.path)
		e := parseEnv(t, resp, body)
		if got, _ := e.get("SCRIPT_FILENAME"); got != tc.scriptFilename {
			t.Errorf("%s: SCRIPT_FILENAME %q, want %q (wrong mapping?)", tc.path, got, tc.scriptFilename)
		}
	}
	for _, path := range []string{"/", "/other/hello", "/scgi-bin", "/SCGI-BIN/hello", "/u"} {
		if resp, body := get(t, c, "http://"+gw+path); resp.StatusCode != 404 {
			t.Errorf("GET %s: %q %q, want 404", path, resp.Status, body)
		}
	}
	// The unix backend serves ordinary routes too.
	if resp, body := get(t, c, "http://"+gw+"/scgi-bin/special/hello"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
		t.Errorf("unix backend hello: %q %q", resp.Status, body)
	}
}

// ---- 3. connections ----

func TestKeepAliveSequential(t *testing.T) {
	f := newFixture(t, nil)
	rc := dialRaw(t, f.gw)
	for i := range 5 {
		rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || string(body) != "Hello, world!\n" || resp.Close {
			t.Fatalf("request %d: %q close=%v %q", i, resp.Status, resp.Close, body)
		}
	}
	rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp, _ := rc.read("GET"); resp.StatusCode != 200 || !resp.Close {
		t.Errorf("Connection: close request: %q close=%v", resp.Status, resp.Close)
	}
	rc.expectClosed()
}

func TestPipelining(t *testing.T) {
	f := newFixture(t, nil)
	rc := dialRaw(t, f.gw)
	const n = 100000
	rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /scgi-bin/env?i=2 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /scgi-bin/bytes?n=100000 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde" +
		"GET /scgi-bin/bytes?n=100000&cl=0 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"HEAD /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /scgi-bin/env?i=7 HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
		t.Fatalf("1: %q %q", resp.Status, body)
	}
	rc.env("GET").check(t, map[string]string{"QUERY_STRING": "i=2"}, nil)
	want := patternSHA(t, n)
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || len(body) != n || sha(body) != want {
		t.Fatalf("3: %q, %d bytes, sha match %v", resp.Status, len(body), sha(body) == want)
	}
	if resp, body := rc.read("POST"); resp.StatusCode != 200 || string(body) != "abcde" {
		t.Fatalf("4: %q %q", resp.Status, body)
	}
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || len(body) != n || sha(body) != want {
		t.Fatalf("5: %q, %d bytes, chunked %v", resp.Status, len(body), resp.TransferEncoding)
	}
	if resp, body := rc.read("HEAD"); resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("6: %q %q", resp.Status, body)
	}
	rc.env("GET").check(t, map[string]string{"QUERY_STRING": "i=7"}, nil)
}

func TestHTTP10(t *testing.T) {
	f := newFixture(t, nil)
	t.Run("close", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET /scgi-bin/hello HTTP/1.0\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
			t.Fatalf("%q %q", resp.Status, body)
		}
		rc.expectClosed()
	})
	t.Run("no length", func(t *testing.T) {
		// Without a Content-Length the body of an HTTP/1.0 answer ends with the connection.
		rc := dialRaw(t, f.gw)
		rc.send("GET /scgi-bin/bytes?n=300000&cl=0 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || len(resp.TransferEncoding) != 0 || len(body) != 300000 || sha(body) != patternSHA(t, 300000) {
			t.Fatalf("%q te=%v, %d bytes", resp.Status, resp.TransferEncoding, len(body))
		}
		rc.expectClosed()
	})
	t.Run("keep-alive", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		for i := range 3 {
			rc.send("GET /scgi-bin/env HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			resp, body := rc.read("GET")
			if got := resp.Header.Get("Connection"); !strings.EqualFold(got, "keep-alive") {
				t.Fatalf("request %d: Connection %q, want keep-alive", i, got)
			}
			e := parseEnv(t, resp, body)
			e.check(t, map[string]string{"SERVER_PROTOCOL": "HTTP/1.0", "HTTP_CONNECTION": "keep-alive"}, []string{"HTTP_HOST"})
		}
		rc.send("GET /scgi-bin/hello HTTP/1.0\r\n\r\n")
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
			t.Fatalf("last: %q %q", resp.Status, body)
		}
		rc.expectClosed()
	})
}

func TestNoBodyResponses(t *testing.T) {
	f := newFixture(t, nil)
	rc := dialRaw(t, f.gw)
	for _, tc := range []struct {
		method, target string
		status         int
	}{
		{"HEAD", "/scgi-bin/hello", 200},
		{"HEAD", "/scgi-bin/bytes?n=70000&cl=0", 200},
		{"GET", "/scgi-bin/status?code=204", 204},
		{"GET", "/scgi-bin/status?code=304", 304},
		{"HEAD", "/scgi-bin/status?code=404", 404},
		{"HEAD", "/unmapped", 404},
	} {
		rc.send(tc.method + " " + tc.target + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read(tc.method)
		if resp.StatusCode != tc.status || len(body) != 0 {
			t.Errorf("%s %s: %q body %q, want %d and no body", tc.method, tc.target, resp.Status, body, tc.status)
		}
		if tc.status == 204 || tc.status == 304 {
			if len(resp.TransferEncoding) != 0 || resp.Header.Get("Content-Length") != "" {
				t.Errorf("%s: framing headers on a bodiless status: te=%v cl=%q", tc.target, resp.TransferEncoding, resp.Header.Get("Content-Length"))
			}
		}
		if tc.target == "/scgi-bin/hello" && resp.Header.Get("Content-Length") != "14" {
			t.Errorf("HEAD hello: Content-Length %q, want the backend's 14", resp.Header.Get("Content-Length"))
		}
		// Any leaked body byte would break the next response on this connection.
		rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
			t.Fatalf("after %s %s: %q %q", tc.method, tc.target, resp.Status, body)
		}
	}
}

// ---- 4. large bodies ----

func TestLargeBodies(t *testing.T) {
	f := newFixture(t, nil)
	c := newClient(t)
	const n = 100 << 20
	want := patternSHA(t, n)

	t.Run("request", func(t *testing.T) {
		postSHA(t, c, f.url("/scgi-bin/sha256"), n, want)
	})
	for _, tc := range []struct {
		name, query string
		chunked     bool
	}{
		{"response content-length", "", false},
		{"response chunked", "&cl=0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Get(f.url("/scgi-bin/bytes?n=" + strconv.Itoa(n) + tc.query))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h := sha256.New()
			got, err := io.Copy(h, resp.Body)
			if err != nil {
				t.Fatalf("after %d bytes: %v", got, err)
			}
			if resp.StatusCode != 200 || got != n || hex.EncodeToString(h.Sum(nil)) != want {
				t.Errorf("%q: %d bytes, sha match %v", resp.Status, got, hex.EncodeToString(h.Sum(nil)) == want)
			}
			if isChunked := len(resp.TransferEncoding) > 0; isChunked != tc.chunked || !tc.chunked && resp.ContentLength != n {
				t.Errorf("framing: te=%v content-length=%d", resp.TransferEncoding, resp.ContentLength)
			}
		})
	}
}

// ---- 5. backend failures ----

func TestBackendFailures(t *testing.T) {
	down := freeAddr(t)
	f := newFixture(t, func(cfg *loop.Config, _ string) {
		cfg.ResponseTimeout = 500 * time.Millisecond
		cfg.Mappings = append(cfg.Mappings, loop.Mapping{Prefix: "/down/", Backend: mustBackend(t, "scgi://"+down+"/")})
	})
	c := newClient(t)
	for _, tc := range []struct {
		path   string
		status string
		body   string // "" for any
		header [2]string
	}{
		{path: "/down/hello", status: "503 Service Unavailable"},
		{path: "/scgi-bin/garbage", status: "502 Bad Gateway"},
		{path: "/scgi-bin/silent", status: "504 Gateway Timeout"},
		{path: "/scgi-bin/nph", status: "200 OK", body: "nph\n"},
		{path: "/scgi-bin/lf", status: "200 OK", body: "lf\n"},
		{path: "/scgi-bin/nocl", status: "200 OK", body: "no content length\n"},
		{path: "/scgi-bin/status?code=404", status: "404 Not Found", body: "status 404\n"},
		{path: "/scgi-bin/status?code=503", status: "503 Service Unavailable", body: "status 503\n"},
		{path: "/scgi-bin/location?to=http://x/y", status: "302 Found", header: [2]string{"Location", "http://x/y"}},
		// A local Location on a 200 is an internal redirect (ProxySCGIInternalRedirect On): /local is unmapped.
		{path: "/scgi-bin/location?to=/local", status: "404 Not Found"},
		{path: "/scgi-bin/location?to=/scgi-bin/hello", status: "200 OK", body: "Hello, world!\n"},
		{path: "/scgi-bin/cookies", status: "200 OK", body: "cookies\n", header: [2]string{"X-Custom", "yes"}},
		{path: "/scgi-bin/headers?n=50", status: "200 OK", body: "headers 50\n", header: [2]string{"X-H-49", "value"}},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			resp, body := get(t, c, f.url(tc.path))
			if resp.Status != tc.status {
				t.Errorf("status %q, want %q (body %q)", resp.Status, tc.status, body)
			}
			if tc.body != "" && string(body) != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if tc.header[0] != "" && resp.Header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s: %q, want %q", tc.header[0], resp.Header.Get(tc.header[0]), tc.header[1])
			}
			if tc.path == "/scgi-bin/cookies" {
				if got := resp.Header.Values("Set-Cookie"); len(got) != 2 || got[0] != "a=1" || got[1] != "b=2" {
					t.Errorf("Set-Cookie %q, want [a=1 b=2]", got)
				}
			}
		})
	}

	t.Run("closemid", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET /scgi-bin/closemid HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(rc.br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.ContentLength != 1000000 {
			t.Fatalf("%q content-length %d", resp.Status, resp.ContentLength)
		}
		got, err := io.Copy(io.Discard, resp.Body)
		if got >= 1000000 || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read %d bytes, err %v: want a short body cut by the connection closing", got, err)
		}
	})

	t.Run("expect-continue to a down backend", func(t *testing.T) {
		// No 100 Continue for a request that cannot be served: the final status comes first.
		rc := dialRaw(t, f.gw)
		rc.send("POST /down/hello HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		resp, _ := rc.read("POST")
		if resp.StatusCode != 503 {
			t.Errorf("%q, want 503", resp.Status)
		}
	})

	t.Run("early", func(t *testing.T) {
		// The backend answers 413 without reading the 1 MiB body.
		rc := dialRaw(t, f.gw)
		rc.send("POST /scgi-bin/early HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
		go rc.c.Write(make([]byte, 1<<20)) //nolint:errcheck // may fail once the gateway closes
		resp, body := rc.read("POST")
		if resp.StatusCode != 413 || string(body) != "request entity too large\n" {
			t.Errorf("%q %q, want the backend's 413", resp.Status, body)
		}
	})

	// The gateway still serves after all of that.
	if resp, body := get(t, c, f.url("/scgi-bin/hello")); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
		t.Errorf("hello after failures: %q %q", resp.Status, body)
	}
}

// ---- 6. malformed requests ----

func TestMalformedRequests(t *testing.T) {
	f := newFixture(t, func(cfg *loop.Config, _ string) {
		cfg.MaxBody = 1000
		cfg.MaxChunkedBody = 1000
	})
	manyHeaders := ""
	for i := range 101 {
		manyHeaders += fmt.Sprintf("X-H-%d: v\r\n", i)
	}
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"obs-fold", "GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"CL and TE", "POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"two CLs", "POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef", 400},
		{"bad CL", "POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nabcde", 400},
		{"negative CL", "POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"TE gzip", "POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nxx", 400},
		{"TE gzip, chunked", "POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400},
		{"NUL in value", "GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"no Host", "GET /scgi-bin/hello HTTP/1.1\r\nUser-Agent: x\r\n\r\n", 400},
		{"two Hosts", "GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"bad escape", "GET /scgi-bin/%zz/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400},
		{"long request line", "GET /scgi-bin/" + strings.Repeat("a", 8200) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"long header", "GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 8200) + "\r\n\r\n", 431},
		{"101 headers", "GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n" + manyHeaders + "\r\n", 431},
		{"CL over MaxBody", "POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413},
		{"chunked over MaxChunkedBody", "POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"1f4\r\n" + strings.Repeat("c", 500) + "\r\n1f4\r\n" + strings.Repeat("c", 500) + "\r\n1f4\r\n" + strings.Repeat("c", 500) + "\r\n0\r\n\r\n", 413},
		{"bad chunk size", "POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
		{"HTTP/2.0", "GET /scgi-bin/hello HTTP/2.0\r\nHost: x\r\n\r\n", 505},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, f.gw)
			rc.send(tc.req)
			resp, _ := rc.read("GET")
			if resp.StatusCode != tc.status {
				t.Errorf("status %q, want %d", resp.Status, tc.status)
			}
			rc.expectClosed()
			// Others are unaffected.
			ok := dialRaw(t, f.gw)
			ok.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, body := ok.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
				t.Fatalf("fresh connection after %s: %q %q", tc.name, resp.Status, body)
			}
		})
	}
	t.Run("within limits", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		body := strings.Repeat("d", 1000)
		rc.send("POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + body)
		if resp, got := rc.read("POST"); resp.StatusCode != 200 || string(got) != body {
			t.Errorf("1000-byte body: %q, %d bytes", resp.Status, len(got))
		}
		rc.send("POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + body + "\r\n0\r\n\r\n")
		if resp, got := rc.read("POST"); resp.StatusCode != 200 || string(got) != body {
			t.Errorf("1000-byte chunked body: %q, %d bytes", resp.Status, len(got))
		}
	})
}

// ---- 7. timeouts ----

func TestClientTimeouts(t *testing.T) {
	f := newFixture(t, func(cfg *loop.Config, _ string) {
		cfg.HeaderTimeout = 300 * time.Millisecond
		cfg.IdleTimeout = 300 * time.Millisecond
	})
	t.Run("partial head", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET /scgi-bin/hel")
		resp, _ := rc.read("GET")
		if resp.StatusCode != 408 {
			t.Errorf("status %q, want 408", resp.Status)
		}
		rc.expectClosed()
	})
	t.Run("partial body", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("POST /scgi-bin/sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
		resp, _ := rc.read("POST")
		if resp.StatusCode != 408 {
			t.Errorf("status %q, want 408", resp.Status)
		}
		rc.expectClosed()
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
			t.Fatalf("%q %q", resp.Status, body)
		}
		rc.expectClosed()
	})
	t.Run("silent connection", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.expectClosed()
	})
}

// ---- 8. concurrency ----

func TestConcurrentClients(t *testing.T) {
	f := newFixture(t, nil)
	const workers, perWorker = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DisableCompression: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: ioTimeout}
			errs <- clientRun(c, f, w, perWorker)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func clientRun(c *http.Client, f *fixture, w, n int) error {
	for i := range n {
		var (
			resp *http.Response
			err  error
			body = fmt.Sprintf("worker %d request %d %s", w, i, strings.Repeat("x", (w*n+i)%3000))
		)
		switch i % 3 {
		case 0:
			resp, err = c.Get(f.url("/scgi-bin/hello"))
		case 1:
			resp, err = c.Get(f.url(fmt.Sprintf("/scgi-bin/env?w=%d&i=%d", w, i)))
		case 2:
			resp, err = c.Post(f.url("/scgi-bin/echo"), "text/plain", strings.NewReader(body))
		}
		if err != nil {
			return fmt.Errorf("worker %d request %d: %v", w, i, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("worker %d request %d: body: %v", w, i, err)
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("worker %d request %d: %q %q", w, i, resp.Status, got)
		}
		switch i % 3 {
		case 0:
			if string(got) != "Hello, world!\n" {
				return fmt.Errorf("worker %d request %d: hello %q", w, i, got)
			}
		case 1:
			var e envReply
			if err := json.Unmarshal(got, &e); err != nil {
				return fmt.Errorf("worker %d request %d: env %v", w, i, err)
			}
			if q, _ := e.get("QUERY_STRING"); q != fmt.Sprintf("w=%d&i=%d", w, i) {
				return fmt.Errorf("worker %d request %d: QUERY_STRING %q (crossed requests?)", w, i, q)
			}
		case 2:
			if !bytes.Equal(got, []byte(body)) {
				return fmt.Errorf("worker %d request %d: echo %d bytes, want %d", w, i, len(got), len(body))
			}
		}
	}
	return nil
}

// ---- backpressure and clients that go away ----

// waitIdle waits until no request is in flight on b: every upstream of the
// gateway was released. It fails the test if that does not happen.
func waitIdle(t *testing.T, b *pool.Backend) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for b.Stats().InFlight != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("backend %s: requests still in flight: %+v", b.URL, b.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func checkHello(t *testing.T, gw string) {
	t.Helper()
	rc := dialRaw(t, gw)
	rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
		t.Fatalf("hello: %q %q", resp.Status, body)
	}
}

// TestEchoBothDirections streams a large body through echo while reading the
// answer: both directions are bounded by backpressure, neither may deadlock
// or lose a byte.
func TestEchoBothDirections(t *testing.T) {
	// A stalled exchange ends in ResponseTimeout rather than the test's deadline.
	f := newFixture(t, func(cfg *loop.Config, _ string) { cfg.ResponseTimeout = 5 * time.Second })
	const n = 48 << 20
	rc := dialRaw(t, f.gw)
	rc.send(fmt.Sprintf("POST /scgi-bin/echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n))
	werr := make(chan error, 1)
	go func() {
		_, err := io.Copy(rc.c, app.PatternReader(n))
		werr <- err
	}()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	// Sip at first so that the answer backs up while the body is still
	// coming: the gateway must then hold back both directions at once.
	var got int64
	buf := make([]byte, 32<<10)
	for range 200 {
		m, err := io.ReadFull(resp.Body, buf)
		h.Write(buf[:m])
		got += int64(m)
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		time.Sleep(time.Millisecond)
	}
	m, err := io.Copy(h, resp.Body)
	got += m
	if err != nil {
		t.Fatalf("after %d of %d bytes: %v (backend stats %+v)", got, n, err, f.b.Stats())
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing body: %v", err)
	}
	if resp.StatusCode != 200 || got != n || hex.EncodeToString(h.Sum(nil)) != patternSHA(t, n) {
		t.Fatalf("%q: echoed %d bytes, sha match %v", resp.Status, got, hex.EncodeToString(h.Sum(nil)) == patternSHA(t, n))
	}
	checkHello(t, f.gw)
	waitIdle(t, f.b)
}

// TestSlowReader reads a large answer in small sips first, so the gateway
// has to park the backend and bring it back, then reads the rest.
func TestSlowReader(t *testing.T) {
	f := newFixture(t, nil)
	const n = 24 << 20
	for _, q := range []string{"", "&cl=0"} {
		rc := dialRaw(t, f.gw)
		rc.send(fmt.Sprintf("GET /scgi-bin/bytes?n=%d%s HTTP/1.1\r\nHost: x\r\n\r\n", n, q))
		resp, err := http.ReadResponse(rc.br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		var got int64
		buf := make([]byte, 16<<10)
		for range 40 {
			m, err := io.ReadFull(resp.Body, buf)
			h.Write(buf[:m])
			got += int64(m)
			if err != nil {
				t.Fatalf("%s: after %d bytes: %v", q, got, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		m, err := io.Copy(h, resp.Body)
		got += m
		if err != nil {
			t.Fatalf("%s: after %d bytes: %v", q, got, err)
		}
		if got != n || hex.EncodeToString(h.Sum(nil)) != patternSHA(t, n) {
			t.Fatalf("%s: %d bytes, sha match %v", q, got, hex.EncodeToString(h.Sum(nil)) == patternSHA(t, n))
		}
		// The same connection serves the next request.
		rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
			t.Fatalf("%s: hello after slow read: %q %q", q, resp.Status, body)
		}
	}
	waitIdle(t, f.b)
}

// TestPipelinedBodies sends more than a megabyte of pipelined requests with
// bodies at once, so the gateway must hold the client back while each one is
// answered, and still answer all of them in order.
func TestPipelinedBodies(t *testing.T) {
	f := newFixture(t, nil)
	const reqs, size = 24, 128 << 10
	var all bytes.Buffer
	bodies := make([][]byte, reqs)
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte{byte('a' + i%26)}, size)
		fmt.Fprintf(&all, "POST /scgi-bin/echo?i=%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", i, size)
		all.Write(bodies[i])
		if i%4 == 3 {
			all.WriteString("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
		}
	}
	rc := dialRaw(t, f.gw)
	werr := make(chan error, 1)
	go func() {
		_, err := rc.c.Write(all.Bytes())
		werr <- err
	}()
	for i := range reqs {
		resp, body := rc.read("POST")
		if resp.StatusCode != 200 || !bytes.Equal(body, bodies[i]) {
			t.Fatalf("request %d: %q, %d bytes, equal %v", i, resp.Status, len(body), bytes.Equal(body, bodies[i]))
		}
		if i%4 == 3 {
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
				t.Fatalf("hello after %d: %q %q", i, resp.Status, body)
			}
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f.b)
}

// TestClientGoesAway closes the client at awkward moments; the gateway must
// release the backend side and go on serving.
func TestClientGoesAway(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name, req string
		readSome  int // bytes of the answer to read before closing
	}{
		{"during a large answer", "GET /scgi-bin/bytes?n=209715200 HTTP/1.1\r\nHost: x\r\n\r\n", 1 << 20},
		{"during a large chunked answer", "GET /scgi-bin/bytes?n=209715200&cl=0 HTTP/1.1\r\nHost: x\r\n\r\n", 1 << 20},
		{"during the body", "POST /scgi-bin/sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n" + strings.Repeat("z", 3<<20), 0},
		{"during a chunked body", "POST /scgi-bin/sha256 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n" + strings.Repeat("z", 1<<20) + "\r\n1000", 0},
		{"while the backend thinks", "GET /scgi-bin/silent HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"while the backend sleeps", "GET /scgi-bin/slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, f.gw)
			rc.send(tc.req)
			if tc.readSome > 0 {
				if _, err := io.ReadFull(rc.br, make([]byte, tc.readSome)); err != nil {
					t.Fatal(err)
				}
			} else {
				time.Sleep(50 * time.Millisecond) // let the request reach the backend
			}
			rc.c.Close()
			waitIdle(t, f.b)
			checkHello(t, f.gw)
		})
	}
}

// TestSendTimeout: a client that stops reading is dropped after SendTimeout
// and its backend connection released.
func TestSendTimeout(t *testing.T) {
	f := newFixture(t, func(cfg *loop.Config, _ string) { cfg.SendTimeout = 500 * time.Millisecond })
	const n = 1 << 30
	rc := dialRaw(t, f.gw)
	rc.send(fmt.Sprintf("GET /scgi-bin/bytes?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", n))
	// Read nothing until the gateway has given the request up.
	time.Sleep(100 * time.Millisecond)
	waitIdle(t, f.b)
	got, err := io.Copy(io.Discard, rc.br)
	if got >= n || err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %d bytes then %v: want a short answer ended by the gateway", got, err)
	}
	checkHello(t, f.gw)
}

// TestPathNormalisation routes on the normalised, decoded path.
func TestPathNormalisation(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		target     string
		status     int
		scriptName string
	}{
		{"/scgi-bin/./a/../env", 200, "/scgi-bin/env"},
		{"/scgi-bin//a///env", 200, "/scgi-bin/a/env"},
		{"/x/../scgi-bin/env", 200, "/scgi-bin/env"},
		{"/scgi-bin/%2e%2e/scgi-bin/env", 200, "/scgi-bin/env"},
		{"/scgi-bin/../secret/env", 404, ""},
		{"/scgi-bin/%2E%2E/secret/env", 404, ""},
		{"/scgi-bin/a%2Fb/env", 404, ""},
		{"/scgi-bin/../../env", 400, ""},
		{"/scgi-bin/a%00b/env", 400, ""},
	} {
		rc := dialRaw(t, f.gw)
		rc.send("GET " + tc.target + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %q, want %d", tc.target, resp.Status, tc.status)
			continue
		}
		if tc.status == 200 {
			parseEnv(t, resp, body).check(t, map[string]string{"SCRIPT_NAME": tc.scriptName, "REQUEST_URI": tc.target}, nil)
		}
	}
}

func TestResponseHeadInPieces(t *testing.T) {
	f := newFixture(t, nil)
	c := newClient(t)
	for range 3 {
		resp, err := c.Get(f.url("/scgi-bin/splithead"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "split\n" || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("head sent in three writes: %q %q %q", resp.Status, resp.Header, body)
		}
	}
}

// TestUploadWhileConnecting uploads a body larger than the pause threshold
// while the backend's connect is still in progress (its accept queue is full,
// so the first SYN is dropped and retried a second later). The body queued
// during the dial must not count as pending once it has been written, or the
// client stays paused until the body timeout.
func TestUploadWhileConnecting(t *testing.T) {
	ln := stalledListener(t)
	be := ln.Addr().String()
	served := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		served <- app.Serve(ln)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-served
	})

	gw := startGateway(t, loop.Config{
		Loops:       1,
		BodyTimeout: 10 * time.Second,
		Mappings:    []loop.Mapping{{Prefix: "/scgi-bin/", Backend: mustBackend(t, "scgi://"+be+"/")}},
	})
	const n = 32 << 20
	postSHA(t, newClient(t), "http://"+gw+"/scgi-bin/sha256", n, patternSHA(t, n))
}

// postSHA uploads n pattern bytes to the sample app's sha256 route and
// checks its answer: the length and the digest want.
func postSHA(t *testing.T, c *http.Client, url string, n int64, want string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, app.PatternReader(n))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = n
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%d %s\n", n, want); resp.StatusCode != 200 || string(body) != got {
		t.Errorf("%q %q, want 200 %q", resp.Status, body, got)
	}
}

// stalledListener listens with a full accept queue: a connect to it stays in
// SYN_SENT (the kernel drops the SYN and the client retries a second later)
// until someone accepts from it.
func stalledListener(t *testing.T) net.Listener {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "backlog0")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	for i := 0; i < 4; i++ {
		if c, err := net.DialTimeout("tcp", ln.Addr().String(), 100*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return ln
}
