package loop

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/scgate/scgate/codec"
)

// ProxySCGISendfile: the backend names a file in a header and the gateway
// serves it itself. The bytes go from the file to the socket with the
// platform's sendfile, on the loop while the socket takes them, then from a
// goroutine on a duplicate of the socket, so the loop never blocks and the
// file never passes through our memory.

const (
	// sendfileBudget is how much one request may send on the loop before
	// the rest goes to a goroutine, so one big file cannot hog the loop.
	sendfileBudget = 1 << 20
	// handOffChunk is how much the goroutine sends per write deadline.
	handOffChunk = 4 << 20
)

// fileSend is one file being served.
type fileSend struct {
	cl     *client
	f      *os.File
	off    int64
	remain int64
	nc     net.Conn // the duplicate socket while a goroutine sends
	length int64
	done   bool
}

// copyOnlySender is the FileSender when none is configured: no fast path.
type copyOnlySender struct{}

func (copyOnlySender) SendFile(int, *os.File, int64, int64) (int64, error) {
	return 0, ErrNoFastPath
}

// sendfileHeader returns the file named by the mapping's sendfile header.
func (up *upstream) sendfileTarget() ([]byte, bool) {
	if up.mp.sendfileHeader == "" {
		return nil, false
	}
	return headerValue(up.resp.Headers, up.mp.sendfileHeader)
}

// serveFile answers with the named file instead of the backend's body.
func (up *upstream) serveFile(name []byte) {
	up.captured = true // rare enough not to be worth proving it safe to reuse
	cl := up.cl
	s := up.ls.srv
	r := &up.resp
	path := string(name)
	up.release(false) // the backend's body is not wanted
	cl.up = nil

	f, fi, status, reason := cl.vh.roots.open(path)
	if status != 0 {
		s.cfg.Logger.Warn("X-Sendfile refused", "path", path, "status", status, "why", reason)
		cl.reply(status)
		return
	}
	size := fi.Size()
	mtime := fi.ModTime()
	cl.etag = codec.AppendETag(cl.etag[:0], size, mtime)
	cl.lastMod = codec.AppendHTTPDate(cl.lastMod[:0], mtime)

	status = r.Status
	start, end := int64(0), size-1
	// The request's own head is gone from the input; read its copy.
	req := &cl.scratchReq
	if _, err := req.Parse(cl.curHead, &s.cfg.Limits); err != nil {
		req.Reset()
	}
	if status == 200 && cl.getOrHead {
		inm, hasINM := req.HeaderValue("If-None-Match")
		ims, hasIMS := req.HeaderValue("If-Modified-Since")
		switch {
		case codec.NotModified(inm, hasINM, ims, hasIMS, cl.etag, mtime):
			status = 304
		case !cl.isHead:
			if rv, ok := req.HeaderValue("Range"); ok {
				ifr, hasIfr := req.HeaderValue("If-Range")
				if !hasIfr || codec.IfRangeAllows(ifr, cl.etag, mtime) {
					var res codec.RangeResult
					start, end, res = codec.ParseRange(rv, size)
					switch res {
					case codec.RangeOK:
						status = 206
						cl.contentRange = codec.AppendContentRange(cl.contentRange[:0], start, end, size)
					case codec.RangeUnsatisfiable:
						status = 416
						cl.contentRange = codec.AppendUnsatisfiedRange(cl.contentRange[:0], size)
					default:
						start, end = 0, size-1
					}
				}
			}
		}
	}

	// The backend's headers, but the file's own validators and length.
	hs := cl.fileHdrs[:0]
	for _, h := range r.Headers {
		if isNamed(h.Name, []string{up.mp.sendfileHeader, "etag", "last-modified", "content-range", "accept-ranges"}) {
			continue
		}
		hs = append(hs, h)
	}
	hs = append(hs,
		codec.Header{Name: []byte("Last-Modified"), Value: cl.lastMod},
		codec.Header{Name: []byte("ETag"), Value: cl.etag},
		codec.Header{Name: []byte("Accept-Ranges"), Value: []byte("bytes")})
	if status == 206 || status == 416 {
		hs = append(hs, codec.Header{Name: []byte("Content-Range"), Value: cl.contentRange})
	}
	cl.fileHdrs = hs

	length := end - start + 1
	switch status {
	case 304:
		length = -1
	case 416:
		length = 0
	}
	h := codec.ResponseHead{Minor: cl.minor, Status: status, Headers: cl.withCarried(hs), ContentLength: length}
	if status == r.Status {
		h.Reason = r.Reason
	}
	h.Close = !cl.keepAlive || cl.bodyRemain > 0
	h.KeepAlive = !h.Close && cl.minor == 0
	if h.Close {
		cl.keepAlive = false
	}
	cl.status = status
	b := bytebufferpool.Get()
	b.B = codec.AppendResponseHead(b.B[:0], &h, s.date.Get(), s.server)
	ok := cl.write(b.B)
	bytebufferpool.Put(b)
	if !ok {
		f.Close() //nolint:errcheck
		return
	}
	if cl.isHead || length <= 0 {
		f.Close() //nolint:errcheck
		cl.requestDone(true)
		return
	}
	cl.file = &fileSend{cl: cl, f: f, off: start, remain: length, length: length}
	cl.state = csFile
	cl.file.pump()
}

