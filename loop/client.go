package loop

import (
	"bytes"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/scgate/scgate/codec"
)

// A client connection's life, one request at a time:
//
//	csHead ──head──▶ csBody (Content-Length body streams to the backend)
//	   │              │ body done
//	   ├──chunked──▶ csChunked (decoded into memory) ──▶ csWait
//	   │                                                   │ response done, keep-alive
//	   ◀───────────────────────────────────────────────────┘
//	any state ──error or no keep-alive──▶ csClosing (output drains) ──▶ csLinger (FIN sent, input discarded) ──▶ closed
type clientState uint8

const (
	csHead    clientState = iota // waiting for or reading a request head
	csChunked                    // buffering a chunked request body
	csBody                       // streaming a Content-Length body to the backend
	csWait                       // request passed on; relaying the response
	csFile                       // serving an X-Sendfile file
	csClosing                    // last answer written; closing once it has drained
	csLinger                     // our FIN is out; discarding input until the peer closes
)

const (
	// pauseHigh and pauseLow bound what one direction of a request may hold in
	// gnet's buffers: above pauseHigh the fast side is detached until the slow
	// side is back under pauseLow.
	pauseHigh = 4 << 20
	pauseLow  = 1 << 20
	// maxPipelined is how much a client may send ahead while its previous
	// request is in flight before it is paused too.
	maxPipelined = 1 << 20
	// maxQueuedBody is the most request body held for a backend when the
	// client can be paused in neither direction.
	maxQueuedBody = 16 * pauseHigh
)

type client struct {
	ls   *loopState
	c    gnet.Conn // nil while detached
	tn   timerNode
	park parking

	state clientState
	gone  bool // OnClose ran, or we gave the connection up: touch nothing
	nreq  int

	remoteIP, remotePort, localIP, localPort []byte

	// the request in flight
	req        codec.Request
	env        codec.Env
	path       []byte
	minor      int
	isHead     bool
	keepAlive  bool
	expect100  bool
	sent100    bool
	bodyRemain int64 // Content-Length bytes not yet read from the client
	chunk      codec.ChunkedDecoder
	chunkBody  *bytebufferpool.ByteBuffer
	savedHead  *bytebufferpool.ByteBuffer
	route      *mapping
	vh         *vhost
	up         *upstream
	chunkHdr   [20]byte
	scriptBuf  []byte // SCRIPT_FILENAME for ProxyPassMatch
	pickKey    []byte // the request's balancer hash key, kept for failover
	pickRoute  []byte // and its sticky route
	getOrHead  bool
	active     bool // counted in the server's requests in flight

	// for the access log
	start      time.Time
	status     int
	sent       int64
	reqLine    []byte
	outVals    [][]byte // response header values for %{NAME}o
	forceClose bool     // the connection cannot carry another request

	// a copy of the current request's head, for internal redirects and files
	curHead, nextHead []byte
	scratchReq        codec.Request

	// internal redirects (redirect.go)
	redirects     int
	redirected    bool
	redirTarget   []byte
	pendingReply  int // a status to answer once a parked client is back
	redirURL      []byte
	redirQuery    []byte
	redirHasQuery bool
	carryRaw      []byte // NUL-separated name/value pairs carried to the final answer
	carry         []codec.Header
	respHdrs      []codec.Header
	extra         []codec.Header

	// X-Sendfile (sendfile.go)
	file         *fileSend
	fileHdrs     []codec.Header
	etag         []byte
	lastMod      []byte
	contentRange []byte
}

func newClient(ls *loopState, c gnet.Conn) *client {
	cl := &client{ls: ls, c: c}
	cl.tn.owner = cl
	ip, port := addrParts(c.RemoteAddr())
	cl.remoteIP, cl.remotePort = []byte(ip), []byte(port)
	ip, port = addrParts(c.LocalAddr())
	cl.localIP, cl.localPort = []byte(ip), []byte(port)
	ls.arm(&cl.tn, tHead)
	return cl
}

func (cl *client) cfg() *Config { return &cl.ls.srv.cfg }

