package codec

import (
	"strconv"
	"sync/atomic"
	"time"
)

// statusText is the one status table: code -> reason phrase (RFC 9110 15).
var statusText = [...]string{
	100: "Continue",
	101: "Switching Protocols",
	102: "Processing",
	103: "Early Hints",

	200: "OK",
	201: "Created",
	202: "Accepted",
	203: "Non-Authoritative Information",
	204: "No Content",
	205: "Reset Content",
	206: "Partial Content",
	207: "Multi-Status",
	208: "Already Reported",
	226: "IM Used",

	300: "Multiple Choices",
	301: "Moved Permanently",
	302: "Found",
	303: "See Other",
	304: "Not Modified",
	305: "Use Proxy",
	307: "Temporary Redirect",
	308: "Permanent Redirect",

	400: "Bad Request",
	401: "Unauthorized",
	402: "Payment Required",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	406: "Not Acceptable",
	407: "Proxy Authentication Required",
	408: "Request Timeout",
	409: "Conflict",
	410: "Gone",
	411: "Length Required",
	412: "Precondition Failed",
	413: "Content Too Large",
	414: "URI Too Long",
	415: "Unsupported Media Type",
	416: "Range Not Satisfiable",
	417: "Expectation Failed",
	418: "I'm a teapot",
	421: "Misdirected Request",
	422: "Unprocessable Content",
	423: "Locked",
	424: "Failed Dependency",
	425: "Too Early",
	426: "Upgrade Required",
	428: "Precondition Required",
	429: "Too Many Requests",
	431: "Request Header Fields Too Large",
	451: "Unavailable For Legal Reasons",

	500: "Internal Server Error",
	501: "Not Implemented",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
	505: "HTTP Version Not Supported",
	506: "Variant Also Negotiates",
	507: "Insufficient Storage",
	508: "Loop Detected",
	510: "Not Extended",
	511: "Network Authentication Required",
}

// StatusText returns the reason phrase for code from the one status table ("" when unknown).
func StatusText(code int) string {
	if code < 0 || code >= len(statusText) {
		return ""
	}
	return statusText[code]
}

// hopByHop is the one table of response headers never forwarded to the client (lower case).
// Content-Length and Status are here because the gateway writes them itself.
var hopByHop = [...]string{
	"connection",
	"keep-alive",
	"proxy-connection",
	"te",
	"trailer",
	"transfer-encoding",
	"upgrade",
	"content-length",
	"status",
}

// IsHopByHop reports whether a response header must not be forwarded (case-insensitive): Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, plus Content-Length and Status which the gateway sets itself.
func IsHopByHop(name []byte) bool {
	for _, h := range hopByHop {
		if equalFold(name, h) {
			return true
		}
	}
	return false
}

// Continue100 is the interim response to "Expect: 100-continue".
var Continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// LastChunk ends a chunked response body (no trailers).
var LastChunk = []byte("0\r\n\r\n")

// ResponseHead describes the head the gateway writes to the client.
type ResponseHead struct {
	// Minor is the client's HTTP minor version; the status line always says HTTP/1.1 (RFC 9110 6.2).
	Minor  int
	Status int
	// Reason is the reason phrase; nil means StatusText(Status), or "Unknown".
	Reason []byte
	// Headers are copied except hop-by-hop ones and Date and Server, which the gateway owns.
	Headers []Header
	// ContentLength >= 0 writes Content-Length; < 0 writes none.
	ContentLength int64
	// Chunked writes "Transfer-Encoding: chunked" (and then no Content-Length).
	Chunked bool
	// Close writes "Connection: close".
	Close bool
	// KeepAlive writes "Connection: keep-alive", for HTTP/1.0 clients that asked for it.
	KeepAlive bool
}