// pump sends on the loop while the socket takes the bytes, within the
// budget, then hands the rest to a goroutine.
func (fs *fileSend) pump() {
	cl := fs.cl
	if fs.done || cl.gone {
		return
	}
	if cl.c == nil || cl.c.OutboundBuffered() > 0 {
		// The head is still queued in gnet: the file must not overtake it.
		cl.ls.arm(&cl.tn, tSend)
		cl.ls.watch(func() bool {
			if fs.done || cl.gone {
				return false
			}
			if cl.c == nil || cl.c.OutboundBuffered() > 0 {
				return true
			}
			fs.pump()
			return false
		})
		return
	}
	cl.ls.disarm(&cl.tn)
	budget := min(fs.remain, sendfileBudget)
	n, err := cl.ls.srv.cfg.Sender.SendFile(cl.c.Fd(), fs.f, fs.off, budget)
	fs.off += n
	fs.remain -= n
	switch {
	case fs.remain == 0:
		fs.finish(nil)
	case err == nil && n == 0:
		fs.finish(io.ErrUnexpectedEOF) // the file shrank under us
	case err == nil || errors.Is(err, syscall.EAGAIN) || errors.Is(err, ErrNoFastPath):
		fs.handOff()
	default:
		fs.finish(err)
	}
}

// handOff sends the rest from a goroutine, on a duplicate of the socket:
// Go's copy parks in its netpoller while the socket is full and uses
// sendfile for an *os.File source.
func (fs *fileSend) handOff() {
	cl := fs.cl
	fd, err := cl.c.Dup()
	if err != nil {
		fs.finish(err)
		return
	}
	osf := os.NewFile(uintptr(fd), "client")
	nc, err := net.FileConn(osf)
	osf.Close() //nolint:errcheck
	if err != nil {
		fs.finish(err)
		return
	}
	fs.nc = nc
	el := cl.ls.el
	f, off, remain := fs.f, fs.off, fs.remain
	idle := cl.ls.srv.cfg.SendTimeout
	go func() {
		var err error
		if _, err = f.Seek(off, io.SeekStart); err == nil {
			for remain > 0 {
				nc.SetWriteDeadline(time.Now().Add(idle)) //nolint:errcheck
				var n int64
				n, err = io.Copy(nc, io.LimitReader(f, min(remain, handOffChunk)))
				remain -= n
				if err != nil {
					break
				}
				if n == 0 {
					err = io.ErrUnexpectedEOF
					break
				}
			}
		}
		nc.Close()                                                                       //nolint:errcheck
		el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error { //nolint:errcheck
			fs.finish(err)
			return nil
		}))
	}()
}

// finish closes the file and ends the exchange; an error cuts the
// connection, since the answer is short.
func (fs *fileSend) finish(err error) {
	if fs.done {
		return
	}
	fs.done = true
	fs.f.Close() //nolint:errcheck
	cl := fs.cl
	if cl.file == fs {
		cl.file = nil
	}
	if cl.gone {
		return
	}
	if err == nil {
		cl.sent += fs.length
	}
	if err != nil {
		cl.ls.srv.cfg.Logger.Debug("X-Sendfile transfer cut", "remote", cl.remote(), "err", err)
		cl.kill()
		return
	}
	cl.requestDone(true)
}

// abort stops a transfer because the client is gone; the goroutine, if
// any, ends on its closed socket and then finishes on the loop.
func (fs *fileSend) abort() {
	if fs.nc != nil {
		fs.nc.Close() //nolint:errcheck
		return
	}
	fs.finish(net.ErrClosed)
}