// input returns the bytes received and not yet consumed.
func (cl *client) input() []byte {
	if cl.park.hasStash() {
		if cl.c != nil && cl.c.InboundBuffered() > 0 {
			b, _ := cl.c.Next(-1)
			cl.park.stash = append(cl.park.stash, b...)
		}
		return cl.park.stash[cl.park.off:]
	}
	b, _ := cl.c.Peek(-1)
	return b
}

// consume drops n bytes returned by input.
func (cl *client) consume(n int) {
	if n <= 0 {
		return // gnet's Discard(0) would drop everything
	}
	if cl.park.hasStash() {
		cl.park.off += n
		cl.park.dropStashIfDone()
		return
	}
	cl.c.Discard(n) //nolint:errcheck
}

func (cl *client) onTraffic() gnet.Action {
	if cl.gone {
		cl.c.Discard(-1) //nolint:errcheck
		return gnet.Close
	}
	switch cl.state {
	case csHead:
		cl.serveRequests()
	case csChunked:
		cl.readChunked()
	case csBody:
		return cl.forwardBody()
	case csFile:
		if cl.c.InboundBuffered() > maxQueuedBody {
			cl.kill() // pipelining without end while a file goes out
		}
	case csWait:
		if n := cl.c.InboundBuffered(); n > maxPipelined {
			if act := cl.pause(); act == gnet.Close {
				return act
			}
			if n > maxQueuedBody {
				cl.ls.srv.cfg.Logger.Warn("client pipelines far more than it reads; dropped", "remote", cl.remote())
				cl.kill()
			}
		}
	case csClosing, csLinger:
		cl.c.Discard(-1) //nolint:errcheck
	}
	return gnet.None
}

// serveRequests handles every complete request head in the input while the
// client is free to start one.
func (cl *client) serveRequests() {
	for cl.state == csHead && !cl.gone && cl.c != nil {
		buf := cl.input()
		if len(buf) == 0 {
			if cl.nreq > 0 {
				cl.ls.armOnce(&cl.tn, tIdle)
			}
			return
		}
		n, err := cl.req.Parse(buf, &cl.cfg().Limits)
		if err == codec.ErrNeedMore {
			cl.ls.armOnce(&cl.tn, tHead)
			return
		}
		if err != nil {
			status := 400
			if e, ok := err.(*codec.Error); ok {
				status = e.Status
			}
			cl.keepAlive = false
			cl.isHead = false
			cl.reply(status)
			return
		}
		cl.startRequest(n)
	}
}

