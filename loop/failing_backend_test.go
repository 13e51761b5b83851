package loop_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/loop"
)

// Failing backends (issue 7): one real TCP listener per way a backend can
// misbehave, all behind one gateway with a single event loop, so that a
// misbehaving backend which stalled the loop would stall everyone.

const (
	// failTimeout is the gateway's ResponseTimeout (backend silence, then 504).
	failTimeout = time.Second
	// failMargin is what an exchange may take beyond the time the gateway is
	// meant to need: two sweeps of the timer lists (100 ms each) and
	// scheduling slack under -race on a busy machine. It is a bound on a
	// hang, not a performance threshold.
	failMargin = time.Second
	// dripGap is the pause of the slow backend between two bytes.
	dripGap = 50 * time.Millisecond
	// othersCount is how many ordinary requests go to the healthy backend
	// while a bad one misbehaves.
	othersCount = 20
	// endlessHead is what the backend with a head without end tries to send.
	endlessHead = 10 << 20
)

// badBackend is a TCP listener whose connections run serve.
type badBackend struct {
	t       *testing.T
	addr    string
	reached chan struct{} // a connection has started to misbehave
	hold    chan struct{} // closed: held misbehaviour may end
	once    sync.Once
	wrote   chan writeResult // what a writing backend managed to send
	last    chan time.Time   // when a dripping backend sent its last byte
}

type writeResult struct {
	n   int
	err error
}

func startBad(t *testing.T, serve func(bb *badBackend, c net.Conn, br *bufio.Reader)) *badBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bb := &badBackend{
		t:       t,
		addr:    ln.Addr().String(),
		reached: make(chan struct{}, 16),
		hold:    make(chan struct{}),
		wrote:   make(chan writeResult, 16),
		last:    make(chan time.Time, 16),
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				serve(bb, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		bb.release()
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return bb
}

// signal tells the test the connection misbehaves from now on.
func (bb *badBackend) signal() {
	select {
	case bb.reached <- struct{}{}:
	default:
	}
}

// wait blocks until the test releases held misbehaviour; it reports false
// when it waited d without release (d 0: no limit).
func (bb *badBackend) wait(d time.Duration) bool {
	if d == 0 {
		<-bb.hold
		return true
	}
	select {
	case <-bb.hold:
		return true
	case <-time.After(d):
		return false
	}
}

func (bb *badBackend) release() { bb.once.Do(func() { close(bb.hold) }) }

// readRequest reads one SCGI request (netstring head and body) and fails the
// test when it is not well formed.
func (bb *badBackend) readRequest(br *bufio.Reader) (map[string]string, bool) {
	env, err := readSCGI(br)
	if err != nil {
		bb.t.Errorf("backend %s: reading the SCGI request: %v", bb.addr, err)
		return nil, false
	}
	return env, true
}

func readSCGI(br *bufio.Reader) (map[string]string, error) {
	l, err := br.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(l, ":"))
	if err != nil || n <= 0 || n > 1<<20 {
		return nil, fmt.Errorf("netstring length %q", l)
	}
	head := make([]byte, n+1)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, err
	}
	if head[n] != ',' {
		return nil, fmt.Errorf("netstring ends with %q, not ','", head[n])
	}
	fields := strings.Split(string(head[:n]), "\x00")
	if len(fields)%2 != 1 || fields[len(fields)-1] != "" {
		return nil, fmt.Errorf("odd SCGI head %q", head[:n])
	}
	env := map[string]string{}
	for i := 0; i+1 < len(fields); i += 2 {
		env[fields[i]] = fields[i+1]
	}
	cl, err := strconv.ParseInt(env["CONTENT_LENGTH"], 10, 64)
	if err != nil || env["SCGI"] != "1" {
		return nil, fmt.Errorf("CONTENT_LENGTH %q SCGI %q", env["CONTENT_LENGTH"], env["SCGI"])
	}
	if _, err := io.CopyN(io.Discard, br, cl); err != nil {
		return nil, fmt.Errorf("body: %v", err)
	}
	return env, nil
}

// ---- the client side ----

// seen is what the client of a bad exchange got.
type seen struct {
	resp *http.Response // nil when no head came
	body []byte
	err  error // reading the head or the body; nil: the body was complete
	end  time.Time
	took time.Duration // from the request sent
}

// exchange is one request on its own connection, read in the background.
type exchange struct {
	c     net.Conn
	br    *bufio.Reader
	start time.Time
	done  chan seen
}

