package codec

import (
	"bytes"
	"strconv"
)

// CGI variable names sent to the backend, in one place (reference B.2).
const (
	varContentLength       = "CONTENT_LENGTH"
	varSCGI                = "SCGI"
	varContentType         = "CONTENT_TYPE"
	varServerSoftware      = "SERVER_SOFTWARE"
	varServerName          = "SERVER_NAME"
	varServerAddr          = "SERVER_ADDR"
	varServerPort          = "SERVER_PORT"
	varRemoteAddr          = "REMOTE_ADDR"
	varDocumentRoot        = "DOCUMENT_ROOT"
	varRequestScheme       = "REQUEST_SCHEME"
	varContextPrefix       = "CONTEXT_PREFIX"
	varContextDocumentRoot = "CONTEXT_DOCUMENT_ROOT"
	varServerAdmin         = "SERVER_ADMIN"
	varScriptFilename      = "SCRIPT_FILENAME"
	varRemotePort          = "REMOTE_PORT"
	varServerProtocol      = "SERVER_PROTOCOL"
	varRequestMethod       = "REQUEST_METHOD"
	varQueryString         = "QUERY_STRING"
	varRequestURI          = "REQUEST_URI"
	varScriptName          = "SCRIPT_NAME"
	varPathInfo            = "PATH_INFO"
	varHTTPPrefix          = "HTTP_"
)

// fixedVars are the variables AppendSCGI always writes itself; Extra may not repeat them.
var fixedVars = [...]string{
	varContentLength, varSCGI, varServerSoftware, varServerName, varServerAddr, varServerPort,
	varRemoteAddr, varDocumentRoot, varRequestScheme, varContextPrefix, varContextDocumentRoot,
	varServerAdmin, varScriptFilename, varRemotePort, varServerProtocol, varRequestMethod,
	varQueryString, varRequestURI, varScriptName,
}

// Env is everything the encoder needs for one request; the loop fills it, the encoder reads it.
type Env struct {
	Req *Request
	// ContentLength is the number of body bytes that will follow (the decoded length for chunked).
	ContentLength int64
	// DecodedPath is DecodePath(Req.Path): SCRIPT_NAME by default.
	DecodedPath []byte
	// PrefixLen is the length of the mapping prefix within DecodedPath ("/scgi-bin/" -> 10).
	PrefixLen int
	// SplitPathInfo makes SCRIPT_NAME the prefix without its trailing '/' and PATH_INFO the rest.
	SplitPathInfo bool
	// PassAuth exports Authorization and Proxy-Authorization.
	PassAuth bool
	// ScriptFilenameBase prefixes SCRIPT_FILENAME, e.g. "proxy:scgi://127.0.0.1/".
	ScriptFilenameBase []byte

	ServerSoftware, ServerName, ServerAddr, ServerPort []byte
	RemoteAddr, RemotePort                             []byte
	// Scheme is REQUEST_SCHEME; DocumentRoot is also CONTEXT_DOCUMENT_ROOT.
	DocumentRoot, ServerAdmin, Scheme, ContextPrefix []byte
	// Extra variables (SetEnv, REDIRECT_*) are emitted after SCGI. A name the encoder emits
	// itself, an empty name or one holding NUL is skipped; of repeated names the first is kept.
	Extra []Header
}

// SCGILen returns the exact length of the netstring AppendSCGI will write.
func SCGILen(e *Env) int {
	w := scgiWriter{counting: true}
	w.env(e)
	return decimalLen(int64(w.n)) + 1 + w.n + 1
}

// AppendSCGI appends the netstring "LEN:" block "," of e to dst. Computes the exact length first, grows dst once.
func AppendSCGI(dst []byte, e *Env) []byte {
	w := scgiWriter{counting: true}
	w.env(e)
	block := w.n
	total := decimalLen(int64(block)) + 1 + block + 1
	if cap(dst)-len(dst) < total {
		grown := make([]byte, len(dst), len(dst)+total)
		copy(grown, dst)
		dst = grown
	}
	dst = strconv.AppendInt(dst, int64(block), 10)
	dst = append(dst, ':')
	w = scgiWriter{buf: dst}
	w.env(e)
	return append(w.buf, ',')
}