// AppendResponseHead appends the status line, Date, Server, the headers and the framing headers, and the final CRLF.
// Headers that could split the response (CR or LF inside, or a non-token name) are dropped.
func AppendResponseHead(dst []byte, h *ResponseHead, date, server []byte) []byte {
	dst = appendStatusLine(dst, h.Status, h.Reason)
	dst = appendDateServer(dst, date, server)
	for _, f := range h.Headers {
		if IsHopByHop(f.Name) || equalFold(f.Name, "date") || equalFold(f.Name, "server") ||
			!isTokenBytes(f.Name) || !validFieldValue(f.Value) {
			continue
		}
		dst = append(dst, f.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, f.Value...)
		dst = append(dst, "\r\n"...)
	}
	switch {
	case h.Chunked:
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	case h.ContentLength >= 0:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, h.ContentLength, 10)
		dst = append(dst, "\r\n"...)
	}
	switch {
	case h.Close:
		dst = append(dst, "Connection: close\r\n"...)
	case h.KeepAlive:
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// appendStatusLine writes "HTTP/1.1 NNN reason"; a code outside 100-999 becomes 500 so the line stays valid.
func appendStatusLine(dst []byte, status int, reason []byte) []byte {
	if status < 100 || status > 999 {
		status, reason = 500, nil
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = append(dst, byte('0'+status/100), byte('0'+status/10%10), byte('0'+status%10), ' ')
	if reason != nil && validFieldValue(reason) {
		dst = append(dst, reason...)
	} else if text := StatusText(status); text != "" {
		dst = append(dst, text...)
	} else {
		dst = append(dst, "Unknown"...)
	}
	return append(dst, "\r\n"...)
}

func appendDateServer(dst, date, server []byte) []byte {
	if len(date) > 0 {
		dst = append(dst, "Date: "...)
		dst = append(dst, date...)
		dst = append(dst, "\r\n"...)
	}
	if len(server) > 0 {
		dst = append(dst, "Server: "...)
		dst = append(dst, server...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// Pieces of the error page, shaped like Apache's.
const (
	errorPageStart = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>"
	errorPageMid   = "</title>\n</head><body>\n<h1>"
	errorPageEnd   = "</h1>\n</body></html>\n"
)

// AppendErrorResponse appends a complete small response (text/html body naming the status) for status, with Content-Length, and Connection: close when close is true.
func AppendErrorResponse(dst []byte, status int, close bool, date, server []byte) []byte {
	if status < 100 || status > 999 {
		status = 500
	}
	text := StatusText(status)
	if text == "" {
		text = "Unknown"
	}
	// "NNN text" in the title, "text" in the heading.
	bodyLen := len(errorPageStart) + 4 + len(text) + len(errorPageMid) + len(text) + len(errorPageEnd)

	dst = appendStatusLine(dst, status, nil)
	dst = appendDateServer(dst, date, server)
	dst = append(dst, "Content-Type: text/html; charset=iso-8859-1\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(bodyLen), 10)
	dst = append(dst, "\r\n"...)
	if close {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	dst = append(dst, errorPageStart...)
	dst = append(dst, byte('0'+status/100), byte('0'+status/10%10), byte('0'+status%10), ' ')
	dst = append(dst, text...)
	dst = append(dst, errorPageMid...)
	dst = append(dst, text...)
	return append(dst, errorPageEnd...)
}

// AppendChunkHeader appends the hex size and CRLF of a chunk of n>0 bytes; LastChunk is "0\r\n\r\n"; chunk data is followed by CRLF.
// For n <= 0 it appends nothing, since a zero size would end the body.
func AppendChunkHeader(dst []byte, n int) []byte {
	if n <= 0 {
		return dst
	}
	dst = strconv.AppendUint(dst, uint64(n), 16)
	return append(dst, "\r\n"...)
}

// httpDateLayout is the IMF-fixdate form of RFC 9110 5.6.7.
const httpDateLayout = "Mon, 02 Jan 2006 15:04:05 GMT"

// DateCache holds the HTTP Date value, refreshed by the caller once a second; safe for concurrent use (atomic.Pointer), Append does not allocate.
type DateCache struct {
	v atomic.Pointer[[]byte]
}

// Update formats t as the current Date value.
func (d *DateCache) Update(t time.Time) {
	b := t.UTC().AppendFormat(make([]byte, 0, len(httpDateLayout)), httpDateLayout)
	d.v.Store(&b)
}

// Get returns the current value, e.g. "Wed, 25 Nov 2026 19:00:00 GMT"; the zero DateCache formats
// the current time on first use. The result is shared: callers must not modify it.
func (d *DateCache) Get() []byte {
	if p := d.v.Load(); p != nil {
		return *p
	}
	b := time.Now().UTC().AppendFormat(make([]byte, 0, len(httpDateLayout)), httpDateLayout)
	if d.v.CompareAndSwap(nil, &b) {
		return b
	}
	return *d.v.Load()
}

// Append appends the current value to dst.
func (d *DateCache) Append(dst []byte) []byte { return append(dst, d.Get()...) }