// startExchange sends req (and body zero bytes after it) on a new
// connection; the outcome arrives on done. limit bounds the whole exchange
// until finish sets the bound that applies.
func startExchange(t *testing.T, gw, req string, body int64, limit time.Duration) *exchange {
	t.Helper()
	c, err := net.DialTimeout("tcp", gw, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", gw, err)
	}
	t.Cleanup(func() { c.Close() })
	ex := &exchange{c: c, br: bufio.NewReader(c), done: make(chan seen, 1)}
	method, _, _ := strings.Cut(req, " ")
	ex.start = time.Now()
	c.SetDeadline(ex.start.Add(limit))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	if body > 0 {
		// The gateway may stop taking the body: the write then fails.
		go c.Write(make([]byte, body)) //nolint:errcheck
	}
	go func() {
		var s seen
		s.resp, s.err = http.ReadResponse(ex.br, &http.Request{Method: method})
		if s.err == nil {
			s.body, s.err = io.ReadAll(s.resp.Body)
		}
		s.end = time.Now()
		s.took = s.end.Sub(ex.start)
		ex.done <- s
	}()
	return ex
}

// cut reports whether err is how a connection ends under a response begun.
func cut(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func (s seen) String() string {
	if s.resp == nil {
		return fmt.Sprintf("no response (%v) after %v", s.err, s.took)
	}
	b := s.body
	if len(b) > 64 {
		b = append(b[:64:64], "..."...)
	}
	return fmt.Sprintf("%q, %d body bytes %q, then %v, after %v", s.resp.Status, len(s.body), b, s.err, s.took)
}

// serveOthers sends ordinary requests, each on a new connection, to the
// healthy backend on the gateway's only loop; all must succeed, together
// within the bad backend's timeout. With bad set, the bad exchange must
// still be under way when they are done.
func serveOthers(t *testing.T, gw string, bad *exchange) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: failTimeout}
	start := time.Now()
	for i := range othersCount {
		resp, err := c.Get("http://" + gw + "/ok/hello")
		if err != nil {
			t.Fatalf("ordinary request %d while a backend misbehaves: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
			t.Fatalf("ordinary request %d while a backend misbehaves: %q %q %v", i, resp.Status, body, err)
		}
	}
	if d := time.Since(start); d >= failTimeout {
		t.Errorf("%d ordinary requests took %v, not quick next to the %v backend timeout", othersCount, d, failTimeout)
	}
	if bad == nil {
		return
	}
	select {
	case s := <-bad.done:
		bad.done <- s
		t.Errorf("the bad exchange ended before the %d ordinary requests (%v): %v", othersCount, time.Since(start), s)
	default:
	}
}

// waitReached waits for the bad backend to start misbehaving.
func waitReached(t *testing.T, bb *badBackend, ex *exchange) {
	t.Helper()
	select {
	case <-bb.reached:
	case s := <-ex.done:
		t.Fatalf("the gateway answered before the backend misbehaved: %v", s)
	case <-time.After(failTimeout + failMargin):
		t.Fatalf("backend %s not reached within %v", bb.addr, failTimeout+failMargin)
	}
}

// finish waits for the end of the exchange, which must come between lo
// and hi after from; one that has not ended by then fails the test.
func (ex *exchange) finish(t *testing.T, what string, from time.Time, lo, hi time.Duration) seen {
	t.Helper()
	ex.c.SetDeadline(from.Add(hi + 250*time.Millisecond))
	s := <-ex.done
	if ne := (net.Error)(nil); errors.As(s.err, &ne) && ne.Timeout() {
		t.Fatalf("%s: no end within %v: %v", what, hi, s)
	}
	if d := s.end.Sub(from); d < lo || d > hi {
		t.Errorf("%s took %v, want between %v and %v", what, d, lo, hi)
	}
	return s
}

func wantStatus(t *testing.T, s seen, status int) {
	t.Helper()
	if s.resp == nil || s.resp.StatusCode != status || s.err != nil {
		t.Fatalf("got %v, want a complete %d", s, status)
	}
}

// ---- the misbehaving backends ----

// neverReads accepts and holds the connection without reading a byte.
func neverReads(bb *badBackend, c net.Conn, br *bufio.Reader) {
	bb.signal()
	bb.wait(0)
}

// neverAnswers reads the request and holds the connection.
func neverAnswers(bb *badBackend, c net.Conn, br *bufio.Reader) {
	if _, ok := bb.readRequest(br); !ok {
		return
	}
	bb.signal()
	bb.wait(0)
}