// startRequest routes the parsed head of n bytes and sends it on its way.
func (cl *client) startRequest(n int) {
	r := &cl.req
	cfg := cl.cfg()
	if n > 0 {
		cl.curHead = append(cl.curHead[:0], cl.input()[:n]...)
		cl.redirected = false
		if cl.ls.srv.cfg.AccessLog != nil {
			cl.start, cl.status, cl.sent = time.Now(), 0, 0
			cl.outVals = cl.outVals[:0]
			line, _, _ := bytes.Cut(cl.curHead, []byte{'\n'})
			cl.reqLine = append(cl.reqLine[:0], bytes.TrimRight(line, "\r")...)
		}
	}
	cl.nreq++
	if !cl.active {
		cl.active = true
		cl.ls.srv.inflight.Add(1)
	}
	cl.ls.disarm(&cl.tn)
	cl.minor = r.Minor
	cl.isHead = string(r.Method) == "HEAD"
	// An error answered before the body is read leaves the body unread on the
	// connection, so such answers close it.
	if cfg.DisableKeepAlive || cfg.MaxKeepAliveRequests > 0 && cl.nreq >= cfg.MaxKeepAliveRequests {
		cl.forceClose = true
	}
	cl.keepAlive = r.KeepAlive && !r.Chunked && r.ContentLength <= 0 && !cl.forceClose
	cl.getOrHead = cl.isHead || string(r.Method) == "GET"
	cl.expect100 = r.Expect100
	cl.sent100 = false
	cl.bodyRemain = 0

	if string(r.Target) == "*" && string(r.Method) == "OPTIONS" {
		// About the server itself, answered here as Apache does.
		cl.consume(n)
		cl.replyOptions()
		return
	}
	var err error
	cl.path, err = codec.DecodePath(cl.path[:0], r.Path)
	if err != nil {
		status := 400
		if e, ok := err.(*codec.Error); ok {
			status = e.Status
		}
		cl.consume(n)
		cl.reply(status)
		return
	}
	cl.vh = cl.ls.srv.vhostFor(r.Host)
	m := cl.vh.route(cl.path)
	if m == nil {
		cl.consume(n)
		cl.reply(404)
		return
	}
	if m.Status {
		cl.consume(n)
		cl.serveStatus(m)
		return
	}
	if r.ContentLength > cfg.MaxBody {
		cl.consume(n)
		cl.keepAlive = false
		cl.reply(413)
		return
	}
	cl.keepAlive = r.KeepAlive && !cl.forceClose // the request will be read whole
	cl.route = m
	if r.Chunked {
		// The SCGI head needs the decoded length: keep the head, buffer the body.
		cl.savedHead = bytebufferpool.Get()
		cl.savedHead.B = append(cl.savedHead.B[:0], cl.input()[:n]...)
		cl.consume(n)
		cl.chunk.Reset()
		cl.chunkBody = bytebufferpool.Get()
		cl.state = csChunked
		if cl.expect100 {
			cl.sent100 = true
			cl.write(codec.Continue100)
		}
		cl.ls.arm(&cl.tn, tBody)
		cl.readChunked()
		return
	}
	if r.ContentLength > 0 {
		cl.bodyRemain = r.ContentLength
	}
	up := newUpstream(cl, m)
	up.out.B = codec.AppendSCGI(up.out.B, cl.fillEnv(m, cl.bodyRemain))
	cl.consume(n)
	cl.up = up
	cl.state = csWait
	if cl.bodyRemain > 0 {
		cl.state = csBody
		cl.ls.arm(&cl.tn, tBody)
		cl.takeBody()
	}
	up.start()
}

// fillEnv prepares the encoder's input for the current request.
func (cl *client) fillEnv(m *mapping, contentLength int64) *codec.Env {
	s := cl.ls.srv
	r := &cl.req
	e := &cl.env
	*e = codec.Env{
		Req:                r,
		ContentLength:      contentLength,
		DecodedPath:        cl.path,
		PrefixLen:          len(m.prefix),
		SplitPathInfo:      m.SplitPathInfo,
		PassAuth:           m.PassAuth,
		ScriptFilenameBase: m.scriptBase,
		ServerSoftware:     s.software,
		ServerAddr:         cl.localIP,
		ServerPort:         cl.localPort,
		RemoteAddr:         cl.remoteIP,
		RemotePort:         cl.remotePort,
		DocumentRoot:       cl.vh.docRoot,
		ServerAdmin:        cl.vh.admin,
		Scheme:             s.scheme,
		ContextPrefix:      nil,
		Extra:              cl.extraEnv(m),
	}
	if m.Match != nil {
		// ProxyPassMatch: SCRIPT_FILENAME is the URL with the groups filled in.
		cl.scriptBuf = m.Match.Expand(append(cl.scriptBuf[:0], "proxy:"...), []byte(m.ScriptTemplate), cl.path, m.Match.FindSubmatchIndex(cl.path))
		e.ScriptFilenameBase = cl.scriptBuf
		e.PrefixLen = len(cl.path)
	}
	// UseCanonicalName Off, as Apache by default: the name and port the
	// client asked for; without a port in Host, ServerName's port, else the
	// scheme's (UseCanonicalPhysicalPort Off: never the port we listen on).
	e.ServerPort = cl.vh.serverPort
	name, port := splitHostPort(r.Host)
	switch {
	case len(name) > 0:
		// Apache drops a trailing dot and lower-cases the name (vhost.c fix_hostname);
		// HTTP_HOST keeps what was sent. The copy is only made for an upper-case name.
		if len(name) > 1 && name[len(name)-1] == '.' {
			name = name[:len(name)-1]
		}
		if bytes.IndexFunc(name, func(r rune) bool { return 'A' <= r && r <= 'Z' }) >= 0 {
			lower := make([]byte, len(name))
			for i, c := range name {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				lower[i] = c
			}
			name = lower
		}
		e.ServerName = name
		if len(port) > 0 {
			e.ServerPort = port
		}
	case len(cl.vh.serverName) > 0:
		e.ServerName = cl.vh.serverName
	default:
		e.ServerName = cl.localIP
	}
	return e
}

