package loop

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/scgate/scgate/pool"
)

// The handler benchmark runs whole requests through the event handler, as
// gnet would call it, with connections that are plain memory: the client
// sends a request, the SCGI connection opens, takes the netstring, answers,
// and closes. What it measures is the gateway's own code per request.

// memConn is a gnet.Conn made of memory. The embedded interface is nil, so a
// method the handler is not expected to call panics.
type memConn struct {
	gnet.Conn
	el     gnet.EventLoop
	ctx    any
	in     []byte
	off    int
	out    bytes.Buffer
	keep   bool // keep what is written (else only count it)
	wrote  int
	closed bool
	addr   net.Addr
}

func (c *memConn) Context() any              { return c.ctx }
func (c *memConn) SetContext(ctx any)        { c.ctx = ctx }
func (c *memConn) EventLoop() gnet.EventLoop { return c.el }
func (c *memConn) RemoteAddr() net.Addr      { return c.addr }
func (c *memConn) LocalAddr() net.Addr       { return c.addr }
func (c *memConn) Fd() int                   { return -1 }
func (c *memConn) InboundBuffered() int      { return len(c.in) - c.off }
func (c *memConn) OutboundBuffered() int     { return 0 }
func (c *memConn) Close() error              { c.closed = true; return nil }

func (c *memConn) Peek(n int) ([]byte, error) {
	if n < 0 || n > len(c.in)-c.off {
		n = len(c.in) - c.off
	}
	return c.in[c.off : c.off+n], nil
}

func (c *memConn) Discard(n int) (int, error) {
	if n < 0 || n > len(c.in)-c.off {
		n = len(c.in) - c.off
	}
	c.off += n
	return n, nil
}

func (c *memConn) Next(n int) ([]byte, error) {
	b, _ := c.Peek(n)
	c.off += len(b)
	return b, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	c.wrote += len(p)
	if c.keep {
		c.out.Write(p)
	}
	return len(p), nil
}

func (c *memConn) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		m, _ := c.Write(b)
		n += m
	}
	return n, nil
}

// feed replaces the unread input with p.
func (c *memConn) feed(p []byte) { c.in, c.off = p, 0 }

// memLoop is the event loop the memory connections report.
type memLoop struct{ gnet.EventLoop }

// handlerRig is a server with one mapping, a client connection and an SCGI
// connection, all in memory.
type handlerRig struct {
	h        *handler
	client   *memConn
	up       *memConn
	req, ans []byte
}

func newHandlerRig(tb testing.TB, req, ans string) *handlerRig {
	tb.Helper()
	b, err := pool.ParseBackend("scgi://127.0.0.1:4000/")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{Listen: "127.0.0.1:0", Mappings: []Mapping{{Prefix: "/scgi-bin/", Backend: b}}})
	if err != nil {
		tb.Fatal(err)
	}
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	tb.Cleanup(s.bgStop)
	el := &memLoop{}
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	r := &handlerRig{
		h:      &handler{srv: s},
		client: &memConn{el: el, addr: addr},
		up:     &memConn{el: el, addr: addr},
		req:    []byte(req),
		ans:    []byte(ans),
	}
	// The SCGI connection "opens" at once, as connectRaw's does on loopback.
	s.connect = func(_ *loopState, _ *pool.Backend, ctx any, _ bool) (gnet.Conn, bool, error) {
		r.up.ctx, r.up.closed = ctx, false
		r.up.feed(nil)
		if _, act := r.h.OnOpen(r.up); act != gnet.None {
			return nil, false, errSlowPath
		}
		return r.up, false, nil
	}
	if _, act := r.h.OnOpen(r.client); act != gnet.None {
		tb.Fatal("client OnOpen refused")
	}
	return r
}

// roundTrip serves one request on the kept-alive client connection.
func (r *handlerRig) roundTrip(tb testing.TB) {
	r.client.feed(r.req)
	if act := r.h.OnTraffic(r.client); act != gnet.None {
		tb.Fatalf("client OnTraffic: %v", act)
	}
	r.up.feed(r.ans)
	if act := r.h.OnTraffic(r.up); act != gnet.Close {
		tb.Fatalf("SCGI OnTraffic: %v, want Close once the answer is complete", act)
	}
	// gnet closes it: OnClose, then the context is gone.
	r.h.OnClose(r.up, nil)
	r.up.ctx = nil
}

const (
	benchRequest = "GET /scgi-bin/hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
	benchAnswer  = "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, world!\n"
)

// TestHandlerRig checks that the rig serves what a socket would carry, so
// the benchmark measures real work.
func TestHandlerRig(t *testing.T) {
	r := newHandlerRig(t, benchRequest, benchAnswer)
	r.client.keep, r.up.keep = true, true
	for range 3 {
		r.client.out.Reset()
		r.up.out.Reset()
		r.roundTrip(t)
		got := r.client.out.String()
		if !bytes.HasPrefix([]byte(got), []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix([]byte(got), []byte("\r\n\r\nHello, world!\n")) ||
			!bytes.Contains([]byte(got), []byte("\r\nContent-Length: 14\r\n")) || bytes.Contains([]byte(got), []byte("Connection: close")) {
			t.Fatalf("client got %q", got)
		}
		sent := r.up.out.Bytes()
		if !bytes.HasPrefix(sent, []byte("CONTENT_LENGTH\x000\x00")[:0]) || !bytes.Contains(sent, []byte("\x00REQUEST_URI\x00/scgi-bin/hello\x00")) || sent[len(sent)-1] != ',' {
			t.Fatalf("backend got %q", sent)
		}
		if r.client.closed {
			t.Fatal("client connection closed after a keep-alive request")
		}
	}
}

// BenchmarkHandler is one keep-alive request and its SCGI exchange through
// the handler: parse, route, pick, encode, relay, frame, finish.
func BenchmarkHandler(b *testing.B) {
	r := newHandlerRig(b, benchRequest, benchAnswer)
	r.roundTrip(b) // warm the pools
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRequest)))
	for b.Loop() {
		r.roundTrip(b)
	}
}
