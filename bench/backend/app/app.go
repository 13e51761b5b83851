// Package app is a small SCGI application server used to test and benchmark
// the scgate gateway. It speaks SCGI version 1 (one request per connection,
// the server closes the connection after the response) and answers a fixed
// set of routes chosen by the last path segment of SCRIPT_NAME+PATH_INFO.
//
// It is a test/demo application, not production code: every connection gets
// its own goroutine and requests are validated strictly so that gateway bugs
// show up as 400 answers.
package app

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	bufSize = 64 << 10
	// maxHeaderLen bounds the netstring payload; the protocol allows up to
	// 10 length digits but no sane gateway sends more than a few KiB.
	maxHeaderLen = 16 << 20
	// maxBytes is the largest n accepted by the bytes route (4 GiB).
	maxBytes = 4 << 30
	// connTimeout bounds the lifetime of one connection.
	connTimeout = 10 * time.Minute
	// maxHeadersRoute bounds n for the headers route.
	maxHeadersRoute = 100000
	// patternSeed is the initial state of the deterministic byte stream.
	patternSeed = uint64(0x9E3779B97F4A7C15)
)

var helloResponse = []byte("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, world!\n")

// Listen opens addr, either "host:port" (TCP) or "unix:/path" (Unix stream
// socket). A stale socket file at /path is removed first; if something still
// accepts connections on it, Listen fails instead.
func Listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if path == "" {
		return nil, errors.New("app: empty unix socket path")
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("app: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("app: %s is in use", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	return net.Listen("unix", path)
}

// Serve accepts SCGI connections on ln until ln is closed, handling each
// connection in its own goroutine. It returns nil once ln has been closed and
// the accept error otherwise.
func Serve(ln net.Listener) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		go serveConn(c)
	}
}

// isTemporary reports accept errors worth retrying (EMFILE, ECONNABORTED...).
func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// Pattern fills dst with the deterministic stream continuing from state x and
// returns the new state. Each 8-byte block is produced by one xorshift64 step
// (x ^= x<<13; x ^= x>>7; x ^= x<<17) and written little-endian. When
// len(dst) is not a multiple of 8 the final block is truncated, so only the
// last call for a stream may use such a length. The stream starts with
// Pattern(dst, PatternSeed()).
func Pattern(dst []byte, x uint64) uint64 {
	for len(dst) >= 8 {
		x = xorshift(x)
		binary.LittleEndian.PutUint64(dst, x)
		dst = dst[8:]
	}
	if len(dst) > 0 {
		var blk [8]byte
		x = xorshift(x)
		binary.LittleEndian.PutUint64(blk[:], x)
		copy(dst, blk[:])
	}
	return x
}

// PatternSeed returns the initial state of the stream served by the bytes route.
func PatternSeed() uint64 { return patternSeed }

func xorshift(x uint64) uint64 {
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	return x
}

// PatternReader returns a reader producing the first n bytes of the stream
// served by the bytes route; reads may have any size.
func PatternReader(n int64) io.Reader {
	return &patternReader{x: patternSeed, n: n, off: 8}
}

type patternReader struct {
	x   uint64
	n   int64
	blk [8]byte
	off int // consumed bytes of blk; 8 when empty
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	i := 0
	for i < len(p) {
		switch {
		case r.off < 8:
			c := copy(p[i:], r.blk[r.off:])
			r.off += c
			i += c
		case len(p)-i >= 8:
			whole := (len(p) - i) &^ 7
			r.x = Pattern(p[i:i+whole], r.x)
			i += whole
		default:
			r.x = xorshift(r.x)
			binary.LittleEndian.PutUint64(r.blk[:], r.x)
			r.off = 0
		}
	}
	r.n -= int64(i)
	return i, nil
}

// pair is one SCGI header; name and value alias the connection's header buffer.
type pair struct {
	name, value []byte
}

type conn struct {
	c     net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	hdr   []byte
	pairs []pair
	clen  int64
}

var connPool = sync.Pool{New: func() any {
	return &conn{
		br:  bufio.NewReaderSize(nil, bufSize),
		bw:  bufio.NewWriterSize(nil, bufSize),
		hdr: make([]byte, 0, 4096),
	}
}}

