package loop

import (
	"errors"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/scgate/scgate/codec"
	"github.com/scgate/scgate/pool"
)

// An SCGI connection carries exactly one request:
//
//	usDialing ──OnOpen: write the netstring (+ body so far)──▶ usHead
//	usHead ──CGI head parsed, HTTP head written──▶ usBody ──backend EOF or length reached──▶ done
type upState uint8

const (
	usDialing upState = iota
	usHead
	usBody
	usDone
)

// bodyMode is how the response body is framed to the client.
type bodyMode uint8

const (
	bodyNone    bodyMode = iota // HEAD, 204, 304: the backend's body is dropped
	bodyLength                  // the backend's Content-Length
	bodyChunked                 // HTTP/1.1 without a length
	bodyClose                   // HTTP/1.0 without a length: ends with the connection
)

type upstream struct {
	cl   *client
	ls   *loopState
	c    gnet.Conn
	tn   timerNode
	park parking

	mp *mapping

	// the member: who was asked, and who may be asked next
	bal        *pool.Balancer
	m          *pool.Member // acquired (counted in flight) while set
	idx        int
	tried      pool.Tried
	attempts   int
	key        []byte
	hasKey     bool
	route      []byte
	fromSpare  bool  // the connection was a warm spare
	inTraffic  bool  // inside onTraffic, which closes the connection itself once released
	captured   bool  // a goroutine or a watch holds it: never reused
	dials      int   // connections started, to tell a nested failover apart
	connecting bool  // connected on the loop, TCP handshake not known to be done: the connect timeout runs
	resent     bool  // already sent again once after a spare died unanswered
	safe       bool  // the method may be repeated on another member
	sentLate   bool  // body bytes went straight to the connection, so out no longer holds the whole request
	bytesIn    int64 // from the backend
	bytesOut   int64 // to the backend

	state    upState
	dead     bool // given up: its OnOpen or OnClose only cleans up
	eof      bool // the backend closed while the client was parked
	headSent bool
	out      *bytebufferpool.ByteBuffer // bytes for the backend until it is connected
	resp     codec.Response
	mode     bodyMode
	remain   int64
}

func newUpstream(cl *client, m *mapping) *upstream {
	ls := cl.ls
	var up *upstream
	if n := len(ls.freeUps); n > 0 {
		up = ls.freeUps[n-1]
		ls.freeUps[n-1] = nil
		ls.freeUps = ls.freeUps[:n-1]
	} else {
		up = new(upstream)
	}
	hdrs := up.resp.Headers[:0]
	*up = upstream{cl: cl, ls: ls, mp: m, bal: m.bal, out: bytebufferpool.Get()}
	up.resp.Headers = hdrs
	up.tn.owner = up
	up.out.B = up.out.B[:0]
	up.safe = idempotent(cl.req.Method)
	cl.pickInputs(up)
	return up
}

// maxFreeUps bounds a loop's list of upstreams kept for reuse.
const maxFreeUps = 1024

// recycle keeps up for a later request once gnet has closed its connection,
// when nothing can reach it any more: not its client, no timer, no watch,
// no goroutine. Anything else is left to the garbage collector.
func (up *upstream) recycle() {
	if !up.dead || up.captured || up.park.state != parkNone || up.tn.kind != tNone ||
		up.cl != nil && up.cl.up == up || len(up.ls.freeUps) >= maxFreeUps {
		return
	}
	clear(up.resp.Headers[:cap(up.resp.Headers)]) // they point into old input
	up.c, up.cl, up.m, up.mp, up.bal = nil, nil, nil, nil, nil
	up.ls.freeUps = append(up.ls.freeUps, up)
}

// backendName is for logs.
func (up *upstream) backendName() string {
	if up.m != nil {
		return up.m.URL
	}
	return "balancer://" + up.bal.Name
}

// armTimeout starts the backend timeout: the member's own, or the default.
func (up *upstream) armTimeout() {
	if up.connecting {
		return // the connect timeout runs until the backend is known to be there
	}
	var d time.Duration
	if up.m != nil {
		d = up.m.Params.Timeout
	}
	up.ls.armBackend(&up.tn, d)
}

