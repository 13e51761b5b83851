package loop_test

// End-to-end tests of ProxySCGIInternalRedirect and ProxySCGISendfile
// (reference C.3 and C.4): real sockets, the sample backend, real files.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scgate/scgate/bench/backend/app"
	"github.com/scgate/scgate/loop"
	"github.com/scgate/scgate/pool"
)

// ---- internal redirects ----

// locTo is the location route of prefix sending the client to "to".
func locTo(prefix, to string, extra ...string) string {
	s := prefix + "location?to=" + url.QueryEscape(to)
	for _, e := range extra {
		s += "&" + e
	}
	return s
}

// nestLocations wraps final in k location hops: k internal redirects.
func nestLocations(k int, final string) string {
	s := final
	for range k {
		s = locTo("/scgi-bin/", s)
	}
	return s
}

// redirectFixture maps /scgi-bin/ (InternalRedirect default, i.e. On),
// /other/ (On too), /off/ (Off) and /xloc/ (X-Location) to one backend.
func redirectFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixture(t, func(cfg *loop.Config, be string) {
		nb := func() *pool.Backend { return mustBackend(t, "scgi://"+be+"/") }
		cfg.Mappings = append(cfg.Mappings,
			loop.Mapping{Prefix: "/other/", Backend: nb(), InternalRedirect: "On"},
			loop.Mapping{Prefix: "/off/", Backend: nb(), InternalRedirect: "Off"},
			loop.Mapping{Prefix: "/xloc/", Backend: nb(), InternalRedirect: "X-Location"},
		)
	})
}

// checkHelloOn sends a hello on rc (keep-alive continues) unless resp said
// the connection closes, in which case the close must be clean and a new
// connection must work.
func checkHelloOn(t *testing.T, gw string, rc *rawConn, resp *http.Response) {
	t.Helper()
	if resp.Close {
		rc.expectClosed()
		checkHello(t, gw)
		return
	}
	rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
	if r, body := rc.read("GET"); r.StatusCode != 200 || string(body) != "Hello, world!\n" {
		t.Fatalf("hello on the same connection: %q %q", r.Status, body)
	}
}

func hasValue(vals []string, v string) bool { return slices.Contains(vals, v) }

func TestRedirectChainToEnv(t *testing.T) {
	f := redirectFixture(t)
	final := "/scgi-bin/env?final=1&x=%41"
	// The second hop's path is spelt with an escape: REDIRECT_URL is the decoded path.
	hop2 := strings.Replace(locTo("/scgi-bin/", final, "cookie="+url.QueryEscape("b=2")), "/location", "/%6Cocation", 1)
	hop1 := locTo("/scgi-bin/", hop2, "cookie="+url.QueryEscape("a=1"))
	hop2Query := hop2[strings.IndexByte(hop2, '?')+1:]

	for _, tc := range []struct{ name, req string }{
		{"GET", "GET " + hop1 + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"POST with a body", "POST " + hop1 + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Content-Length: 11\r\n\r\nname=value!"},
		{"chunked POST", "POST " + hop1 + " HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5\r\nhello\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, f.gw)
			rc.send(tc.req)
			resp, body := rc.read("GET")
			e := parseEnv(t, resp, body)
			e.check(t, map[string]string{
				"REQUEST_METHOD":        "GET",
				"CONTENT_LENGTH":        "0",
				"QUERY_STRING":          "final=1&x=%41",
				"REQUEST_URI":           final,
				"SCRIPT_NAME":           "/scgi-bin/env",
				"REDIRECT_URL":          "/scgi-bin/location",
				"REDIRECT_QUERY_STRING": hop2Query,
				"REDIRECT_STATUS":       "200",
			}, []string{"HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE", "HTTP_TRANSFER_ENCODING"})
			// Apache keeps the request headers except Content-Length on an
			// internal redirect, so CONTENT_TYPE stays, as there.
			if ct, _ := e.get("CONTENT_TYPE"); ct == "" && strings.Contains(tc.req, "Content-Type:") {
				t.Errorf("CONTENT_TYPE dropped; Apache keeps the Content-Type request header on internal redirects")
			}
			if e.BodyLen != 0 {
				t.Errorf("the redirected request carried a body of %d bytes", e.BodyLen)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want the final answer's application/json", ct)
			}
			if cs := resp.Header.Values("Set-Cookie"); !hasValue(cs, "a=1") || !hasValue(cs, "b=2") {
				t.Errorf("Set-Cookie %q, want a=1 and b=2 from the two hops, as separate fields", cs)
			}
			if xs := resp.Header.Values("X-Step"); len(xs) == 0 || xs[0] != "location" {
				t.Errorf("X-Step %q, want the hops' location", xs)
			}
			if l := resp.Header.Values("Location"); len(l) != 0 {
				t.Errorf("Location %q reached the client of a followed redirect", l)
			}
			checkHelloOn(t, f.gw, rc, resp)
		})
	}
}