func serveConn(nc net.Conn) {
	cs := connPool.Get().(*conn)
	cs.c = nc
	cs.br.Reset(nc)
	cs.bw.Reset(nc)
	defer func() {
		nc.Close()
		cs.c = nil
		cs.br.Reset(nil)
		cs.bw.Reset(nil)
		if cap(cs.hdr) > 64<<10 {
			cs.hdr = make([]byte, 0, 4096)
		}
		clear(cs.pairs)
		cs.pairs = cs.pairs[:0]
		cs.clen = 0
		connPool.Put(cs)
	}()
	nc.SetDeadline(time.Now().Add(connTimeout))
	if err := cs.readRequest(); err != nil {
		if errors.Is(err, errBadRequest) {
			cs.badRequest(err.Error())
		}
		return
	}
	cs.route()
}

var errBadRequest = errors.New("bad request")

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadRequest}, args...)...)
}

// readRequest reads and validates the netstring header block.
func (cs *conn) readRequest() error {
	var n int
	digits := 0
	for {
		b, err := cs.br.ReadByte()
		if err != nil {
			if digits == 0 && err == io.EOF {
				return err // connection closed without a request
			}
			return badf("netstring: reading length: %v", err)
		}
		if b == ':' {
			break
		}
		if b < '0' || b > '9' {
			return badf("netstring: invalid byte %q in length", b)
		}
		if digits == 1 && n == 0 {
			return badf("netstring: leading zero in length")
		}
		if digits++; digits > 10 {
			return badf("netstring: length has more than 10 digits")
		}
		n = n*10 + int(b-'0')
	}
	if digits == 0 {
		return badf("netstring: empty length")
	}
	if n > maxHeaderLen {
		return badf("netstring: header block of %d bytes exceeds %d", n, maxHeaderLen)
	}
	if cap(cs.hdr) < n {
		cs.hdr = make([]byte, n)
	}
	cs.hdr = cs.hdr[:n]
	if _, err := io.ReadFull(cs.br, cs.hdr); err != nil {
		return badf("netstring: reading %d header bytes: %v", n, err)
	}
	if b, err := cs.br.ReadByte(); err != nil {
		return badf("netstring: reading trailing ',': %v", err)
	} else if b != ',' {
		return badf("netstring: got %q instead of trailing ','", b)
	}

	h := cs.hdr
	if len(h) > 0 && h[len(h)-1] != 0 {
		return badf("header block does not end with NUL")
	}
	for len(h) > 0 {
		i := bytes.IndexByte(h, 0)
		if i == 0 {
			return badf("empty header name")
		}
		name := h[:i]
		h = h[i+1:]
		if len(h) == 0 {
			return badf("header %q has no value", name)
		}
		j := bytes.IndexByte(h, 0)
		cs.pairs = append(cs.pairs, pair{name, h[:j]})
		h = h[j+1:]
	}
	if len(cs.pairs) == 0 || string(cs.pairs[0].name) != "CONTENT_LENGTH" {
		return badf("first header must be CONTENT_LENGTH")
	}
	cl := cs.pairs[0].value
	if len(cl) == 0 || len(cl) > 18 {
		return badf("invalid CONTENT_LENGTH %q", cl)
	}
	for _, b := range cl {
		if b < '0' || b > '9' {
			return badf("invalid CONTENT_LENGTH %q", cl)
		}
		cs.clen = cs.clen*10 + int64(b-'0')
	}
	scgi := false
	for _, p := range cs.pairs {
		if string(p.name) == "SCGI" && string(p.value) == "1" {
			scgi = true
			break
		}
	}
	if !scgi {
		return badf("missing SCGI=1 header")
	}
	return nil
}

// get returns the value of the first header called name.
func (cs *conn) get(name string) string {
	for _, p := range cs.pairs {
		if string(p.name) == name {
			return string(p.value)
		}
	}
	return ""
}

func (cs *conn) getBytes(name string) []byte {
	for _, p := range cs.pairs {
		if string(p.name) == name {
			return p.value
		}
	}
	return nil
}

// routeName returns the last segment of SCRIPT_NAME+PATH_INFO, falling back
// to the decoded path of REQUEST_URI when both are empty.
func (cs *conn) routeName() string {
	sn, pi := cs.getBytes("SCRIPT_NAME"), cs.getBytes("PATH_INFO")
	if len(pi) == 0 {
		if len(sn) > 0 {
			return string(sn[bytes.LastIndexByte(sn, '/')+1:])
		}
		uri := cs.get("REQUEST_URI")
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			uri = uri[:i]
		}
		if p, err := url.PathUnescape(uri); err == nil {
			uri = p
		}
		return uri[strings.LastIndexByte(uri, '/')+1:]
	}
	if i := bytes.LastIndexByte(pi, '/'); i >= 0 {
		return string(pi[i+1:])
	}
	// PATH_INFO without a slash continues the last segment of SCRIPT_NAME.
	return string(sn[bytes.LastIndexByte(sn, '/')+1:]) + string(pi)
}