// responseTimeout is the backend silence allowed: the member's, or the default.
func (up *upstream) responseTimeout() time.Duration {
	if up.m != nil && up.m.Params.Timeout > 0 {
		return up.m.Params.Timeout
	}
	return up.ls.timers[tBackend].d
}

// releaseMember ends the member's count of this request.
func (up *upstream) releaseMember(failed bool) {
	if up.m != nil {
		up.m.Release(failed, up.bytesIn, up.bytesOut)
		up.m = nil
	}
}

// pending is how much of the request still waits to reach the backend.
func (up *upstream) pending() int {
	n := 0
	if up.c != nil {
		n = up.c.OutboundBuffered()
	}
	if up.out != nil && up.c == nil {
		// Dialing or parked: out is queued. Once connected it is only the
		// copy kept for a resend, already in the socket or its buffer.
		n += len(up.out.B)
	}
	return n
}

// sendBody passes request body bytes on, or queues them until connected.
func (up *upstream) sendBody(p []byte) {
	if up.dead {
		return
	}
	up.bytesOut += int64(len(p))
	if up.c != nil {
		up.c.Write(p) //nolint:errcheck
		up.sentLate = true
		up.armTimeout()
		return
	}
	// Dialing, or parked because the client reads slowly while it uploads:
	// a parked socket still takes writes, straight to its descriptor.
	if up.park.state == parkDetached && (up.out == nil || len(up.out.B) == 0) {
		if n, err := unix.Write(up.park.fd, p); n > 0 {
			p = p[n:]
		} else if err != nil && err != unix.EAGAIN {
			p = nil // the backend is gone; the exchange ends when it is enrolled again
		}
	}
	if len(p) > 0 {
		if up.out == nil {
			up.out = bytebufferpool.Get()
			up.out.B = up.out.B[:0]
		}
		up.out.B = append(up.out.B, p...)
	}
}

func (up *upstream) onOpen(c gnet.Conn) gnet.Action {
	if up.park.state == parkReattaching {
		up.park.opened()
		if up.dead {
			return gnet.Close
		}
		up.c = c
		up.armTimeout()
		up.flushOut()
		return gnet.None
	}
	return up.connected(c)
}

// connected sends the request on a new (or warm spare) connection.
func (up *upstream) connected(c gnet.Conn) gnet.Action {
	if up.dead {
		return gnet.Close
	}
	up.c = c
	up.state = usHead
	up.bytesOut += int64(len(up.out.B))
	// The whole netstring in one write: some backends misread a split length
	// prefix. out is kept until the answer starts, to send it again elsewhere
	// if this connection dies unanswered.
	c.Write(up.out.B) //nolint:errcheck
	if up.dead || up.c != c {
		return gnet.None // the write failed and the request moved on
	}
	up.armTimeout()
	cl := up.cl
	if cl.expect100 && !cl.sent100 && cl.bodyRemain > 0 && cl.state == csBody {
		cl.sent100 = true
		cl.write(codec.Continue100)
	}
	return gnet.None
}

func (up *upstream) onTraffic() gnet.Action {
	if up.dead {
		up.c.Discard(-1) //nolint:errcheck
		return gnet.Close
	}
	if up.connecting {
		up.connecting = false
		up.armTimeout()
	}
	cl := up.cl
	if cl.c == nil {
		// The client is parked: keep the bytes and call it back.
		if cl.park.detached() {
			cl.reattach()
		}
		return gnet.None
	}
	buf, _ := up.c.Peek(-1)
	c := up.c
	up.inTraffic = true
	used, act := up.relay(buf)
	up.inTraffic = false
	if up.c == c && used > 0 { // Discard(0) would drop everything
		c.Discard(used) //nolint:errcheck
	}
	if up.dead {
		return gnet.Close
	}
	switch act {
	case actClose:
		return gnet.Close
	case actPause:
		return up.pause()
	}
	return gnet.None
}

// relayAction is what relay asks of the backend connection.
type relayAction uint8

const (
	actNone  relayAction = iota
	actClose             // the exchange is over
	actPause             // the client is behind: park the backend
)

