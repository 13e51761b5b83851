package loop

import (
	"bytes"
	"strconv"

	"github.com/scgate/scgate/codec"
)

// ProxySCGIInternalRedirect: a backend's 200 with a local Location (or the
// configured header) is not sent; the path is served again as a new GET on
// the same client connection, through the normal routing, as Apache does.

// maxInternalRedirects is Apache's LimitInternalRecursion default.
const maxInternalRedirects = 10

// notCarried are the backend response headers Apache keeps in headers_out,
// which a new request starts without; everything else (Set-Cookie above
// all) reaches the final response.
var notCarried = [...]string{"content-type", "content-length", "location", "transfer-encoding",
	"content-range", "etag", "last-modified", "status"}

// redirectTarget returns the local path the response asks to be served
// instead, if the mapping follows internal redirects and this is one.
func (up *upstream) redirectTarget() ([]byte, bool) {
	name := up.mp.redirectHeader
	if name == "" || up.resp.Status != 200 {
		return nil, false
	}
	v, ok := headerValue(up.resp.Headers, name)
	if !ok || len(v) == 0 || v[0] != '/' {
		return nil, false
	}
	return v, true
}

// headerValue finds a header by case-insensitive name.
func headerValue(hs []codec.Header, name string) ([]byte, bool) {
	for i := range hs {
		if bytes.EqualFold(hs[i].Name, []byte(name)) {
			return hs[i].Value, true
		}
	}
	return nil, false
}

func isNamed(h []byte, names []string) bool {
	for _, n := range names {
		if bytes.EqualFold(h, []byte(n)) {
			return true
		}
	}
	return false
}

// internalRedirect drops the backend's answer and serves target instead.
func (up *upstream) internalRedirect(target []byte) {
	up.captured = true // rare enough not to be worth proving it safe to reuse
	cl := up.cl
	custom := up.mp.redirectHeader
	// Keep what the final response must still carry, then let the backend go.
	for _, h := range up.resp.Headers {
		if isNamed(h.Name, notCarried[:]) || bytes.EqualFold(h.Name, []byte(custom)) {
			continue
		}
		cl.carryRaw = append(cl.carryRaw, h.Name...)
		cl.carryRaw = append(cl.carryRaw, 0)
		cl.carryRaw = append(cl.carryRaw, h.Value...)
		cl.carryRaw = append(cl.carryRaw, 0)
	}
	cl.redirTarget = append(cl.redirTarget[:0], target...)
	up.release(false)
	cl.up = nil
	cl.redirect()
}

// redirect starts the internal request for cl.redirTarget.
func (cl *client) redirect() {
	cl.redirects++
	if cl.redirects > maxInternalRedirects {
		cl.ls.srv.cfg.Logger.Error("internal redirect loop: limit reached",
			"limit", maxInternalRedirects, "path", string(cl.redirTarget), "remote", cl.remote())
		cl.reply(500)
		return
	}
	// The request as it stands (its head is in curHead) becomes REDIRECT_*.
	var prev codec.Request
	if _, err := prev.Parse(cl.curHead, &cl.cfg().Limits); err != nil {
		cl.reply(500)
		return
	}
	cl.redirURL = append(cl.redirURL[:0], cl.path...)
	cl.redirHasQuery = prev.HasQuery
	cl.redirQuery = append(cl.redirQuery[:0], prev.Query...)
	if cl.bodyRemain > 0 || cl.state == csBody {
		cl.forceClose = true // what is left of the old body would be read as a request
	}

	method := "GET"
	if cl.isHead {
		method = "HEAD"
	}
	h := cl.nextHead[:0]
	h = append(h, method...)
	h = append(h, ' ')
	h = append(h, cl.redirTarget...)
	h = append(h, " HTTP/1."...)
	h = strconv.AppendInt(h, int64(cl.minor), 10)
	h = append(h, "\r\n"...)
	for _, hd := range prev.Headers {
		if isNamed(hd.Name, []string{"content-length", "transfer-encoding", "expect"}) {
			continue
		}
		h = append(h, hd.Name...)
		h = append(h, ": "...)
		h = append(h, hd.Value...)
		h = append(h, "\r\n"...)
	}
	h = append(h, "\r\n"...)
	cl.nextHead, cl.curHead = cl.curHead, h

	if _, err := cl.req.Parse(cl.curHead, &cl.cfg().Limits); err != nil {
		cl.ls.srv.cfg.Logger.Warn("internal redirect to an invalid path", "path", string(cl.redirTarget))
		cl.reply(500)
		return
	}
	cl.redirected = true
	cl.state = csHead
	cl.startRequest(0)
}

// extraEnv is the mapping's SetEnv variables and, after an internal
// redirect, the REDIRECT_* ones.
func (cl *client) extraEnv(m *mapping) []codec.Header {
	if !cl.redirected {
		return m.env
	}
	cl.extra = append(cl.extra[:0], m.env...)
	cl.extra = append(cl.extra, codec.Header{Name: []byte("REDIRECT_URL"), Value: cl.redirURL})
	if cl.redirHasQuery {
		cl.extra = append(cl.extra, codec.Header{Name: []byte("REDIRECT_QUERY_STRING"), Value: cl.redirQuery})
	}
	cl.extra = append(cl.extra, codec.Header{Name: []byte("REDIRECT_STATUS"), Value: []byte("200")})
	return cl.extra
}

// carried returns the headers earlier answers in a redirect chain left for
// the final response.
func (cl *client) carried() []codec.Header {
	cl.carry = cl.carry[:0]
	raw := cl.carryRaw
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, 0)
		j := i + 1 + bytes.IndexByte(raw[i+1:], 0)
		cl.carry = append(cl.carry, codec.Header{Name: raw[:i], Value: raw[i+1 : j]})
		raw = raw[j+1:]
	}
	return cl.carry
}

// withCarried appends the carried headers to hs, in a scratch slice.
func (cl *client) withCarried(hs []codec.Header) []codec.Header {
	if len(cl.carryRaw) == 0 {
		return hs
	}
	cl.respHdrs = append(append(cl.respHdrs[:0], hs...), cl.carried()...)
	return cl.respHdrs
}

// endRedirects forgets the chain once its final answer is out.
func (cl *client) endRedirects() {
	cl.redirects = 0
	cl.redirected = false
	cl.carryRaw = cl.carryRaw[:0]
}