// splitHostPort splits a Host value into name and port; "[::1]:80" keeps its brackets.
func splitHostPort(h []byte) (name, port []byte) {
	if len(h) == 0 {
		return nil, nil
	}
	end := len(h)
	if h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			if i+1 < len(h) && h[i+1] == ':' {
				return h[:i+1], h[i+2:]
			}
			return h[:i+1], nil
		}
		return h, nil
	}
	if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		return h[:i], h[i+1:]
	}
	return h[:end], nil
}

// takeBody moves the body bytes already received to the backend side.
func (cl *client) takeBody() {
	buf := cl.input()
	n := len(buf)
	if int64(n) > cl.bodyRemain {
		n = int(cl.bodyRemain)
	}
	if n == 0 {
		return
	}
	cl.up.sendBody(buf[:n])
	cl.consume(n)
	cl.bodyRemain -= int64(n)
	if cl.bodyRemain == 0 {
		cl.ls.disarm(&cl.tn)
		cl.state = csWait
	}
}

// forwardBody streams newly arrived body bytes, pausing the client when the
// backend does not keep up.
func (cl *client) forwardBody() gnet.Action {
	cl.ls.arm(&cl.tn, tBody)
	if cl.up == nil {
		// The backend is gone and the answer is out; the rest of the body is junk.
		cl.c.Discard(-1) //nolint:errcheck
		return gnet.None
	}
	cl.takeBody()
	if cl.gone || cl.state != csBody || cl.up == nil {
		return gnet.None
	}
	if p := cl.up.pending(); p > pauseHigh {
		if act := cl.pause(); act == gnet.Close {
			return act
		}
		// Not parkable while our answer to it is still queued: a client that
		// uploads fast and reads slowly. Bound what it can make us hold.
		if p > maxQueuedBody {
			cl.ls.srv.cfg.Logger.Warn("client sends far faster than it reads; dropped", "remote", cl.remote())
			cl.kill()
		}
	}
	return gnet.None
}

// readChunked decodes what has arrived of a chunked body; when the body is
// complete it sends the request with its exact length.
func (cl *client) readChunked() {
	buf := cl.input()
	out, n, done, err := cl.chunk.Decode(cl.chunkBody.B, buf)
	cl.chunkBody.B = out
	cl.consume(n)
	if err != nil {
		cl.keepAlive = false
		cl.dropChunked()
		cl.reply(400)
		return
	}
	if int64(len(cl.chunkBody.B)) > cl.cfg().MaxChunkedBody {
		cl.keepAlive = false
		cl.dropChunked()
		cl.reply(413)
		return
	}
	if !done {
		cl.ls.arm(&cl.tn, tBody)
		return
	}
	cl.ls.disarm(&cl.tn)
	// Parse the saved copy again: the original bytes are gone.
	if _, err := cl.req.Parse(cl.savedHead.B, &cl.cfg().Limits); err != nil {
		cl.keepAlive = false
		cl.dropChunked()
		cl.reply(400)
		return
	}
	up := newUpstream(cl, cl.route)
	body := cl.chunkBody.B
	up.out.B = codec.AppendSCGI(up.out.B, cl.fillEnv(cl.route, int64(len(body))))
	up.out.B = append(up.out.B, body...)
	cl.dropChunked()
	cl.up = up
	cl.state = csWait
	up.start()
}

func (cl *client) dropChunked() {
	if cl.chunkBody != nil {
		bytebufferpool.Put(cl.chunkBody)
		cl.chunkBody = nil
	}
	if cl.savedHead != nil {
		bytebufferpool.Put(cl.savedHead)
		cl.savedHead = nil
	}
}