func TestRedirectTargets(t *testing.T) {
	f := redirectFixture(t)
	t.Run("another mapping", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET " + locTo("/scgi-bin/", "/other/sub/env?q=1") + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		parseEnv(t, resp, body).check(t, map[string]string{
			"SCRIPT_NAME":     "/other/sub/env",
			"QUERY_STRING":    "q=1",
			"REDIRECT_URL":    "/scgi-bin/location",
			"REDIRECT_STATUS": "200",
			"SCRIPT_FILENAME": "proxy:scgi://" + f.backend + "/sub/env",
		}, nil)
		checkHelloOn(t, f.gw, rc, resp)
	})
	t.Run("unmapped path", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET " + locTo("/scgi-bin/", "/nowhere/env") + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 404 {
			t.Fatalf("redirect to an unmapped path: %q %q, want 404", resp.Status, body)
		}
		checkHelloOn(t, f.gw, rc, resp)
	})
	t.Run("Off passes the Location through", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET " + locTo("/off/", "/scgi-bin/env") + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || resp.Header.Get("Location") != "/scgi-bin/env" || string(body) != "moved\n" {
			t.Fatalf("InternalRedirect Off: %q Location %q body %q, want 200 /scgi-bin/env \"moved\\n\"",
				resp.Status, resp.Header.Get("Location"), body)
		}
		checkHelloOn(t, f.gw, rc, resp)
	})
	t.Run("custom header followed and hidden", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET " + locTo("/xloc/", "/scgi-bin/env?via=x", "header=X-Location", "cookie=c%3D3") + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		parseEnv(t, resp, body).check(t, map[string]string{
			"SCRIPT_NAME": "/scgi-bin/env", "QUERY_STRING": "via=x",
			"REDIRECT_URL": "/xloc/location", "REDIRECT_STATUS": "200",
		}, nil)
		if v := resp.Header.Values("X-Location"); len(v) != 0 {
			t.Errorf("X-Location %q reached the client", v)
		}
		if c := resp.Header.Values("Set-Cookie"); !hasValue(c, "c=3") {
			t.Errorf("Set-Cookie %q, want c=3 carried", c)
		}
		checkHelloOn(t, f.gw, rc, resp)
	})
	t.Run("custom header config passes Location through", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET " + locTo("/xloc/", "/scgi-bin/env") + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || resp.Header.Get("Location") != "/scgi-bin/env" || string(body) != "moved\n" {
			t.Fatalf("X-Location mapping, backend Location: %q Location %q body %q, want 200 passed through",
				resp.Status, resp.Header.Get("Location"), body)
		}
		checkHelloOn(t, f.gw, rc, resp)
	})
	t.Run("absolute URL not followed", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET " + locTo("/scgi-bin/", "http://example.com/scgi-bin/env") + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 302 || resp.Header.Get("Location") != "http://example.com/scgi-bin/env" || string(body) != "moved\n" {
			t.Fatalf("absolute Location: %q Location %q body %q, want 302 passed through",
				resp.Status, resp.Header.Get("Location"), body)
		}
		checkHelloOn(t, f.gw, rc, resp)
	})
	t.Run("HEAD stays HEAD", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("HEAD " + locTo("/scgi-bin/", "/scgi-bin/env", "cookie=h%3D1") + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("HEAD")
		if resp.StatusCode != 200 || len(body) != 0 {
			t.Fatalf("HEAD through a redirect: %q with %d body bytes", resp.Status, len(body))
		}
		if c := resp.Header.Values("Set-Cookie"); !hasValue(c, "h=1") {
			t.Errorf("Set-Cookie %q, want h=1 carried", c)
		}
		// No body bytes may be hiding before the next answer.
		checkHelloOn(t, f.gw, rc, resp)
	})
	t.Run("pipelined after a redirect", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET " + locTo("/scgi-bin/", "/scgi-bin/env?p=1") + " HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /scgi-bin/env?p=2 HTTP/1.1\r\nHost: x\r\n\r\n")
		e1 := rc.env("GET")
		e1.check(t, map[string]string{"QUERY_STRING": "p=1", "REDIRECT_STATUS": "200"}, nil)
		e2 := rc.env("GET")
		e2.check(t, map[string]string{"QUERY_STRING": "p=2"}, []string{"REDIRECT_URL", "REDIRECT_STATUS", "REDIRECT_QUERY_STRING"})
	})
	t.Run("pipelined after a redirect to a 404", func(t *testing.T) {
		rc := dialRaw(t, f.gw)
		rc.send("GET " + locTo("/scgi-bin/", "/nowhere/env") + " HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.read("GET"); resp.StatusCode != 404 {
			t.Fatalf("redirect to an unmapped path: %q %q, want 404", resp.Status, body)
		}
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
			t.Fatalf("pipelined hello: %q %q", resp.Status, body)
		}
	})
}