// relay turns backend bytes into client bytes; it returns how many it used.
func (up *upstream) relay(buf []byte) (int, relayAction) {
	used := 0
	if len(buf) > 0 && up.out != nil && up.state == usHead && up.park.state == parkNone {
		up.dropOut() // the backend has answered: no resending any more
	}
	if up.state == usHead {
		n, err := up.resp.Parse(buf)
		if err == codec.ErrNeedMore {
			up.armTimeout() // new bytes, if not a whole head: the timeout counts silence
			return 0, actNone
		}
		if err == nil && up.resp.Status < 200 {
			err = errInterim // an SCGI exchange has room for one response only
		}
		if err != nil {
			up.ls.srv.cfg.Logger.Warn("malformed backend response", "backend", up.backendName(), "err", err)
			if up.m != nil {
				up.m.NoteError(time.Now().UTC().Format(time.RFC3339) + " malformed response: " + err.Error())
			}
			up.fail(502)
			return len(buf), actClose
		}
		// X-Sendfile first (any status), then an internal redirect (200), as Apache.
		if name, ok := up.sendfileTarget(); ok {
			up.serveFile(name)
			return len(buf), actClose
		}
		if target, ok := up.redirectTarget(); ok {
			up.internalRedirect(target)
			return len(buf), actClose
		}
		used = n
		up.bytesIn += int64(n)
		buf = buf[n:]
		up.state = usBody
		// The head and the body bytes that came with it leave in one write.
		if !up.writeHead(buf) {
			up.abort()
			return used + len(buf), actClose
		}
		used += len(buf)
		up.bytesIn += int64(len(buf))
		buf = nil
	}
	up.armTimeout()
	if len(buf) > 0 && !up.writeBody(nil, buf) {
		up.abort()
		return used + len(buf), actClose
	}
	used += len(buf)
	up.bytesIn += int64(len(buf))
	if up.mode == bodyLength && up.remain == 0 {
		up.finish(true)
		return used, actClose
	}
	if cl := up.cl; cl.c != nil && cl.c.OutboundBuffered() > pauseHigh {
		return used, actPause
	}
	return used, actNone
}

// writeHead sends the client the HTTP head for the backend's CGI head,
// followed by body, the first bytes of the body.
func (up *upstream) writeHead(body []byte) bool {
	cl := up.cl
	s := up.ls.srv
	r := &up.resp
	h := codec.ResponseHead{
		Minor:         cl.minor,
		Status:        r.Status,
		Reason:        r.Reason,
		Headers:       cl.withCarried(r.Headers),
		ContentLength: -1,
	}
	switch {
	case cl.isHead || r.Status == 204 || r.Status == 304:
		up.mode = bodyNone
		if cl.isHead && r.Status != 204 && r.Status != 304 {
			h.ContentLength = r.ContentLength
		}
	case r.ContentLength >= 0:
		up.mode = bodyLength
		up.remain = r.ContentLength
		h.ContentLength = r.ContentLength
	case cl.minor >= 1:
		up.mode = bodyChunked
		h.Chunked = true
	default:
		up.mode = bodyClose
		cl.keepAlive = false
	}
	// A backend may answer while the body still streams in (an echo does):
	// whether the connection can be kept is known only at the end, when
	// requestDone closes it if the backend stopped short of the body.
	if cl.keepAlive && s.isStopping() {
		cl.keepAlive = false
	}
	h.Close = !cl.keepAlive
	h.KeepAlive = cl.keepAlive && cl.minor == 0
	b := bytebufferpool.Get()
	b.B = codec.AppendResponseHead(b.B[:0], &h, s.date.Get(), s.server)
	up.headSent = true
	cl.status = r.Status
	if a := s.cfg.AccessLog; a != nil && len(a.outs) > 0 {
		cl.outVals = a.noteResponse(cl.outVals, h.Headers)
	}
	ok := up.writeBody(b.B, body)
	bytebufferpool.Put(b) // gnet copied what the socket did not take
	return ok
}