// write sends p to the client; false when the client is gone (a failed write
// closes it synchronously, running onClose).
func (cl *client) write(p []byte) bool {
	if cl.gone || cl.c == nil {
		return false
	}
	cl.c.Write(p) //nolint:errcheck
	return !cl.gone
}

// reply answers the current request with a gateway-made status page.
func (cl *client) reply(status int) {
	s := cl.ls.srv
	if status >= 500 {
		s.cfg.Logger.Debug("error reply", "status", status, "remote", string(cl.remoteIP))
	}
	closeAfter := !cl.keepAlive
	b := bytebufferpool.Get()
	b.B = codec.AppendErrorResponse(b.B[:0], status, closeAfter, s.date.Get(), s.server)
	cl.status = status
	if i := bytes.Index(b.B, []byte("\r\n\r\n")); i >= 0 && !cl.isHead {
		cl.sent += int64(len(b.B) - i - 4)
	}
	if cl.isHead {
		if i := bytes.Index(b.B, []byte("\r\n\r\n")); i >= 0 {
			b.B = b.B[:i+4]
		}
	}
	ok := cl.write(b.B)
	bytebufferpool.Put(b)
	if !ok {
		return
	}
	cl.requestDone(!closeAfter)
}

var allowHeader = []codec.Header{{Name: []byte("Allow"), Value: []byte("GET, HEAD, POST, OPTIONS")}}

// replyOptions answers "OPTIONS *" with the methods the gateway passes on.
func (cl *client) replyOptions() {
	s := cl.ls.srv
	b := bytebufferpool.Get()
	b.B = codec.AppendResponseHead(b.B[:0], &codec.ResponseHead{
		Minor: cl.minor, Status: 200, Headers: allowHeader, Close: !cl.keepAlive,
	}, s.date.Get(), s.server)
	cl.status = 200
	ok := cl.write(b.B)
	bytebufferpool.Put(b)
	if ok {
		cl.requestDone(cl.keepAlive)
	}
}

// requestDone ends the current exchange: the connection either waits for the
// next request (and serves pipelined ones) or closes.
func (cl *client) requestDone(reuse bool) {
	cl.endActive()
	cl.up = nil
	cl.route = nil
	cl.dropChunked()
	cl.endRedirects()
	if cl.gone {
		return
	}
	if !reuse || !cl.keepAlive || cl.bodyRemain > 0 || cl.forceClose || cl.ls.srv.isStopping() {
		cl.closeWhenDrained()
		return
	}
	cl.state = csHead
	if cl.c != nil {
		cl.serveRequests()
	}
}

// closeWhenDrained closes after the last answer has left gnet's buffer:
// closing earlier would drop it.
func (cl *client) closeWhenDrained() {
	if cl.gone || cl.state == csClosing || cl.state == csLinger {
		return
	}
	cl.state = csClosing
	if cl.c == nil {
		cl.kill()
		return
	}
	if !cl.finishClose() {
		cl.ls.arm(&cl.tn, tSend)
		cl.ls.draining = append(cl.ls.draining, cl)
	}
}

// finishClose sends our FIN once the output has drained and lingers to eat
// what the client still sends, so that a close does not reset the answer away.
func (cl *client) finishClose() bool {
	if cl.c.OutboundBuffered() > 0 {
		return false
	}
	if err := unix.Shutdown(cl.c.Fd(), unix.SHUT_WR); err != nil {
		cl.kill()
		return true
	}
	cl.state = csLinger
	cl.c.Discard(-1) //nolint:errcheck
	cl.ls.arm(&cl.tn, tLinger)
	return true
}

// kill drops the connection now, and its request with it.
func (cl *client) kill() {
	if cl.gone {
		return
	}
	cl.gone = true
	cl.ls.disarm(&cl.tn)
	if cl.c != nil {
		cl.c.Close() //nolint:errcheck
	} else {
		cl.park.closeFd()
	}
	cl.release()
}