// discardBody reads and drops the request body; it reports whether the whole
// body arrived (otherwise the request has already been answered with 400).
func (cs *conn) discardBody() bool {
	if cs.clen == 0 {
		return true
	}
	if _, err := io.CopyN(io.Discard, cs.br, cs.clen); err != nil {
		cs.badRequest(fmt.Sprintf("request body shorter than CONTENT_LENGTH %d: %v", cs.clen, err))
		return false
	}
	return true
}

func (cs *conn) route() {
	name := cs.routeName()
	if name == "hello" {
		if cs.discardBody() {
			cs.c.Write(helloResponse)
		}
		return
	}
	q, _ := url.ParseQuery(cs.get("QUERY_STRING"))
	switch name {
	case "silent":
		// Never answer: hold the connection until the peer closes it or the
		// connection deadline passes.
		io.Copy(io.Discard, cs.br)
		return
	case "early":
		cs.simple("413 Request Entity Too Large", "request entity too large\n")
		return
	case "env":
		cs.env()
		return
	case "echo":
		cs.echo()
		return
	case "sha256":
		cs.sha256()
		return
	}
	if !cs.discardBody() {
		return
	}
	switch name {
	case "bytes":
		cs.bytes(q)
	case "status":
		cs.status(q)
	case "nph":
		cs.c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nnph\n"))
	case "lf":
		cs.c.Write([]byte("Status: 200 OK\nContent-Type: text/plain\n\nlf\n"))
	case "garbage":
		cs.c.Write([]byte("this is not a cgi header\r\n\r\nxx"))
	case "slow":
		ms, err := strconv.ParseUint(q.Get("ms"), 10, 32)
		if err != nil || time.Duration(ms)*time.Millisecond > connTimeout {
			cs.badRequest("slow: ms must be an integer between 0 and 600000")
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		cs.c.Write(helloResponse)
	case "closemid":
		cs.bw.WriteString("Status: 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n")
		io.CopyN(cs.bw, PatternReader(1000), 1000)
		cs.bw.Flush()
	case "location":
		to := q.Get("to")
		if to == "" || strings.ContainsAny(to, "\r\n\x00") {
			cs.badRequest("location: parameter to must be a non-empty URL without CR/LF")
			return
		}
		header := q.Get("header") // e.g. X-Location, for ProxySCGIInternalRedirect X-Location
		if header == "" {
			header = "Location"
		}
		if c := q.Get("cookie"); c != "" {
			fmt.Fprintf(cs.bw, "Set-Cookie: %s\r\nX-Step: %s\r\n", c, name)
		}
		fmt.Fprintf(cs.bw, "%s: %s\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nmoved\n", header, to)
		cs.bw.Flush()
	case "splithead":
		// The CGI head in three writes, so a gateway sees it arrive in pieces.
		for _, part := range []string{"Status: 200 OK\r\nContent-", "Type: text/plain\r\nContent-Length: 6\r", "\n\r\nsplit\n"} {
			cs.c.Write([]byte(part))
			time.Sleep(20 * time.Millisecond)
		}
	case "redirloop":
		// Sends the client back to this very path: a loop the gateway must cut.
		fmt.Fprintf(cs.bw, "Location: %s\r\nContent-Type: text/plain\r\n\r\nloop\n", cs.get("REQUEST_URI"))
		cs.bw.Flush()
	case "sendfile":
		// Names a file for the gateway to serve (ProxySCGISendfile); the body is a decoy.
		header := q.Get("header")
		if header == "" {
			header = "X-Sendfile"
		}
		status := q.Get("status")
		if status == "" {
			status = "200 OK"
		}
		fmt.Fprintf(cs.bw, "Status: %s\r\n%s: %s\r\nContent-Type: application/octet-stream\r\nX-Backend: yes\r\nContent-Length: 13\r\n\r\nbackend body\n", status, header, q.Get("path"))
		cs.bw.Flush()
	case "cookies":
		cs.c.Write([]byte("Status: 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Custom: yes\r\nContent-Length: 8\r\n\r\ncookies\n"))
	case "headers":
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 || n > maxHeadersRoute {
			cs.badRequest(fmt.Sprintf("headers: n must be an integer between 0 and %d", maxHeadersRoute))
			return
		}
		body := fmt.Sprintf("headers %d\n", n)
		cs.bw.WriteString("Status: 200 OK\r\nContent-Type: text/plain\r\n")
		for i := range n {
			fmt.Fprintf(cs.bw, "X-H-%d: value\r\n", i)
		}
		fmt.Fprintf(cs.bw, "Content-Length: %d\r\n\r\n%s", len(body), body)
		cs.bw.Flush()
	case "nocl":
		cs.c.Write([]byte("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nno content length\n"))
	case "whoami":
		// Which backend answered: the address it was reached on (balancer tests).
		cs.simple("200 OK", cs.c.LocalAddr().String()+"\n")
	default:
		cs.simple("404 Not Found", fmt.Sprintf("not found: %q\n", name))
	}
}

// simple writes a complete text/plain response with a Content-Length.
func (cs *conn) simple(status, body string) {
	fmt.Fprintf(cs.bw, "Status: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)
	cs.bw.Flush()
}

func (cs *conn) badRequest(msg string) {
	cs.simple("400 Bad Request", msg+"\n")
}

// hashBody reads the whole body, reporting its length and SHA-256.
func (cs *conn) hashBody() (int64, []byte, bool) {
	h := sha256.New()
	n, err := io.CopyN(h, cs.br, cs.clen)
	if err != nil {
		cs.badRequest(fmt.Sprintf("request body shorter than CONTENT_LENGTH %d: got %d bytes: %v", cs.clen, n, err))
		return n, nil, false
	}
	return n, h.Sum(nil), true
}

func (cs *conn) env() {
	n, sum, ok := cs.hashBody()
	if !ok {
		return
	}
	vars := make([][2]string, len(cs.pairs))
	for i, p := range cs.pairs {
		vars[i] = [2]string{string(p.name), string(p.value)}
	}
	body, err := json.Marshal(struct {
		Vars       [][2]string `json:"vars"`
		BodyLen    int64       `json:"body_len"`
		BodySHA256 string      `json:"body_sha256"`
	}{vars, n, hex.EncodeToString(sum)})
	if err != nil {
		cs.simple("500 Internal Server Error", err.Error()+"\n")
		return
	}
	body = append(body, '\n')
	fmt.Fprintf(cs.bw, "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	cs.bw.Write(body)
	cs.bw.Flush()
}

func (cs *conn) echo() {
	fmt.Fprintf(cs.bw, "Status: 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", cs.clen)
	if err := cs.bw.Flush(); err != nil {
		return
	}
	// Stream: forward whatever has arrived, without waiting to fill a buffer.
	buf := make([]byte, bufSize)
	left := cs.clen
	for left > 0 {
		n, err := cs.br.Read(buf[:min(int64(len(buf)), left)])
		if n > 0 {
			if _, werr := cs.c.Write(buf[:n]); werr != nil {
				return
			}
			left -= int64(n)
		}
		if err != nil {
			return
		}
	}
}

func (cs *conn) sha256() {
	n, sum, ok := cs.hashBody()
	if !ok {
		return
	}
	body := fmt.Sprintf("%d %x\n", n, sum)
	fmt.Fprintf(cs.bw, "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	cs.bw.Flush()
}

func (cs *conn) bytes(q url.Values) {
	n, err := strconv.ParseInt(q.Get("n"), 10, 64)
	if err != nil || n < 0 || n > maxBytes {
		cs.badRequest("bytes: n must be an integer between 0 and 4294967296")
		return
	}
	cs.bw.WriteString("Status: 200 OK\r\nContent-Type: application/octet-stream\r\n")
	if q.Get("cl") != "0" {
		fmt.Fprintf(cs.bw, "Content-Length: %d\r\n", n)
	}
	cs.bw.WriteString("\r\n")
	if err := cs.bw.Flush(); err != nil {
		return
	}
	buf := make([]byte, bufSize)
	x := patternSeed
	for n > 0 {
		chunk := buf[:min(int64(len(buf)), n)]
		x = Pattern(chunk, x)
		if _, err := cs.c.Write(chunk); err != nil {
			return
		}
		n -= int64(len(chunk))
	}
}

func (cs *conn) status(q url.Values) {
	code, err := strconv.Atoi(q.Get("code"))
	if err != nil || code < 100 || code > 999 {
		cs.badRequest("status: code must be an integer between 100 and 999")
		return
	}
	if code == 204 || code == 304 {
		fmt.Fprintf(cs.bw, "Status: %d\r\nContent-Type: text/plain\r\n\r\n", code)
	} else {
		body := fmt.Sprintf("status %d\n", code)
		fmt.Fprintf(cs.bw, "Status: %d\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", code, len(body), body)
	}
	cs.bw.Flush()
}