// writeBody frames body bytes p for the client and writes them, after head
// when there is one, in a single system call.
func (up *upstream) writeBody(head, p []byte) bool {
	cl := up.cl
	if cl.gone || cl.c == nil {
		return false
	}
	iov := cl.ls.iov[:0]
	if len(head) > 0 {
		iov = append(iov, head)
	}
	if len(p) > 0 {
		switch up.mode {
		case bodyLength:
			if int64(len(p)) > up.remain {
				p = p[:up.remain] // what a backend sends past its Content-Length is dropped
			}
			up.remain -= int64(len(p))
			cl.sent += int64(len(p))
			iov = append(iov, p)
		case bodyChunked:
			cl.sent += int64(len(p))
			iov = append(iov, codec.AppendChunkHeader(cl.chunkHdr[:0], len(p)), p, crlf)
		case bodyClose:
			cl.sent += int64(len(p))
			iov = append(iov, p)
		}
	}
	switch len(iov) {
	case 0:
	case 1:
		cl.c.Write(iov[0]) //nolint:errcheck
	default:
		cl.c.Writev(iov) //nolint:errcheck
	}
	clear(iov)
	return !cl.gone
}

var crlf = []byte("\r\n")

var errInterim = errors.New("1xx status from an SCGI backend")

// finish ends the exchange after the backend's last byte; ok is false when
// the body came up short.
func (up *upstream) finish(ok bool) {
	if up.dead {
		return
	}
	cl := up.cl
	up.release(!ok)
	switch {
	case !ok:
		cl.up = nil
		cl.closeWhenDrained()
		return
	case up.mode == bodyChunked:
		if !cl.write(codec.LastChunk) {
			return
		}
	case up.mode == bodyClose:
		cl.keepAlive = false
	}
	cl.requestDone(true)
}

// fail answers the client with status when nothing of the response has been
// sent yet; otherwise the client connection is cut, the only honest signal.
func (up *upstream) fail(status int) {
	if up.dead {
		return
	}
	cl := up.cl
	up.release(true)
	if up.headSent {
		cl.up = nil
		cl.kill()
		return
	}
	cl.up = nil
	if cl.c == nil {
		// Parked in mid-upload: answer once it is back.
		switch cl.park.state {
		case parkDetached:
			cl.pendingReply = status
			cl.reattach()
		case parkReattaching:
			cl.pendingReply = status
		default:
			cl.kill()
		}
		return
	}
	if cl.state == csBody {
		cl.keepAlive = false
	}
	cl.reply(status)
}

// release marks the upstream done and closes its connection (asynchronously
// when it is open: we may be inside one of its callbacks).
func (up *upstream) release(failed bool) {
	if up.dead {
		return
	}
	up.dead = true
	up.state = usDone
	up.ls.disarm(&up.tn)
	if up.c != nil && up.m != nil && up.m.Network == "tcp" {
		abortOnClose(up.c.Fd())
	}
	up.releaseMember(failed)
	if up.out != nil {
		bytebufferpool.Put(up.out)
		up.out = nil
	}
	switch {
	case up.c == nil:
		up.park.closeFd()
	case up.inTraffic:
		// onTraffic returns Close: gnet closes it there, without the
		// wake-up an asynchronous Close costs.
	default:
		up.c.Close() //nolint:errcheck
	}
	up.park.dropStash()
}

// abort gives the upstream up because its client is gone.
func (up *upstream) abort() {
	up.release(true)
}

func (up *upstream) onClose(c gnet.Conn, err error) {
	if up.park.closed() {
		up.c = nil
		return
	}
	if up.dead {
		return
	}
	if up.connecting && up.bytesIn == 0 && refused(c, err) {
		up.connecting = false
		up.restart()
		up.dialFailed(up.m, err)
		return
	}
	if up.state == usHead && up.bytesIn == 0 && c.InboundBuffered() == 0 && up.resend(err) {
		return
	}
	// Keep what is unread. After a reset (a backend that answers early and
	// closes without reading the body) gnet closes on the failed write
	// before reading, so the answer may still wait in the kernel: read it.
	if buf, _ := c.Peek(-1); len(buf) > 0 {
		up.park.stash = append(up.park.stash, buf...)
	}
	if err != nil {
		up.park.stash = readRest(c.Fd(), up.park.stash, maxDrainOnClose)
	}
	up.c = nil
	up.eof = true
	cl := up.cl
	if cl.c == nil && !cl.gone {
		// The client is parked: finish when it is back.
		if cl.park.detached() {
			cl.reattach()
		}
		return
	}
	up.clientBack()
}

// maxDrainOnClose bounds what is read from a failed backend socket.
const maxDrainOnClose = 1 << 20