// endActive stops counting the client's request as in flight, and logs it.
func (cl *client) endActive() {
	if !cl.active {
		return
	}
	cl.active = false
	cl.ls.srv.inflight.Add(-1)
	if a := cl.ls.srv.cfg.AccessLog; a != nil {
		rec := accessRecord{remote: cl.remoteIP, start: cl.start, status: cl.status, sent: cl.sent, head: cl.reqLine, outs: cl.outVals}
		if cl.vh != nil {
			rec.serverName = cl.vh.serverName
		}
		if a.headers {
			if _, err := cl.scratchReq.Parse(cl.curHead, &cl.ls.srv.cfg.Limits); err == nil {
				rec.req = &cl.scratchReq
			}
		}
		a.log(&rec)
	}
}

// release lets go of the request's upstream and buffers.
func (cl *client) release() {
	cl.ls.srv.conns.Add(-1)
	cl.endActive()
	if cl.up != nil {
		cl.up.abort()
		cl.up = nil
	}
	if cl.file != nil {
		cl.file.abort()
	}
	cl.dropChunked()
	cl.park.dropStash()
}

func (cl *client) onClose(c gnet.Conn, _ error) {
	if cl.park.closed() {
		// Our own pause: the socket lives on in the duplicate.
		cl.c = nil
		return
	}
	if cl.gone {
		return
	}
	cl.gone = true
	cl.ls.disarm(&cl.tn)
	cl.release()
}

func (cl *client) expire(k timerKind) {
	if cl.gone {
		return
	}
	if k != tHead && k != tBody || cl.c == nil {
		cl.kill()
		return
	}
	switch {
	case cl.state == csHead && cl.nreq == 0 && cl.c.InboundBuffered() == 0:
		cl.kill() // connected and never said a word
	case cl.state == csHead || cl.state == csChunked || (cl.state == csBody && (cl.up == nil || !cl.up.headSent)):
		// Too slow with its head or body (slowloris): 408, then close.
		if cl.up != nil {
			cl.up.abort()
			cl.up = nil
		}
		cl.keepAlive = false
		cl.reply(408)
	default:
		cl.kill()
	}
}

// pause stops reading from the client until the backend has taken the body
// bytes already queued for it (or the pipeline drains).
func (cl *client) pause() gnet.Action {
	if cl.c.OutboundBuffered() > 0 {
		// A detach would lose queued output; keep reading this time.
		return gnet.None
	}
	if !cl.park.detach(cl.c) {
		return gnet.None
	}
	cl.ls.watch(cl.resumeCheck)
	return gnet.Close
}

// resumeCheck runs on the loop every few milliseconds while the client is
// detached; it reports whether to keep watching.
func (cl *client) resumeCheck() bool {
	if cl.gone {
		return false
	}
	if !cl.park.detached() {
		return false
	}
	switch {
	case cl.state == csBody && cl.up != nil && cl.up.pending() > pauseLow:
		return true
	case cl.state == csWait && cl.up != nil:
		return true // a pipeline flood: wait for the response, whose first bytes call us back
	}
	cl.reattach()
	return false
}

// reattach hands the detached socket back to gnet on this loop.
func (cl *client) reattach() {
	if !cl.park.detached() {
		return
	}
	cl.park.reattach(cl.ls, cl, func() { cl.kill() })
}

func (cl *client) onReattach(c gnet.Conn) gnet.Action {
	cl.park.opened()
	if cl.gone {
		return gnet.Close
	}
	cl.c = c
	if st := cl.pendingReply; st != 0 {
		// The backend failed while we were parked: the answer, then a close
		// (the rest of the body is not read).
		cl.pendingReply = 0
		cl.keepAlive = false
		cl.reply(st)
		return gnet.None
	}
	switch cl.state {
	case csBody:
		cl.takeBody()
	case csHead:
		cl.serveRequests()
	case csChunked:
		cl.readChunked()
	}
	if cl.up != nil {
		cl.up.clientBack()
	}
	return gnet.None
}

// remote is used in logs.
func (cl *client) remote() string {
	return net.JoinHostPort(string(cl.remoteIP), string(cl.remotePort))
}
