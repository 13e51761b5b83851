package loop_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/loop"
	"github.com/scgate/scgate/pool"
)

// Hostile clients (issue 7): request smuggling and header spoofing, end to
// end over raw TCP against a real gateway and a recording SCGI backend.

// smuggled is the request every smuggling case tries to hide from the
// gateway's framing; the backend must never see it.
const smuggled = "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"

// followUp is a well-framed request sent behind the cases the gateway accepts:
// the backend seeing it right after the first request proves the gateway
// framed the first one exactly where RFC 9112 says it ends.
const followUp = "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

func postReq(headers, body string) string {
	return "POST / HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n" + body
}

// smugLen is len(smuggled) in decimal; smugHex in hex, as a chunk size.
var (
	smugLen = strconv.Itoa(len(smuggled))
	smugHex = strconv.FormatInt(int64(len(smuggled)), 16)
)

// smuggleCase is one hostile request.
//
// The apache field is what Apache 2.4.71 (Debian, event MPM, mod_proxy_scgi,
// HttpProtocolOptions at its default Strict, ProxyPass / to a recording SCGI
// backend like the one here) answered to the same bytes, checked once by
// hand (this test does not run Apache): its statuses, whether it closed the
// connection, and what reached its backend (nothing unless said). Where the
// two differ, the comment above the case says why scgate's answer is the
// safer one, or as safe. The difference that recurs: mod_proxy_scgi refuses
// every chunked request body with 411 (AH01593 "chunked Transfer-Encoding
// forbidden") before reading it, so Apache never has to judge a chunked
// body; scgate decodes chunked bodies (README), so it must refuse ambiguous
// framing and malformed chunks itself, which it does with 400 before a byte
// reaches the backend.
type smuggleCase struct {
	name string
	req  string
	// statuses are scgate's answers in order; the connection must be closed
	// after the last one.
	statuses []int
	// seen is what the backend must have received, "METHOD URI CONTENT_LENGTH"
	// per SCGI request in order; nil for a request refused at its head.
	seen   []string
	apache string
}