func decimalLen(n int64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// scgiWriter either counts or appends, so the length pass and the write pass share one walk.
type scgiWriter struct {
	buf      []byte
	n        int
	counting bool
}

func (w *scgiWriter) str(s string) {
	if w.counting {
		w.n += len(s)
	} else {
		w.buf = append(w.buf, s...)
	}
}

// value writes b, replacing any NUL with '?' so a value can never break the framing.
func (w *scgiWriter) value(b []byte) {
	if w.counting {
		w.n += len(b)
		return
	}
	start := len(w.buf)
	w.buf = append(w.buf, b...)
	for i := bytes.IndexByte(w.buf[start:], 0); i >= 0; i = bytes.IndexByte(w.buf[start:], 0) {
		w.buf[start+i] = '?'
	}
}

func (w *scgiWriter) nul() {
	if w.counting {
		w.n++
	} else {
		w.buf = append(w.buf, 0)
	}
}

func (w *scgiWriter) int(v int64) {
	if w.counting {
		w.n += decimalLen(v)
	} else {
		w.buf = strconv.AppendInt(w.buf, v, 10)
	}
}

func (w *scgiWriter) kv(name string, value []byte) {
	w.str(name)
	w.nul()
	w.value(value)
	w.nul()
}

func (w *scgiWriter) kvs(name, value string) {
	w.str(name)
	w.nul()
	w.str(value)
	w.nul()
}

// headerVar writes "HTTP_" and the header name upper-cased with '-' as '_'.
func (w *scgiWriter) headerVar(name []byte) {
	if w.counting {
		w.n += len(varHTTPPrefix) + len(name)
		return
	}
	w.buf = append(w.buf, varHTTPPrefix...)
	for _, c := range name {
		w.buf = append(w.buf, cgiUpper[c])
	}
}

var emptyRequest Request

// env walks the variables in wire order (reference B.4); one variable per line.
func (w *scgiWriter) env(e *Env) {
	req := e.Req
	if req == nil {
		req = &emptyRequest
	}
	cl := e.ContentLength
	if cl < 0 {
		cl = 0
	}
	w.str(varContentLength)
	w.nul()
	w.int(cl)
	w.nul()
	w.kvs(varSCGI, "1")

	for k, x := range e.Extra {
		if extraSkipped(e, req, k, x.Name) {
			continue
		}
		w.kv(string(x.Name), x.Value)
	}

	ctIndex := -1
	for i, h := range req.Headers {
		switch classifyHeader(h.Name, e.PassAuth) {
		case headerContentType:
			if ctIndex < 0 {
				ctIndex = i
			}
			continue
		case headerDropped:
			continue
		}
		if seenBefore(req.Headers[:i], h.Name) {
			continue
		}
		w.headerVar(h.Name)
		w.nul()
		w.joinedValues(req.Headers[i:], h.Name)
		w.nul()
	}
	if ctIndex >= 0 {
		w.str(varContentType)
		w.nul()
		w.joinedValues(req.Headers[ctIndex:], req.Headers[ctIndex].Name)
		w.nul()
	}

	w.kv(varServerSoftware, e.ServerSoftware)
	w.kv(varServerName, e.ServerName)
	w.kv(varServerAddr, e.ServerAddr)
	w.kv(varServerPort, e.ServerPort)
	w.kv(varRemoteAddr, e.RemoteAddr)
	w.kv(varDocumentRoot, e.DocumentRoot)
	w.kv(varRequestScheme, e.Scheme)
	w.kv(varContextPrefix, e.ContextPrefix)
	w.kv(varContextDocumentRoot, e.DocumentRoot)
	w.kv(varServerAdmin, e.ServerAdmin)
	w.scriptFilename(e)
	w.kv(varRemotePort, e.RemotePort)
	if req.Minor == 0 {
		w.kvs(varServerProtocol, "HTTP/1.0")
	} else {
		w.kvs(varServerProtocol, "HTTP/1.1")
	}
	w.kv(varRequestMethod, req.Method)
	w.kv(varQueryString, req.Query)
	w.kv(varRequestURI, req.URI)
	prefix, rest := splitPrefix(e)
	if !e.SplitPathInfo {
		w.kv(varScriptName, e.DecodedPath)
		return
	}
	if len(prefix) > 0 && prefix[len(prefix)-1] == '/' {
		prefix = prefix[:len(prefix)-1]
	}
	w.kv(varScriptName, prefix)
	w.str(varPathInfo)
	w.nul()
	if len(rest) == 0 || rest[0] != '/' {
		w.str("/")
	}
	w.value(rest)
	w.nul()
}

func (w *scgiWriter) scriptFilename(e *Env) {
	_, rest := splitPrefix(e)
	w.str(varScriptFilename)
	w.nul()
	w.value(e.ScriptFilenameBase)
	if w.counting {
		w.n += canonPathLen(rest)
	} else {
		w.buf = AppendCanonPath(w.buf, rest)
	}
	w.nul()
}

// joinedValues writes the values of every header in hs named name, joined the way Apache
// and nginx merge repeats: ", ", or "; " for Cookie.
func (w *scgiWriter) joinedValues(hs []Header, name []byte) {
	sep := ", "
	if equalFold(name, "cookie") {
		sep = "; "
	}
	first := true
	for _, h := range hs {
		if !equalFoldBytes(h.Name, name) {
			continue
		}
		if !first {
			w.str(sep)
		}
		first = false
		w.value(h.Value)
	}
}

// splitPrefix cuts DecodedPath at PrefixLen, clamped so a bad PrefixLen cannot panic.
func splitPrefix(e *Env) (prefix, rest []byte) {
	p := e.PrefixLen
	if p < 0 {
		p = 0
	}
	if p > len(e.DecodedPath) {
		p = len(e.DecodedPath)
	}
	return e.DecodedPath[:p], e.DecodedPath[p:]
}

type headerClass uint8

const (
	headerExported headerClass = iota
	headerContentType
	headerDropped
)

// classifyHeader decides how a request header reaches the environment (reference B.2, E.4).
func classifyHeader(name []byte, passAuth bool) headerClass {
	if len(name) == 0 {
		return headerDropped
	}
	for _, c := range name {
		if !isCGIName[c] {
			return headerDropped
		}
	}
	switch {
	case equalFold(name, "content-type"):
		return headerContentType
	case equalFold(name, "content-length"), equalFold(name, "transfer-encoding"):
		// The SCGI CONTENT_LENGTH is authoritative; the client's framing means nothing to the backend.
		return headerDropped
	case equalFold(name, "proxy"):
		// httpoxy: a backend would read HTTP_PROXY as its outbound proxy.
		return headerDropped
	case !passAuth && (equalFold(name, "authorization") || equalFold(name, "proxy-authorization")):
		return headerDropped
	}
	return headerExported
}

func seenBefore(hs []Header, name []byte) bool {
	for _, h := range hs {
		if equalFoldBytes(h.Name, name) {
			return true
		}
	}
	return false
}

// extraSkipped reports whether e.Extra[k] must not be written: bad name, a name the encoder
// writes itself, or a repeat of an earlier Extra name.
func extraSkipped(e *Env, req *Request, k int, name []byte) bool {
	if len(name) == 0 || bytes.IndexByte(name, 0) >= 0 {
		return true
	}
	for _, f := range fixedVars {
		if string(name) == f {
			return true
		}
	}
	if e.SplitPathInfo && string(name) == varPathInfo {
		return true
	}
	if bytes.HasPrefix(name, []byte(varHTTPPrefix)) || string(name) == varContentType {
		for _, h := range req.Headers {
			switch classifyHeader(h.Name, e.PassAuth) {
			case headerContentType:
				if string(name) == varContentType {
					return true
				}
			case headerExported:
				if isHeaderVar(name, h.Name) {
					return true
				}
			}
		}
	}
	for _, x := range e.Extra[:k] {
		if bytes.Equal(x.Name, name) {
			return true
		}
	}
	return false
}

// isHeaderVar reports whether v is the HTTP_* variable for header name h.
func isHeaderVar(v, h []byte) bool {
	if len(v) != len(varHTTPPrefix)+len(h) || string(v[:len(varHTTPPrefix)]) != varHTTPPrefix {
		return false
	}
	v = v[len(varHTTPPrefix):]
	for i, c := range h {
		if cgiUpper[c] != v[i] {
			return false
		}
	}
	return true
}