func TestRedirectLimit(t *testing.T) {
	f := redirectFixture(t)
	t.Run("ten redirects", func(t *testing.T) {
		target := nestLocations(10, "/scgi-bin/env?deep=1")
		rc := dialRaw(t, f.gw)
		rc.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		parseEnv(t, resp, body).check(t, map[string]string{"QUERY_STRING": "deep=1", "REDIRECT_STATUS": "200"}, nil)
		checkHelloOn(t, f.gw, rc, resp)
	})
	t.Run("eleven redirects", func(t *testing.T) {
		target := nestLocations(11, "/scgi-bin/env?deep=1")
		rc := dialRaw(t, f.gw)
		rc.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 500 {
			t.Fatalf("11 internal redirects: %q %q, want 500", resp.Status, body)
		}
		checkHelloOn(t, f.gw, rc, resp)
	})
	t.Run("redirloop", func(t *testing.T) {
		waitIdle(t, f.b)
		before := f.b.Stats().Requests
		rc := dialRaw(t, f.gw)
		rc.send("GET /scgi-bin/redirloop HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 500 {
			t.Fatalf("redirect loop: %q %q, want 500", resp.Status, body)
		}
		waitIdle(t, f.b)
		if n := f.b.Stats().Requests - before; n != 11 {
			t.Errorf("the backend got %d requests for a redirect loop, want 11 (the request and 10 redirects)", n)
		}
		checkHelloOn(t, f.gw, rc, resp)
		checkHello(t, f.gw)
	})
}

// ---- X-Sendfile fixtures ----

// loopSender is an on-loop FileSender like main's Linux one, counting what
// it sent so the tests know the fast path ran.
type loopSender struct {
	sent  atomic.Int64
	calls atomic.Int64
}

func (s *loopSender) SendFile(sock int, f *os.File, off, n int64) (int64, error) {
	s.calls.Add(1)
	var sent int64
	for sent < n {
		o := off + sent
		w, err := unix.Sendfile(sock, int(f.Fd()), &o, int(min(n-sent, 1<<30)))
		if w > 0 {
			sent += int64(w)
		}
		if err != nil {
			s.sent.Add(sent)
			return sent, err // unix.EAGAIN when the socket is full
		}
		if w == 0 {
			break // end of file
		}
	}
	s.sent.Add(sent)
	return sent, nil
}

type senderCase struct {
	name   string
	sender func() (loop.FileSender, *loopSender)
}

var senderCases = []senderCase{
	{"nil sender", func() (loop.FileSender, *loopSender) { return nil, nil }},
	{"on-loop sender", func() (loop.FileSender, *loopSender) { s := &loopSender{}; return s, s }},
}

// fileMtime is the modification time given to the test files.
var fileMtime = time.Date(2024, time.January, 2, 3, 4, 5, 0, time.UTC)

// writeFile writes data to dir/name with the test mtime and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fileMtime, fileMtime); err != nil {
		t.Fatal(err)
	}
	return p
}