// halfHead sends part of a head, waits for the test, then closes.
func halfHead(bb *badBackend, c net.Conn, br *bufio.Reader) {
	if _, ok := bb.readRequest(br); !ok {
		return
	}
	io.WriteString(c, "Status: 200 OK\r\nContent-Ty") //nolint:errcheck
	bb.signal()
	bb.wait(0)
}

// endlessHeadBackend sends header lines without end, 10 MiB of them.
func endlessHeadBackend() func(bb *badBackend, c net.Conn, br *bufio.Reader) {
	var head bytes.Buffer
	head.WriteString("Status: 200 OK\r\n")
	pad := strings.Repeat("a", 1000)
	for i := 0; head.Len() < endlessHead; i++ {
		fmt.Fprintf(&head, "X-Pad-%06d: %s\r\n", i, pad)
	}
	return func(bb *badBackend, c net.Conn, br *bufio.Reader) {
		if _, ok := bb.readRequest(br); !ok {
			return
		}
		bb.signal()
		n, err := c.Write(head.Bytes()[:endlessHead])
		bb.wrote <- writeResult{n, err}
	}
}

// shortBody promises 1000000 bytes, sends 1000, waits for the test, closes.
func shortBody(bb *badBackend, c net.Conn, br *bufio.Reader) {
	if _, ok := bb.readRequest(br); !ok {
		return
	}
	io.WriteString(c, "Status: 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n"+ //nolint:errcheck
		strings.Repeat("s", 1000))
	bb.signal()
	bb.wait(0)
}

// longBody says Content-Length: 10 and sends 1 MiB.
func longBody(bb *badBackend, c net.Conn, br *bufio.Reader) {
	if _, ok := bb.readRequest(br); !ok {
		return
	}
	bb.signal()
	io.WriteString(c, "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n0123456789"+ //nolint:errcheck
		strings.Repeat("x", 1<<20))
}

// resets reads the request and resets the connection at once.
func resets(bb *badBackend, c net.Conn, br *bufio.Reader) {
	if _, ok := bb.readRequest(br); !ok {
		return
	}
	c.(*net.TCPConn).SetLinger(0) //nolint:errcheck
	c.Close()
	bb.signal()
}

// slowBody and slowResponse are what the dripping backends send.
const (
	slowBody     = "slow, but never silent.\n"
	slowResponse = "Status: 200 OK\r\nContent-Length: 24\r\n\r\n" + slowBody
	slowHeadLen  = len(slowResponse) - len(slowBody)
)

// drip sends slowResponse with bytes from..to-1 one at a time, gap apart;
// the bytes before and after them go at once.
func drip(from, to int, gap time.Duration) func(bb *badBackend, c net.Conn, br *bufio.Reader) {
	return func(bb *badBackend, c net.Conn, br *bufio.Reader) {
		if _, ok := bb.readRequest(br); !ok {
			return
		}
		bb.signal()
		if from > 0 {
			if _, err := io.WriteString(c, slowResponse[:from]); err != nil {
				return
			}
		}
		for i := from; i < to; i++ {
			if i+1 == to {
				bb.last <- time.Now()
			}
			if _, err := io.WriteString(c, slowResponse[i:i+1]); err != nil {
				return // the gateway gave up
			}
			if i+1 < to && bb.wait(gap) {
				return // the test is over
			}
		}
		io.WriteString(c, slowResponse[to:]) //nolint:errcheck
	}
}

// ---- the test ----