var smugglingCases = []smuggleCase{
	// ---- CL.TE and TE.CL: both framings at once (RFC 9112 6.1: a server
	// MAY reject such a message, and must close after it if it does not).
	// Apache drops the Content-Length, takes the body for chunked, and its
	// 411 only comes from mod_proxy_scgi's refusal of chunked bodies; scgate
	// refuses the ambiguity itself (codec errCLAndTE), whatever the body and
	// whatever a mapping accepts: safer, the refusal does not hang on which
	// framing one module happens to support. ----

	// A front end honouring Content-Length forwards the whole body; one
	// honouring Transfer-Encoding stops at "0" and runs /admin next.
	{name: "CL.TE", req: postReq("Content-Length: "+strconv.Itoa(5+len(smuggled))+"\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "411, closed"},
	{name: "CL.TE, TE first", req: postReq("Transfer-Encoding: chunked\r\nContent-Length: "+strconv.Itoa(5+len(smuggled))+"\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "411, closed"},
	// The other way round: Content-Length 4 covers only the chunk-size line,
	// so a CL reader runs the chunk's data (/admin) as the next request.
	{name: "TE.CL", req: postReq("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", smugHex+"\r\n"+smuggled+"\r\n0\r\n\r\n"),
		statuses: []int{400}, apache: "411, closed"},
	{name: "TE.CL, CL first", req: postReq("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", smugHex+"\r\n"+smuggled+"\r\n0\r\n\r\n"),
		statuses: []int{400}, apache: "411, closed"},
	// The same attack behind a good request on the same connection: the first
	// one is served, the attack refused, nothing after it runs.
	{name: "CL.TE after a good request", req: "GET /first HTTP/1.1\r\nHost: x\r\n\r\n" +
		postReq("Content-Length: "+strconv.Itoa(5+len(smuggled))+"\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{200, 400}, seen: []string{"GET /first 0"}, apache: "200 411, closed; backend: GET /first"},

	// ---- Transfer-Encoding obfuscations. Each body is the chunked
	// framing of an empty body followed by /admin: a parser that takes the
	// header for chunked runs /admin next, one that ignores it runs the POST
	// without a body. scgate decodes exactly one thing, a lone "chunked" on a
	// single line, and refuses the rest at the head. ----
	{name: "TE xchunked", req: postReq("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "400, closed"},
	{name: "TE xchunked with CL", req: postReq("Content-Length: "+strconv.Itoa(5+len(smuggled))+"\r\nTransfer-Encoding: xchunked\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "400, closed"},
	{name: "TE chunked, identity", req: postReq("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "400, closed"},
	{name: "TE space before colon", req: postReq("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "400, closed"},
	{name: "TE tab before colon", req: postReq("Transfer-Encoding\t: chunked\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "400, closed"},
	// Apache joins the lines into "chunked, chunked" and answers 501 (an
	// unknown coding); scgate's 400 says what it is, a malformed message
	// (chunked may be applied once, RFC 9112 6.1). Both close, nothing is sent.
	{name: "TE chunked twice", req: postReq("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "501, closed"},
	{name: "TE chunked then identity", req: postReq("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "400, closed"},
	// RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing;
	// scgate refuses it as such, Apache only because it is chunked.
	{name: "TE in HTTP/1.0", req: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		statuses: []int{400}, apache: "411, closed"},

	// ---- Content-Length. Each body is /admin itself: a parser that reads
	// the value as len(/admin) forwards it as the POST's body, one that reads
	// 0 runs it as the next request. ----
	{name: "CL twice, different", req: postReq("Content-Length: 0\r\nContent-Length: "+smugLen+"\r\n", smuggled),
		statuses: []int{400}, apache: "400, closed"},
	{name: "CL +N", req: postReq("Content-Length: +"+smugLen+"\r\n", smuggled),
		statuses: []int{400}, apache: "400, closed"},
	// RFC 9110 8.6 lets a recipient reject a list of identical values or
	// collapse it; scgate rejects the one-line list ("N, N" is not 1*DIGIT)...
	{name: "CL N, N", req: postReq("Content-Length: "+smugLen+", "+smugLen+"\r\n", smuggled),
		statuses: []int{400}, apache: "400, closed"},
	// ...and two lines, even of the same value, as Apache does.
	{name: "CL twice, same value", req: postReq("Content-Length: "+smugLen+"\r\nContent-Length: "+smugLen+"\r\n", smuggled) + followUp,
		statuses: []int{400}, apache: "400, closed"},
	{name: "CL negative", req: postReq("Content-Length: -1\r\n", smuggled),
		statuses: []int{400}, apache: "400, closed"},
	{name: "CL empty", req: postReq("Content-Length: \r\n", smuggled),
		statuses: []int{400}, apache: "400, closed"},
	// 2^64: a parser that wraps around reads 0.
	{name: "CL 2^64", req: postReq("Content-Length: 18446744073709551616\r\n", smuggled),
		statuses: []int{400}, apache: "400, closed"},
	// More than 19 digits, here leading zeros before len(/admin) (22 digits):
	// RFC 9110's 1*DIGIT allows them and Apache takes the value, but a parser
	// that keeps only the first 19 digits (an int64's width) reads 0 and runs
	// /admin. scgate refuses any longer number, so no such reader in front
	// of it can disagree.
	{name: "CL leading zeros", req: postReq("Content-Length: 00000000000000000000"+smugLen+"\r\n", smuggled) + followUp,
		statuses: []int{400}, apache: "200 200, closed; backend: POST / 32, GET /after"},
	// 19 digits with leading zeros is still a number we read the same way.
	{name: "CL 19 digits", req: postReq("Content-Length: 00000000000000000"+smugLen+"\r\n", smuggled) + followUp,
		statuses: []int{200, 200}, seen: []string{"POST / " + smugLen, "GET /after 0"}, apache: "200 200"},

	// ---- Header lines a lenient parser reads differently. ----
	// An unfolding parser sees "Transfer-Encoding: chunked". Apache unfolds
	// it and is saved by its 411 for chunked; scgate refuses the fold itself
	// (RFC 9112 5.2), whatever the header: safer.
	{name: "obs-fold", req: postReq("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "411, closed"},
	// A parser that ends lines at a bare CR sees "Transfer-Encoding: chunked".
	{name: "bare CR in header line", req: postReq("X-A: 1\rTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "400, closed"},
	// A C-string parser stops at the NUL.
	{name: "NUL in value", req: postReq("Transfer-Encoding: chunked\x00x\r\n", "0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "400, closed"},
	{name: "NUL in name", req: postReq("Content-Length\x00x: 0\r\nContent-Length: "+smugLen+"\r\n", smuggled),
		statuses: []int{400}, apache: "400, closed"},
	{name: "space in name", req: postReq("X Y: 1\r\n", ""),
		statuses: []int{400}, apache: "400, closed"},
	{name: "empty name", req: postReq(": x\r\n", ""),
		statuses: []int{400}, apache: "400, closed"},

	// ---- Chunked bodies. The body is refused before anything is sent: scgate
	// buffers a chunked body whole, then sends it with its decoded length.
	// Apache answers 411 to all of them, valid or not (see smuggleCase). ----
	{name: "chunk size overflow", req: postReq("Transfer-Encoding: chunked\r\n", "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "411, closed"},
	// 2^64+5 in 17 digits: a parser that wraps reads 5.
	{name: "chunk size 2^64+5", req: postReq("Transfer-Encoding: chunked\r\n", "10000000000000005\r\nhello\r\n0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "411, closed"},
	// A parser that stops at the first non-digit reads a 0 chunk.
	{name: "chunk size 0x5", req: postReq("Transfer-Encoding: chunked\r\n", "0x5\r\nhello\r\n0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "411, closed"},
	{name: "chunk longer than its size", req: postReq("Transfer-Encoding: chunked\r\n", "3\r\nhello\r\n0\r\n\r\n"+smuggled),
		statuses: []int{400}, apache: "411, closed"},
	// No empty line after the last chunk: what follows is the trailer
	// section, and a request line is no field line (RFC 9112 7.1.2). A parser
	// that ends the body at "0\r\n" runs /admin; one that skips any trailer
	// line swallows it and answers one request where its peer sent two
	// (scgate did that, 200, until the codec learned that trailer lines are
	// "name: value").
	{name: "last chunk without final CRLF", req: postReq("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n"+smuggled),
		statuses: []int{400}, apache: "411, closed"},

	// ---- Request lines. ----
	{name: "four-part request line", req: "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled,
		statuses: []int{400}, apache: "400, closed"},
	// The HTTP/2 connection preface on the HTTP/1 port: a well-formed
	// request line of a version scgate does not speak, so 505 (RFC 9110
	// 15.6.6), as for any HTTP/2.0 request line (TestMalformedRequests).
	// Apache answers 400. As safe (both close, nothing is sent), and the
	// prior-knowledge HTTP/2 client learns the actual reason.
	{name: "HTTP/2 preface", req: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + smuggled,
		statuses: []int{505}, apache: "400, closed"},

	// ---- Control: a legitimate chunked request (the coding's name is
	// case-insensitive) is decoded and the next request follows it. Apache's
	// 411 is its refusal of chunked bodies, a documented difference. ----
	{name: "control: TE Chunked", req: postReq("Transfer-Encoding: Chunked\r\n", smugHex+"\r\n"+smuggled+"\r\n0\r\n\r\n") + followUp,
		statuses: []int{200, 200}, seen: []string{"POST / " + smugLen, "GET /after 0"}, apache: "411, closed"},
}

func TestSmuggling(t *testing.T) {
	rec := startRecordingBackend(t)
	b := mustBackend(t, "scgi://"+rec.addr()+"/")
	// Everything maps to the recorder, /admin included: a smuggled request
	// the gateway ran would reach it, not die in a 404. The bystander below
	// must outlive the suite however slow the machine: no idle close.
	gw := startGateway(t, loop.Config{
		IdleTimeout: time.Hour,
		Mappings:    []loop.Mapping{{Prefix: "/", Backend: b}},
	})

	// A bystander keep-alive connection, opened before the attacks and used
	// again after them.
	bystander := dialRaw(t, gw)
	bystander.send("GET /bystander/1 HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := bystander.read("GET"); resp.StatusCode != 200 || string(body) != "recorded\n" {
		t.Fatalf("bystander before: %q %q", resp.Status, body)
	}
	settleRecorder(t, rec, b)

	for _, tc := range smugglingCases {
		t.Run(tc.name, func(t *testing.T) {
			startRecs, startReqs := rec.count(), b.Stats().Requests
			rc := dialRaw(t, gw)
			rc.send(tc.req)
			for i, want := range tc.statuses {
				resp, body := rc.read("POST")
				if resp.StatusCode != want {
					t.Errorf("answer %d: %q (body %q), want %d", i+1, resp.Status, body, want)
				}
				if i == len(tc.statuses)-1 && !resp.Close {
					t.Errorf("answer %d: %q without Connection: close, but the connection must end here", i+1, resp.Status)
				}
			}
			// Not fatal: what reached the backend is worth reporting too.
			if err := closedErr(rc); err != nil {
				t.Error(err)
			}

			settleRecorder(t, rec, b)
			got := rec.since(startRecs)
			for _, r := range got {
				if strings.HasPrefix(r.uri, "/admin") {
					t.Errorf("SMUGGLED: the backend ran %s %s", r.method, r.uri)
				}
				if r.method == "POST" && r.contentLength == smugLen && string(r.body) != smuggled {
					t.Errorf("POST body %q, want the %s bytes sent as its body", r.body, smugLen)
				}
			}
			if sums := summaries(got); !slices.Equal(sums, tc.seen) {
				t.Errorf("the backend saw %q, want %q", sums, tc.seen)
			}
			if sent := b.Stats().Requests - startReqs; sent != uint64(len(tc.seen)) {
				t.Errorf("the gateway sent %d SCGI requests, want %d", sent, len(tc.seen))
			}
		})
	}

	// Others never noticed: the bystander's connection and a fresh one
	// carry keep-alive requests as before.
	startRecs := rec.count()
	bystander.send("GET /bystander/2 HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := bystander.read("GET"); resp.StatusCode != 200 || resp.Close || string(body) != "recorded\n" {
		t.Errorf("bystander after the suite: %q close=%v %q", resp.Status, resp.Close, body)
	}
	fresh := dialRaw(t, gw)
	for i := range 2 {
		fresh.send("GET /fresh/" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := fresh.read("GET"); resp.StatusCode != 200 || resp.Close || string(body) != "recorded\n" {
			t.Errorf("fresh connection after the suite, request %d: %q close=%v %q", i, resp.Status, resp.Close, body)
		}
	}
	settleRecorder(t, rec, b)
	want := []string{"GET /bystander/2 0", "GET /fresh/0 0", "GET /fresh/1 0"}
	if sums := summaries(rec.since(startRecs)); !slices.Equal(sums, want) {
		t.Errorf("after the suite the backend saw %q, want %q", sums, want)
	}
}

// TestHeaderSpoofing checks the names that must not reach the backend as
// the variables they pose as.
func TestHeaderSpoofing(t *testing.T) {
	rec := startRecordingBackend(t)
	b := mustBackend(t, "scgi://"+rec.addr()+"/")
	gw := startGateway(t, loop.Config{Mappings: []loop.Mapping{{Prefix: "/", Backend: b}}})

	for _, tc := range []struct {
		name, headers string
		want          map[string]string // variable: exact value
		absent        []string
		evil          string // no variable's value may contain it
	}{
		// X_Forwarded_For would become HTTP_X_FORWARDED_FOR too: a name with a
		// byte outside [A-Za-z0-9-] is never exported, so only the real
		// header's value arrives, whichever comes first.
		{name: "underscore before the real one", headers: "X_Forwarded_For: 6.6.6.6\r\nX-Forwarded-For: 1.2.3.4\r\n",
			want: map[string]string{"HTTP_X_FORWARDED_FOR": "1.2.3.4"}, evil: "6.6.6.6"},
		{name: "underscore after the real one", headers: "X-Forwarded-For: 1.2.3.4\r\nX_Forwarded_For: 6.6.6.6\r\n",
			want: map[string]string{"HTTP_X_FORWARDED_FOR": "1.2.3.4"}, evil: "6.6.6.6"},
		{name: "underscore only", headers: "X_Forwarded_For: 6.6.6.6\r\n",
			absent: []string{"HTTP_X_FORWARDED_FOR"}, evil: "6.6.6.6"},
		{name: "underscore only, lower case", headers: "x_forwarded_for: 6.6.6.6\r\n",
			absent: []string{"HTTP_X_FORWARDED_FOR"}, evil: "6.6.6.6"},
		// httpoxy: HTTP_PROXY is the proxy setting of many CGI libraries.
		{name: "Proxy", headers: "Proxy: http://evil/\r\n",
			absent: []string{"HTTP_PROXY"}, evil: "evil"},
		{name: "PROXY upper case", headers: "PROXY: http://evil/\r\n",
			absent: []string{"HTTP_PROXY"}, evil: "evil"},
		{name: "Proxy next to X-Forwarded-For", headers: "proxy: http://evil/\r\nX-Forwarded-For: 1.2.3.4\r\n",
			want: map[string]string{"HTTP_X_FORWARDED_FOR": "1.2.3.4"}, absent: []string{"HTTP_PROXY"}, evil: "evil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := rec.count()
			rc := dialRaw(t, gw)
			rc.send("GET /spoof HTTP/1.1\r\nHost: x\r\n" + tc.headers + "Connection: close\r\n\r\n")
			if resp, body := rc.read("GET"); resp.StatusCode != 200 {
				t.Fatalf("%q %q, want the backend's 200", resp.Status, body)
			}
			rc.expectClosed()
			settleRecorder(t, rec, b)
			got := rec.since(start)
			if len(got) != 1 {
				t.Fatalf("the backend saw %q, want one request", summaries(got))
			}
			vars := got[0].vars
			count := map[string]int{}
			for _, kv := range vars {
				count[kv[0]]++
				if strings.Contains(kv[1], tc.evil) {
					t.Errorf("%s=%q carries the spoofed value %q", kv[0], kv[1], tc.evil)
				}
			}
			for name, v := range tc.want {
				if count[name] != 1 || got[0].get(name) != v {
					t.Errorf("%s sent %d times, value %q; want once, %q", name, count[name], got[0].get(name), v)
				}
			}
			for _, name := range tc.absent {
				if count[name] != 0 {
					t.Errorf("%s=%q sent, want it absent", name, got[0].get(name))
				}
			}
		})
	}
}

// closedErr is rawConn.expectClosed as an error: nil when the gateway closes
// the connection without sending anything more.
func closedErr(rc *rawConn) error {
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	var b [1]byte
	n, err := rc.br.Read(b[:])
	switch {
	case n > 0:
		rest, _ := rc.br.Peek(rc.br.Buffered())
		return fmt.Errorf("want the connection closed, got more bytes: %q", append(b[:n], rest...))
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return nil
	default:
		return fmt.Errorf("want the connection closed, got %v", err)
	}
}

// ---- a recording SCGI backend ----

// scgiReq is one SCGI request as the recording backend parsed it.
type scgiReq struct {
	method, uri, contentLength string
	vars                       [][2]string
	body                       []byte
}

func (r *scgiReq) get(name string) string {
	for _, kv := range r.vars {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// summaries are "METHOD URI CONTENT_LENGTH" per request.
func summaries(reqs []*scgiReq) []string {
	var s []string
	for _, r := range reqs {
		s = append(s, r.method+" "+r.uri+" "+r.contentLength)
	}
	return s
}

// recordingBackend is a real SCGI listener: it parses each netstring and
// body, keeps the request, and answers 200 "recorded".
type recordingBackend struct {
	t       *testing.T
	ln      net.Listener
	mu      sync.Mutex
	reqs    []*scgiReq
	handled int // connections accepted and finished with, parsed or not
}

func startRecordingBackend(t *testing.T) *recordingBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingBackend{t: t, ln: ln}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return r
}

func (r *recordingBackend) addr() string { return r.ln.Addr().String() }

func (r *recordingBackend) serve(c net.Conn) {
	defer func() {
		c.Close()
		r.mu.Lock()
		r.handled++
		r.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(ioTimeout)) //nolint:errcheck
	req, err := readSCGIRequest(bufio.NewReader(c))
	if err != nil {
		if err != io.EOF {
			r.t.Errorf("recording backend: %v", err)
		}
		return
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	io.WriteString(c, "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nrecorded\n") //nolint:errcheck
}

// count is the number of requests recorded so far.
func (r *recordingBackend) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// since returns the requests recorded after the first n.
func (r *recordingBackend) since(n int) []*scgiReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs[n:])
}

// settleRecorder waits until the gateway has no request in flight to b and the
// backend has finished with every connection the gateway opened to it, so
// that what was recorded is all there will be.
func settleRecorder(t *testing.T, r *recordingBackend, b *pool.Backend) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // a hang guard, not a measurement
	for {
		st := b.Stats()
		r.mu.Lock()
		handled := r.handled
		r.mu.Unlock()
		if st.InFlight == 0 && uint64(handled) >= st.Requests {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend never settled: gateway %+v, backend finished %d connections", st, handled)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readSCGIRequest reads "len:" NUL-separated pairs "," and CONTENT_LENGTH
// bytes of body.
func readSCGIRequest(br *bufio.Reader) (*scgiReq, error) {
	lenText, err := br.ReadString(':')
	if err != nil {
		if err == io.EOF && lenText == "" {
			return nil, io.EOF // connected, then closed without a request
		}
		return nil, fmt.Errorf("netstring length: %q, %v", lenText, err)
	}
	size, err := strconv.Atoi(strings.TrimSuffix(lenText, ":"))
	if err != nil || size <= 0 {
		return nil, fmt.Errorf("bad netstring length %q", lenText)
	}
	block := make([]byte, size+1)
	if _, err := io.ReadFull(br, block); err != nil {
		return nil, fmt.Errorf("netstring of %d bytes: %v", size, err)
	}
	if block[size] != ',' || block[size-1] != 0 {
		return nil, fmt.Errorf("netstring not terminated: %q", block)
	}
	fields := bytes.Split(block[:size-1], []byte{0})
	if len(fields)%2 != 0 {
		return nil, fmt.Errorf("a name without a value in %q", block)
	}
	req := &scgiReq{}
	for i := 0; i < len(fields); i += 2 {
		req.vars = append(req.vars, [2]string{string(fields[i]), string(fields[i+1])})
	}
	if req.vars[0][0] != "CONTENT_LENGTH" {
		return nil, fmt.Errorf("first variable %s, want CONTENT_LENGTH", req.vars[0][0])
	}
	req.method, req.uri, req.contentLength = req.get("REQUEST_METHOD"), req.get("REQUEST_URI"), req.vars[0][1]
	clen, err := strconv.Atoi(req.contentLength)
	if err != nil || clen < 0 {
		return nil, fmt.Errorf("CONTENT_LENGTH %q", req.contentLength)
	}
	req.body = make([]byte, clen)
	if _, err := io.ReadFull(br, req.body); err != nil {
		return nil, fmt.Errorf("body of %d bytes: %v", clen, err)
	}
	return req, nil
}