// writePatternFile writes the first n bytes of the pattern stream to
// dir/name and returns its path and SHA-256.
func writePatternFile(t *testing.T, dir, name string, n int64) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), app.PatternReader(n)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fileMtime, fileMtime); err != nil {
		t.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

// sparseFile makes a file of n zero bytes without writing them.
func sparseFile(t *testing.T, dir, name string, n int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(n); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// newSendfileGateway maps /scgi-bin/ with Sendfile On and /static/ with
// Sendfile X-Send-Static, both serving files under root.
func newSendfileGateway(t *testing.T, root string, sender loop.FileSender, loops int) *fixture {
	t.Helper()
	return newFixture(t, func(cfg *loop.Config, be string) {
		cfg.Loops = loops
		cfg.Mappings[0].Sendfile = "On"
		cfg.Mappings = append(cfg.Mappings,
			loop.Mapping{Prefix: "/static/", Backend: mustBackend(t, "scgi://"+be+"/"), Sendfile: "X-Send-Static"})
		cfg.SendfileRoots = []string{root}
		cfg.Sender = sender
	})
}

// sendfileURL is the sendfile route of prefix naming path.
func sendfileURL(prefix, path string, extra ...string) string {
	s := prefix + "sendfile?path=" + url.QueryEscape(path)
	for _, e := range extra {
		s += "&" + e
	}
	return s
}

// readHashed reads one response, hashing its body as it streams.
func (r *rawConn) readHashed(method string) (*http.Response, int64, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("reading response to %s: %v", method, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		r.t.Fatalf("reading body of %q after %d bytes: %v", resp.Status, n, err)
	}
	return resp, n, hex.EncodeToString(h.Sum(nil))
}

// checkFileHeaders asserts the headers of a served file of size bytes.
func checkFileHeaders(t *testing.T, resp *http.Response, size int64) {
	t.Helper()
	if cl := resp.Header.Get("Content-Length"); cl != strconv.FormatInt(size, 10) {
		t.Errorf("Content-Length %q, want %d", cl, size)
	}
	if lm := resp.Header.Get("Last-Modified"); lm != fileMtime.Format(http.TimeFormat) {
		t.Errorf("Last-Modified %q, want %q", lm, fileMtime.Format(http.TimeFormat))
	}
	if et := resp.Header.Get("ETag"); len(et) < 3 || et[0] != '"' || et[len(et)-1] != '"' {
		t.Errorf("ETag %q, want a strong quoted entity tag", et)
	}
	if ar := resp.Header.Get("Accept-Ranges"); ar != "bytes" {
		t.Errorf("Accept-Ranges %q, want bytes", ar)
	}
	for _, name := range []string{"X-Sendfile", "X-Send-Static", "Transfer-Encoding"} {
		if v := resp.Header.Values(name); len(v) != 0 {
			t.Errorf("%s %q reached the client", name, v)
		}
	}
	if v := resp.Header.Get("X-Backend"); v != "yes" {
		t.Errorf("X-Backend %q: the backend's own headers must be kept", v)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q, want the backend's application/octet-stream", ct)
	}
}

// ---- X-Sendfile ----

func TestSendfileNeedsRoot(t *testing.T) {
	b := mustBackend(t, "scgi://127.0.0.1:4000/")
	for _, v := range []string{"On", "X-Send-Static"} {
		_, err := loop.New(loop.Config{Listen: "127.0.0.1:0", Mappings: []loop.Mapping{{Prefix: "/a/", Backend: b, Sendfile: v}}})
		if err == nil || !strings.Contains(err.Error(), "SCGISendfileRoot") {
			t.Errorf("Sendfile %q without roots: err %v, want one naming SCGISendfileRoot", v, err)
		}
	}
	for _, v := range []string{"", "Off"} {
		if _, err := loop.New(loop.Config{Listen: "127.0.0.1:0", Mappings: []loop.Mapping{{Prefix: "/a/", Backend: b, Sendfile: v}}}); err != nil {
			t.Errorf("Sendfile %q without roots: %v", v, err)
		}
	}
}

func TestSendfileSizes(t *testing.T) {
	root := t.TempDir()
	type file struct {
		path, sha string
		size      int64
	}
	var files []file
	for _, size := range []int64{0, 1, 64 << 10} {
		p, s := writePatternFile(t, root, fmt.Sprintf("f%d", size), size)
		files = append(files, file{p, s, size})
	}
	const big = 256 << 20
	bigPath, bigSHA := writePatternFile(t, root, "big", big)
	files = append(files, file{bigPath, bigSHA, big})
	bigFile, err := os.Open(bigPath)
	if err != nil {
		t.Fatal(err)
	}
	defer bigFile.Close()
	// A range far into the big file, for the offsets.
	const rStart, rEnd = 200_000_003, 200_999_999
	want := make([]byte, rEnd-rStart+1)
	if _, err := bigFile.ReadAt(want, rStart); err != nil {
		t.Fatal(err)
	}

	for _, sc := range senderCases {
		t.Run(sc.name, func(t *testing.T) {
			sender, counter := sc.sender()
			f := newSendfileGateway(t, root, sender, 2)
			rc := dialRaw(t, f.gw)
			for _, fl := range files {
				rc.send("GET " + sendfileURL("/scgi-bin/", fl.path) + " HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, n, s := rc.readHashed("GET")
				if resp.StatusCode != 200 || n != fl.size || s != fl.sha {
					t.Fatalf("file of %d bytes: %q, got %d bytes, sha match %v", fl.size, resp.Status, n, s == fl.sha)
				}
				checkFileHeaders(t, resp, fl.size)
				if resp.Close {
					t.Fatalf("file of %d bytes: the connection closes after it", fl.size)
				}
				// Keep-alive: the next request on the same connection.
				rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
				if r, body := rc.read("GET"); r.StatusCode != 200 || string(body) != "Hello, world!\n" {
					t.Fatalf("hello after a file of %d bytes: %q %q", fl.size, r.Status, body)
				}
			}
			rc.send(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-%d\r\n\r\n", sendfileURL("/scgi-bin/", bigPath), rStart, rEnd))
			resp, body := rc.read("GET")
			if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", rStart, rEnd, int64(big)) ||
				sha(body) != sha(want) {
				t.Fatalf("range of the big file: %q %q, %d bytes, equal %v", resp.Status, resp.Header.Get("Content-Range"), len(body), sha(body) == sha(want))
			}
			if counter != nil && counter.sent.Load() == 0 {
				t.Errorf("the on-loop sender was called %d times and sent nothing", counter.calls.Load())
			}
			waitIdle(t, f.b)
		})
	}
}

func TestSendfileSemantics(t *testing.T) {
	root := t.TempDir()
	const size = 64 << 10
	data, err := io.ReadAll(app.PatternReader(size))
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, root, "data.bin", data)
	target := sendfileURL("/scgi-bin/", p)

	for _, sc := range senderCases {
		t.Run(sc.name, func(t *testing.T) {
			sender, _ := sc.sender()
			f := newSendfileGateway(t, root, sender, 2)
			rc := dialRaw(t, f.gw)
			// The ETag, for If-None-Match.
			rc.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, body := rc.read("GET")
			if resp.StatusCode != 200 || string(body) != string(data) {
				t.Fatalf("%q, %d bytes, equal %v", resp.Status, len(body), string(body) == string(data))
			}
			checkFileHeaders(t, resp, size)
			etag := resp.Header.Get("ETag")

			for _, tc := range []struct {
				name, method, target, headers string
				status                        int
				body                          []byte
				contentRange                  string // "" for none
			}{
				{"first byte", "GET", target, "Range: bytes=0-0\r\n", 206, data[:1], "bytes 0-0/65536"},
				{"last 100 bytes", "GET", target, "Range: bytes=-100\r\n", 206, data[size-100:], "bytes 65436-65535/65536"},
				{"middle", "GET", target, "Range: bytes=1000-1999\r\n", 206, data[1000:2000], "bytes 1000-1999/65536"},
				{"open-ended", "GET", target, "Range: bytes=65000-\r\n", 206, data[65000:], "bytes 65000-65535/65536"},
				{"unsatisfiable", "GET", target, "Range: bytes=999999999-\r\n", 416, nil, "bytes */65536"},
				{"multiple ranges", "GET", target, "Range: bytes=0-0,5-9\r\n", 200, data, ""},
				{"If-None-Match hit", "GET", target, "If-None-Match: " + etag + "\r\n", 304, nil, ""},
				{"If-None-Match in a list", "GET", target, "If-None-Match: \"nope\", " + etag + "\r\n", 304, nil, ""},
				{"If-None-Match miss", "GET", target, "If-None-Match: \"nope\"\r\n", 200, data, ""},
				{"If-Modified-Since far future", "GET", target, "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n", 304, nil, ""},
				{"If-Modified-Since the mtime", "GET", target, "If-Modified-Since: " + fileMtime.Format(http.TimeFormat) + "\r\n", 304, nil, ""},
				{"If-Modified-Since earlier", "GET", target, "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n", 200, data, ""},
				{"HEAD", "HEAD", target, "", 200, nil, ""},
				{"HEAD with If-None-Match", "HEAD", target, "If-None-Match: " + etag + "\r\n", 304, nil, ""},
				{"backend status 404", "GET", sendfileURL("/scgi-bin/", p, "status=404%20Not%20Found"), "", 404, data, ""},
				{"backend 404 ignores Range", "GET", sendfileURL("/scgi-bin/", p, "status=404%20Not%20Found"), "Range: bytes=0-0\r\n", 404, data, ""},
				{"custom header name", "GET", sendfileURL("/static/", p, "header=X-Send-Static"), "", 200, data, ""},
			} {
				rc.send(tc.method + " " + tc.target + " HTTP/1.1\r\nHost: x\r\n" + tc.headers + "\r\n")
				resp, body := rc.read(tc.method)
				if resp.StatusCode != tc.status {
					t.Errorf("%s: %q, want %d", tc.name, resp.Status, tc.status)
				}
				if string(body) != string(tc.body) {
					t.Errorf("%s: body of %d bytes, want %d bytes (equal %v)", tc.name, len(body), len(tc.body), string(body) == string(tc.body))
				}
				if got := resp.Header.Get("Content-Range"); got != tc.contentRange {
					t.Errorf("%s: Content-Range %q, want %q", tc.name, got, tc.contentRange)
				}
				switch {
				case tc.method == "HEAD" && tc.status == 200:
					if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(size) {
						t.Errorf("%s: Content-Length %q, want %d", tc.name, cl, size)
					}
				case tc.status == 304:
					if et := resp.Header.Get("ETag"); et != etag {
						t.Errorf("%s: 304 with ETag %q, want %q", tc.name, et, etag)
					}
				case tc.status == 416:
					if cl := resp.Header.Get("Content-Length"); cl != "0" {
						t.Errorf("%s: 416 with Content-Length %q, want 0", tc.name, cl)
					}
				default:
					if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(tc.body)) {
						t.Errorf("%s: Content-Length %q, want %d", tc.name, cl, len(tc.body))
					}
				}
				if strings.Contains(string(body), "backend body") {
					t.Errorf("%s: the backend's decoy body reached the client", tc.name)
				}
				for _, name := range []string{"X-Sendfile", "X-Send-Static"} {
					if v := resp.Header.Values(name); len(v) != 0 {
						t.Errorf("%s: %s %q reached the client", tc.name, name, v)
					}
				}
				if resp.Close {
					t.Fatalf("%s: the connection closes after it", tc.name)
				}
			}
			// Every answer above was framed right: the connection still works.
			rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
			if r, body := rc.read("GET"); r.StatusCode != 200 || string(body) != "Hello, world!\n" {
				t.Fatalf("hello after the files: %q %q", r.Status, body)
			}
			waitIdle(t, f.b)
		})
	}
}

// TestSendfileHeaderNotConfigured: a header the mapping does not use is an
// ordinary header, and the backend's body goes out.
func TestSendfileHeaderNotConfigured(t *testing.T) {
	root := t.TempDir()
	p := writeFile(t, root, "x", []byte("file\n"))
	f := newSendfileGateway(t, root, nil, 2)
	rc := dialRaw(t, f.gw)
	// /static/ wants X-Send-Static; the backend sends X-Sendfile.
	rc.send("GET " + sendfileURL("/static/", p) + " HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := rc.read("GET")
	if resp.StatusCode != 200 || string(body) != "backend body\n" || resp.Header.Get("X-Sendfile") != p {
		t.Fatalf("%q X-Sendfile %q body %q, want the backend's answer as it is", resp.Status, resp.Header.Get("X-Sendfile"), body)
	}
}

func TestSendfileRefused(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "rootevil") // shares the root's name as a prefix
	for _, d := range []string{root, outside, filepath.Join(root, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	inside := writeFile(t, root, "ok.txt", []byte("ok\n"))
	secret := writeFile(t, outside, "secret.txt", []byte("secret\n"))
	if err := os.Symlink(secret, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "escapedir")); err != nil {
		t.Fatal(err)
	}
	f := newSendfileGateway(t, root, nil, 2)

	for _, tc := range []struct {
		name, path string
		status     int
	}{
		{"inside", inside, 200},
		{"missing", filepath.Join(root, "nope.txt"), 404},
		{"directory", filepath.Join(root, "sub"), 403},
		{"root itself", root, 403},
		{"relative", "ok.txt", 403},
		{"relative with dirs", "root/ok.txt", 403},
		{"dot-dot staying inside", root + "/sub/../ok.txt", 403},
		{"dot-dot escaping", root + "/../rootevil/secret.txt", 403},
		{"outside every root", secret, 403},
		{"outside, system file", "/etc/passwd", 403},
		{"symlink escaping", filepath.Join(root, "escape"), 403},
		{"through a symlinked dir", filepath.Join(root, "escapedir", "secret.txt"), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, f.gw)
			rc.send("GET " + sendfileURL("/scgi-bin/", tc.path) + " HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, body := rc.read("GET")
			if resp.StatusCode != tc.status {
				t.Errorf("X-Sendfile %q: %q, want %d", tc.path, resp.Status, tc.status)
			}
			if strings.Contains(string(body), "secret") || strings.Contains(string(body), "backend body") || strings.Contains(string(body), "root:") {
				t.Errorf("X-Sendfile %q: body %q leaks", tc.path, body)
			}
			if tc.status == 200 && string(body) != "ok\n" {
				t.Errorf("X-Sendfile %q: body %q", tc.path, body)
			}
			checkHelloOn(t, f.gw, rc, resp)
		})
	}
	waitIdle(t, f.b)
}

// TestRedirectToSendfile: an internal redirect whose target names a file;
// the first hop's cookie reaches the file's answer.
func TestRedirectToSendfile(t *testing.T) {
	root := t.TempDir()
	p := writeFile(t, root, "r.txt", []byte("redirected file\n"))
	f := newSendfileGateway(t, root, &loopSender{}, 2)
	rc := dialRaw(t, f.gw)
	rc.send("GET " + locTo("/scgi-bin/", sendfileURL("/scgi-bin/", p), "cookie=s%3D9") + " HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := rc.read("GET")
	if resp.StatusCode != 200 || string(body) != "redirected file\n" {
		t.Fatalf("%q %q, want the file", resp.Status, body)
	}
	if c := resp.Header.Values("Set-Cookie"); !hasValue(c, "s=9") {
		t.Errorf("Set-Cookie %q, want s=9 carried from the first hop", c)
	}
	checkFileHeaders(t, resp, int64(len("redirected file\n")))
	checkHelloOn(t, f.gw, rc, resp)
}

// dialSmallRcvBuf dials addr with a small receive buffer, so that a slow
// reader really holds the sender back.
func dialSmallRcvBuf(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSendfileSlowClient: a client reading a large file at about 5 MB/s must
// not hold up others on the same (single) loop.
func TestSendfileSlowClient(t *testing.T) {
	root := t.TempDir()
	const size = 64 << 20
	p, want := writePatternFile(t, root, "slow.bin", size)
	for _, sc := range senderCases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sender, _ := sc.sender()
			f := newSendfileGateway(t, root, sender, 1)
			c := dialSmallRcvBuf(t, f.gw)
			var slowDone atomic.Bool
			started := make(chan struct{})
			result := make(chan error, 1)
			go func() {
				result <- func() error {
					defer slowDone.Store(true)
					c.SetDeadline(time.Now().Add(ioTimeout)) //nolint:errcheck
					if _, err := io.WriteString(c, "GET "+sendfileURL("/scgi-bin/", p)+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
						return err
					}
					br := bufio.NewReaderSize(c, 16<<10)
					resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
					if err != nil {
						return err
					}
					if resp.StatusCode != 200 || resp.ContentLength != size {
						return fmt.Errorf("slow client: %q with Content-Length %d", resp.Status, resp.ContentLength)
					}
					h := sha256.New()
					buf := make([]byte, 64<<10)
					var got int64
					for got < size {
						c.SetReadDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
						n, err := io.ReadFull(resp.Body, buf[:min(int64(len(buf)), size-got)])
						h.Write(buf[:n])
						got += int64(n)
						if err != nil {
							return fmt.Errorf("slow client: after %d bytes: %v", got, err)
						}
						if got >= 1<<20 && got-int64(n) < 1<<20 {
							close(started)
						}
						time.Sleep(12 * time.Millisecond) // 64 KiB per 12 ms: about 5 MB/s
					}
					if s := hex.EncodeToString(h.Sum(nil)); s != want {
						return fmt.Errorf("slow client: %d bytes with the wrong content", got)
					}
					return nil
				}()
			}()
			select {
			case <-started:
			case err := <-result:
				t.Fatalf("the slow client ended before its first MiB: %v", err)
			case <-time.After(ioTimeout):
				t.Fatal("the slow client got no first MiB")
			}
			rc := dialRaw(t, f.gw)
			for i := range 20 {
				rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
					t.Fatalf("quick request %d: %q %q", i, resp.Status, body)
				}
			}
			if slowDone.Load() {
				t.Errorf("the slow file finished before 20 quick requests on the same loop were answered")
			}
			if err := <-result; err != nil {
				t.Fatal(err)
			}
			// The slow connection is reusable afterwards.
			c.SetDeadline(time.Now().Add(ioTimeout)) //nolint:errcheck
			if _, err := io.WriteString(c, "GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(c)
			if err != nil || !strings.HasSuffix(string(b), "Hello, world!\n") {
				t.Fatalf("hello after the slow file: %q %v", b, err)
			}
			waitIdle(t, f.b)
		})
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestSendfileClientGoesAway: a client closing mid-file leaves no file,
// socket or goroutine behind.
func TestSendfileClientGoesAway(t *testing.T) {
	root := t.TempDir()
	p := sparseFile(t, root, "huge.bin", 256<<20)
	for _, sc := range senderCases {
		t.Run(sc.name, func(t *testing.T) {
			sender, _ := sc.sender()
			f := newSendfileGateway(t, root, sender, 1)
			fds, gs := openFDs(t), runtime.NumGoroutine()

			c, err := net.DialTimeout("tcp", f.gw, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(ioTimeout)) //nolint:errcheck
			if _, err := io.WriteString(c, "GET "+sendfileURL("/scgi-bin/", p)+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.ContentLength != 256<<20 {
				t.Fatalf("%q with Content-Length %d", resp.Status, resp.ContentLength)
			}
			if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
				t.Fatal(err)
			}
			c.Close()

			waitIdle(t, f.b)
			deadline := time.Now().Add(20 * time.Second)
			for {
				nf, ng := openFDs(t), runtime.NumGoroutine()
				if nf <= fds && ng <= gs+3 {
					break
				}
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<20)
					buf = buf[:runtime.Stack(buf, true)]
					t.Fatalf("after the client left: %d open fds (%d before), %d goroutines (%d before)\n%s", nf, fds, ng, gs, buf)
				}
				time.Sleep(20 * time.Millisecond)
			}
			checkHello(t, f.gw)
		})
	}
}

// TestSendfilePipelined: requests pipelined behind files are answered in
// order, and an HTTP/1.0 client gets the file framed by Content-Length.
func TestSendfilePipelined(t *testing.T) {
	root := t.TempDir()
	const size = 300 << 10
	p, want := writePatternFile(t, root, "p.bin", size)
	for _, sc := range senderCases {
		t.Run(sc.name, func(t *testing.T) {
			sender, _ := sc.sender()
			f := newSendfileGateway(t, root, sender, 2)
			target := sendfileURL("/scgi-bin/", p)
			rc := dialRaw(t, f.gw)
			rc.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" +
				"GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n" +
				"GET " + target + " HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n" +
				"HEAD " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" +
				"GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" +
				"GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, n, s := rc.readHashed("GET"); resp.StatusCode != 200 || n != size || s != want {
				t.Fatalf("file: %q, %d bytes, sha match %v", resp.Status, n, s == want)
			}
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
				t.Fatalf("hello behind a file: %q %q", resp.Status, body)
			}
			resp, body := rc.read("GET")
			if resp.StatusCode != 206 || len(body) != 10 {
				t.Fatalf("range behind a file: %q, %d bytes", resp.Status, len(body))
			}
			if resp, body := rc.read("HEAD"); resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Length") != strconv.Itoa(size) {
				t.Fatalf("HEAD behind a file: %q, %d bytes, Content-Length %q", resp.Status, len(body), resp.Header.Get("Content-Length"))
			}
			if resp, n, s := rc.readHashed("GET"); resp.StatusCode != 200 || n != size || s != want {
				t.Fatalf("second file: %q, %d bytes, sha match %v", resp.Status, n, s == want)
			}
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
				t.Fatalf("last hello: %q %q", resp.Status, body)
			}

			// HTTP/1.0 without keep-alive: Content-Length, then the close.
			rc10 := dialRaw(t, f.gw)
			rc10.send("GET " + target + " HTTP/1.0\r\n\r\n")
			resp, n, s := rc10.readHashed("GET")
			if resp.StatusCode != 200 || n != size || s != want || resp.Header.Get("Content-Length") != strconv.Itoa(size) {
				t.Fatalf("HTTP/1.0 file: %q, %d bytes, sha match %v, Content-Length %q", resp.Status, n, s == want, resp.Header.Get("Content-Length"))
			}
			rc10.expectClosed()
			waitIdle(t, f.b)
		})
	}
}