func TestFailingBackends(t *testing.T) {
	bad := map[string]*badBackend{
		"noread":     startBad(t, neverReads),
		"noanswer":   startBad(t, neverAnswers),
		"noreadpost": startBad(t, neverReads),
		"halfhead":   startBad(t, halfHead),
		"bighead":    startBad(t, endlessHeadBackend()),
		"short":      startBad(t, shortBody),
		"long":       startBad(t, longBody),
		"reset":      startBad(t, resets),
		"driphead":   startBad(t, drip(0, slowHeadLen, dripGap)),
		"dripbody":   startBad(t, drip(slowHeadLen, len(slowResponse), dripGap)),
		"stallhead":  startBad(t, drip(0, slowHeadLen, failTimeout*3/2)),
		"stallbody":  startBad(t, drip(slowHeadLen, len(slowResponse), failTimeout*3/2)),
	}
	cfg := loop.Config{
		Loops:           1, // everyone on the loop the bad backend might stall
		ResponseTimeout: failTimeout,
		Mappings: []loop.Mapping{
			{Prefix: "/ok/", Backend: mustBackend(t, "scgi://"+startApp(t, "127.0.0.1:0").Addr().String()+"/")},
			{Prefix: "/refused/", Backend: mustBackend(t, "scgi://"+freeAddr(t)+"/")},
		},
	}
	for name, bb := range bad {
		cfg.Mappings = append(cfg.Mappings, loop.Mapping{Prefix: "/" + name + "/", Backend: mustBackend(t, "scgi://"+bb.addr+"/")})
	}
	gw := startGateway(t, cfg)
	// idle asserts the gateway let go of the prefix's backend.
	idle := func(t *testing.T, prefix string) {
		t.Helper()
		for _, m := range cfg.Mappings {
			if m.Prefix == "/"+prefix+"/" {
				waitIdle(t, m.Backend)
				return
			}
		}
		t.Fatalf("no mapping for %s", prefix)
	}
	reqFor := func(prefix string) string { return "GET /" + prefix + "/x HTTP/1.1\r\nHost: x\r\n\r\n" }
	// limit is where a client gives up on an exchange that should have ended.
	limit := failTimeout + failMargin + 5*time.Second

	t.Run("1 refused", func(t *testing.T) {
		ex := startExchange(t, gw, reqFor("refused"), 0, limit)
		s := ex.finish(t, "503 for a refused connect", ex.start, 0, failTimeout+failMargin)
		wantStatus(t, s, 503)
		serveOthers(t, gw, nil)
		idle(t, "refused")
	})

	// A backend that takes the connection and then says nothing: the
	// response timeout counts from the request written.
	for _, tc := range []struct{ name, prefix string }{
		{"2 accepts and never reads", "noread"},
		{"3 reads and never answers", "noanswer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := startExchange(t, gw, reqFor(tc.prefix), 0, limit)
			waitReached(t, bad[tc.prefix], ex)
			serveOthers(t, gw, ex)
			s := ex.finish(t, "504", ex.start, failTimeout, failTimeout+failMargin)
			wantStatus(t, s, 504)
			idle(t, tc.prefix)
		})
	}

	t.Run("2 never reads a large request body", func(t *testing.T) {
		const n = 32 << 20 // far more than the socket buffers and the gateway's pause threshold
		ex := startExchange(t, gw, fmt.Sprintf("POST /noreadpost/x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n), n, limit)
		waitReached(t, bad["noreadpost"], ex)
		serveOthers(t, gw, ex)
		s := ex.finish(t, "504", ex.start, failTimeout, failTimeout+failMargin)
		wantStatus(t, s, 504)
		idle(t, "noreadpost")
	})

	t.Run("4 half a head then close", func(t *testing.T) {
		ex := startExchange(t, gw, reqFor("halfhead"), 0, limit)
		waitReached(t, bad["halfhead"], ex)
		serveOthers(t, gw, ex) // the half head alone is no answer yet
		closed := time.Now()
		bad["halfhead"].release()
		s := ex.finish(t, "502 after the backend closed", closed, 0, failTimeout+failMargin)
		wantStatus(t, s, 502)
		idle(t, "halfhead")
	})

	t.Run("5 head without end", func(t *testing.T) {
		ex := startExchange(t, gw, reqFor("bighead"), 0, limit)
		waitReached(t, bad["bighead"], ex)
		serveOthers(t, gw, nil)
		s := ex.finish(t, "502 for a head over 8 KiB", ex.start, 0, failTimeout+failMargin)
		wantStatus(t, s, 502)
		// The gateway gave up on the head instead of taking it all in.
		select {
		case w := <-bad["bighead"].wrote:
			if w.err == nil || w.n >= endlessHead {
				t.Errorf("the backend wrote %d of %d bytes of head, then %v: want the gateway to close on it", w.n, endlessHead, w.err)
			}
			t.Logf("the backend got %d of %d bytes of head out before %v", w.n, endlessHead, w.err)
		case <-time.After(failTimeout + failMargin):
			t.Errorf("the backend's write of a %d-byte head is still blocked: the gateway neither read nor closed", endlessHead)
		}
		idle(t, "bighead")
	})

	t.Run("6 body shorter than its length", func(t *testing.T) {
		ex := startExchange(t, gw, reqFor("short"), 0, limit)
		waitReached(t, bad["short"], ex)
		serveOthers(t, gw, ex)
		closed := time.Now()
		bad["short"].release()
		s := ex.finish(t, "the close after the backend's", closed, 0, failTimeout+failMargin)
		if s.resp == nil || s.resp.StatusCode != 200 || s.resp.ContentLength != 1000000 {
			t.Fatalf("got %v, want the backend's 200 head with Content-Length 1000000", s)
		}
		if string(s.body) != strings.Repeat("s", 1000) || !cut(s.err) {
			t.Errorf("got %v: want the 1000 bytes sent, then the connection closed", s)
		}
		idle(t, "short")
	})

	t.Run("7 body longer than its length", func(t *testing.T) {
		ex := startExchange(t, gw, reqFor("long"), 0, limit)
		waitReached(t, bad["long"], ex)
		serveOthers(t, gw, nil)
		s := ex.finish(t, "the 10-byte answer", ex.start, 0, failTimeout+failMargin)
		wantStatus(t, s, 200)
		if string(s.body) != "0123456789" || s.resp.ContentLength != 10 || s.resp.Close {
			t.Fatalf("got %v (Content-Length %d, close %v): want exactly the 10 bytes, on a kept connection",
				s, s.resp.ContentLength, s.resp.Close)
		}
		// The extra bytes were dropped, not left for the next answer.
		ex.c.SetDeadline(time.Now().Add(failTimeout + failMargin))
		if _, err := io.WriteString(ex.c, "GET /ok/hello HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(ex.br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("next request on the connection: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
			t.Errorf("next request on the connection: %q %q %v", resp.Status, body, err)
		}
		idle(t, "long")
	})

	t.Run("8 reset after the request", func(t *testing.T) {
		ex := startExchange(t, gw, reqFor("reset"), 0, limit)
		waitReached(t, bad["reset"], ex)
		serveOthers(t, gw, nil)
		s := ex.finish(t, "502 for a reset", ex.start, 0, failTimeout+failMargin)
		wantStatus(t, s, 502)
		idle(t, "reset")
	})

	// The backend timeout counts silence, not the whole exchange: a backend
	// that sends a byte every dripGap is slow but never silent, in the head
	// and in the body alike.
	for _, tc := range []struct {
		name, prefix string
		bytes        int // sent one by one
	}{
		{"9 slow head", "driphead", slowHeadLen},
		{"9 slow body", "dripbody", len(slowBody)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drip := time.Duration(tc.bytes-1) * dripGap
			if drip <= failTimeout {
				t.Fatalf("the drip (%v) must outlast the timeout (%v) to tell silence from total time", drip, failTimeout)
			}
			ex := startExchange(t, gw, reqFor(tc.prefix), 0, limit+drip)
			waitReached(t, bad[tc.prefix], ex)
			serveOthers(t, gw, ex)
			// The drip's pace is the test's own backend's: the bound counts
			// from its last byte.
			s := <-ex.done
			wantStatus(t, s, 200)
			if string(s.body) != slowBody {
				t.Errorf("got %v, want the body %q", s, slowBody)
			}
			select {
			case last := <-bad[tc.prefix].last:
				if d := s.end.Sub(last); d > failMargin {
					t.Errorf("the answer ended %v after the backend's last byte, want at most %v", d, failMargin)
				}
			default:
				t.Errorf("the answer is complete before the backend sent its last byte: %v", s)
			}
			if s.took < drip {
				t.Errorf("the dripped answer took %v, less than the %v the backend took to send it", s.took, drip)
			}
			idle(t, tc.prefix)
		})
	}

	// A byte every 1.5 timeouts: silent too long, before the head is
	// complete (504) or after it went out (the connection is cut).
	t.Run("9 silent in the head", func(t *testing.T) {
		ex := startExchange(t, gw, reqFor("stallhead"), 0, limit)
		waitReached(t, bad["stallhead"], ex)
		serveOthers(t, gw, ex)
		s := ex.finish(t, "504", ex.start, failTimeout, failTimeout+failMargin)
		wantStatus(t, s, 504)
		idle(t, "stallhead")
	})
	t.Run("9 silent in the body", func(t *testing.T) {
		ex := startExchange(t, gw, reqFor("stallbody"), 0, limit)
		waitReached(t, bad["stallbody"], ex)
		serveOthers(t, gw, ex)
		s := ex.finish(t, "the cut", ex.start, failTimeout, failTimeout+failMargin)
		if s.resp == nil || s.resp.StatusCode != 200 || string(s.body) != slowBody[:1] || !cut(s.err) {
			t.Fatalf("got %v: want the 200 head and the first body byte, then the connection cut", s)
		}
		idle(t, "stallbody")
	})

	// Every bad exchange is over: the loop serves as before.
	serveOthers(t, gw, nil)
}