// readRest appends what a non-blocking socket still holds, up to max bytes.
func readRest(fd int, dst []byte, max int) []byte {
	var buf [16 << 10]byte
	for read := 0; read < max; {
		n, err := unix.Read(fd, buf[:])
		if n <= 0 || err != nil {
			break
		}
		dst = append(dst, buf[:n]...)
		read += n
	}
	return dst
}

// backendDone handles the backend's end of stream.
func (up *upstream) backendDone() {
	switch up.state {
	case usDialing, usHead:
		up.ls.srv.cfg.Logger.Warn("backend closed before a complete response head", "backend", up.backendName())
		up.fail(502)
	case usBody:
		up.finish(up.mode != bodyLength || up.remain == 0)
	}
}

// clientBack relays what the backend sent while the client could not take
// it, and ends the exchange if the backend is done. It runs when a parked
// client is enrolled again and when the backend closes.
func (up *upstream) clientBack() {
	if up.dead {
		return
	}
	if up.park.hasStash() {
		used, _ := up.relay(up.park.stash[up.park.off:])
		up.park.off += used
		if up.dead {
			return
		}
	}
	if up.eof {
		up.backendDone()
		return
	}
	if up.c != nil && up.c.InboundBuffered() > 0 {
		up.c.Wake(nil) //nolint:errcheck
	}
}

// pause parks the backend connection until the client has taken most of
// what is queued for it.
func (up *upstream) pause() gnet.Action {
	if up.c.OutboundBuffered() > 0 || !up.park.detach(up.c) {
		return gnet.None
	}
	up.ls.disarm(&up.tn)
	cl := up.cl
	cl.ls.arm(&cl.tn, tSend)
	last := cl.c.OutboundBuffered()
	up.captured = true
	up.ls.watch(func() bool {
		if up.dead || !up.park.detached() {
			return false
		}
		if cl.gone {
			up.abort()
			return false
		}
		up.flushParked()
		n := 0 // a parked client was parked with nothing queued
		if cl.c != nil {
			n = cl.c.OutboundBuffered()
		}
		if n > pauseLow {
			if n < last {
				cl.ls.arm(&cl.tn, tSend) // progress: the client is reading
				last = n
			}
			return true
		}
		cl.ls.disarm(&cl.tn)
		up.park.reattach(up.ls, up, func() { up.fail(502) })
		return false
	})
	return gnet.Close
}

// flushOut writes the queued request bytes to the open connection.
func (up *upstream) flushOut() {
	if up.out == nil {
		return
	}
	if len(up.out.B) > 0 {
		up.c.Write(up.out.B) //nolint:errcheck
	}
	if up.out != nil {
		bytebufferpool.Put(up.out)
		up.out = nil
	}
}

// dropOut lets go of the copy of the request kept for resending.
func (up *upstream) dropOut() {
	if up.out != nil {
		bytebufferpool.Put(up.out)
		up.out = nil
	}
}

// flushParked writes what it can of the queued request bytes to the parked
// socket without blocking.
func (up *upstream) flushParked() {
	if up.out == nil || len(up.out.B) == 0 || up.park.state != parkDetached {
		return
	}
	n, err := unix.Write(up.park.fd, up.out.B)
	switch {
	case n > 0:
		up.out.B = up.out.B[:copy(up.out.B, up.out.B[n:])]
	case err != nil && err != unix.EAGAIN:
		up.out.B = up.out.B[:0]
	}
}

func (up *upstream) expire(timerKind) {
	if up.dead {
		return
	}
	if up.connecting {
		up.connecting = false
		if c := up.c; c != nil && connectPending(c.Fd()) {
			c.SetContext(nil) // its OnClose is nobody's business now
			c.Close()         //nolint:errcheck
			up.restart()
			up.dialFailed(up.m, errConnectTimeout)
			return
		}
		// Connected some time ago: the backend's own time has been running
		// since, so only what is left of it remains.
		left := up.responseTimeout() - up.m.ConnectTimeout
		if left <= 0 {
			up.expire(tBackend)
			return
		}
		up.ls.armBackend(&up.tn, left)
		return
	}
	up.ls.srv.cfg.Logger.Warn("backend timed out", "backend", up.backendName())
	if up.m != nil {
		up.m.NoteError(time.Now().UTC().Format(time.RFC3339) + " timed out")
	}
	up.fail(504)
}
