package codec

import "bytes"

// Header is one header field; both slices alias the buffer it was parsed from.
type Header struct {
	Name, Value []byte
}

// Limits bounds a request head: MaxLine is the request line in bytes, MaxField one
// header field line in bytes, MaxFields the number of header fields (line ends excluded).
type Limits struct {
	MaxLine, MaxField, MaxFields int
}

// DefaultLimits are Apache's LimitRequestLine, LimitRequestFieldSize and LimitRequestFields.
var DefaultLimits = Limits{MaxLine: 8190, MaxField: 8190, MaxFields: 100}

// maxLeadingBlankLines bounds the empty lines tolerated before a request line, as Apache does,
// so a peer cannot keep the parser busy with CRLFs forever.
const maxLeadingBlankLines = 10

// Request is a parsed HTTP/1.x request head. A warm Request parses without allocating.
type Request struct {
	Method []byte
	// URI is the request-target exactly as sent (REQUEST_URI, which Apache
	// takes from the request line, absolute form included).
	URI []byte
	// Target is the request-target in origin form: "*", or an absolute-form
	// target reduced to its path and query.
	Target []byte
	// Path is Target up to the first '?', still percent-encoded.
	Path []byte
	// Query is what follows the first '?', without it.
	Query []byte
	// HasQuery reports that a '?' was present, even if Query is empty.
	HasQuery bool
	// Minor is the HTTP minor version: 0 or 1.
	Minor int
	// Headers are the header fields in arrival order.
	Headers []Header
	// Host is the absolute-form authority, else the Host header value (RFC 9112 3.2.2).
	Host []byte
	// ContentLength is the Content-Length value, -1 when absent.
	ContentLength int64
	// Chunked reports Transfer-Encoding: chunked.
	Chunked bool
	// KeepAlive reports whether the client wants the connection kept open afterwards.
	KeepAlive bool
	// Expect100 reports Expect: 100-continue on HTTP/1.1 (HTTP/1.0 ones are ignored, RFC 9110 10.1.1).
	Expect100 bool

	// target holds "/"+rest when an absolute-form target has no path, since that
	// cannot alias the input.
	target []byte
}

// Reset clears r for reuse, keeping the capacity of its Headers.
func (r *Request) Reset() {
	r.Method = nil
	r.URI, r.Target = nil, nil
	r.Path = nil
	r.Query = nil
	r.HasQuery = false
	r.Minor = 0
	r.Headers = r.Headers[:0]
	r.Host = nil
	r.ContentLength = -1
	r.Chunked = false
	r.KeepAlive = false
	r.Expect100 = false
	r.target = r.target[:0]
}

// Parse parses one request head at the start of buf. It returns the number of bytes of the head (request line
// through the empty line) or ErrNeedMore or an *Error. The Request's slices alias buf.
func (r *Request) Parse(buf []byte, lim *Limits) (n int, err error) {
	r.Reset()
	if lim == nil {
		lim = &DefaultLimits
	}
	pos, err := skipBlankLines(buf)
	if err != nil {
		return 0, err
	}

	line, next, err := nextLine(buf, pos, lim.MaxLine, errURITooLong)
	if err != nil {
		if err == ErrNeedMore {
			// Reject a garbage method (e.g. a TLS hello) without waiting for its line end.
			if e := checkPartialMethod(buf[pos:]); e != nil {
				return 0, e
			}
		}
		return 0, err
	}
	if err := r.parseRequestLine(line); err != nil {
		return 0, err
	}
	pos = next

	var (
		hostSeen, teSeen, clSeen bool
		connClose, connKeep      bool
	)
	for {
		if pos < len(buf) && (buf[pos] == ' ' || buf[pos] == '\t') {
			return 0, errObsFold
		}
		line, next, err = nextLine(buf, pos, lim.MaxField, errFieldTooLarge)
		if err != nil {
			return 0, err
		}
		pos = next
		if len(line) == 0 {
			break
		}
		if len(r.Headers) >= lim.MaxFields {
			return 0, errTooManyFields
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isTokenBytes(line[:colon]) {
			return 0, errBadHeader
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return 0, errBadHeader
		}
		r.Headers = append(r.Headers, Header{Name: name, Value: value})

		switch {
		case equalFold(name, "host"):
			if hostSeen {
				return 0, errManyHost
			}
			hostSeen = true
			if r.Host == nil {
				r.Host = value
			}
		case equalFold(name, "content-length"):
			// One line of at most 19 digits (an int64's width): a second
			// line, even with the same value, or a longer number is refused,
			// since a proxy in front of us may have framed it otherwise.
			cl, ok := parseDecimal(value)
			if !ok || clSeen || len(value) > maxContentLengthDigits {
				return 0, errBadContentLength
			}
			clSeen = true
			r.ContentLength = cl
		case equalFold(name, "transfer-encoding"):
			// Only a lone "chunked" is framing we can decode; anything else is a smuggling risk.
			if teSeen {
				return 0, errBadTE
			}
			teSeen = true
			if elem, rest := nextListElement(value); !equalFold(elem, "chunked") || rest != nil {
				return 0, errBadTE
			}
			r.Chunked = true
		case equalFold(name, "connection"):
			for v := value; len(v) > 0; {
				var elem []byte
				elem, v = nextListElement(v)
				if equalFold(elem, "close") {
					connClose = true
				} else if equalFold(elem, "keep-alive") {
					connKeep = true
				}
			}
		case equalFold(name, "expect"):
			if equalFold(value, "100-continue") && r.Minor == 1 {
				r.Expect100 = true
			}
		}
	}

	if r.Chunked && clSeen {
		return 0, errCLAndTE
	}
	if r.Chunked && r.Minor == 0 {
		return 0, errBadTE
	}
	if r.Host == nil && r.Minor == 1 {
		return 0, errNoHost
	}
	if r.Minor == 1 {
		r.KeepAlive = !connClose
	} else {
		r.KeepAlive = connKeep && !connClose
	}
	return pos, nil
}

// skipBlankLines returns the offset of the first byte after the empty lines that may precede a request line.
func skipBlankLines(buf []byte) (int, error) {
	pos := 0
	for lines := 0; ; lines++ {
		if pos >= len(buf) {
			return 0, ErrNeedMore
		}
		switch buf[pos] {
		case '\n':
			pos++
		case '\r':
			if pos+1 >= len(buf) {
				return 0, ErrNeedMore
			}
			if buf[pos+1] != '\n' {
				return 0, errBadRequestLine
			}
			pos += 2
		default:
			return pos, nil
		}
		if lines >= maxLeadingBlankLines {
			return 0, errBadRequestLine
		}
	}
}

// nextLine returns the line starting at pos without its CRLF or LF, and the offset after it.
// A line, complete or not, that is provably longer than max yields tooLong; a CR not
// followed by LF yields a 400.
func nextLine(buf []byte, pos, max int, tooLong *Error) (line []byte, next int, err error) {
	rest := buf[pos:]
	lf := bytes.IndexByte(rest, '\n')
	if lf < 0 {
		// A trailing CR may still be the first half of the line end.
		known := len(rest)
		if known > 0 && rest[known-1] == '\r' {
			known--
		}
		if known > max {
			return nil, 0, tooLong
		}
		if bytes.IndexByte(rest[:known], '\r') >= 0 {
			return nil, 0, errBareCR(tooLong)
		}
		return nil, 0, ErrNeedMore
	}
	line = rest[:lf]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) > max {
		return nil, 0, tooLong
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, 0, errBareCR(tooLong)
	}
	return line, pos + lf + 1, nil
}

// errBareCR picks the 400 that matches the kind of line being read.
func errBareCR(tooLong *Error) *Error {
	if tooLong == errURITooLong {
		return errBadRequestLine
	}
	return errBadHeader
}

// checkPartialMethod rejects an incomplete request line whose method already holds a non-token byte.
func checkPartialMethod(b []byte) *Error {
	for i, c := range b {
		if c == ' ' {
			if i == 0 {
				return errBadMethod
			}
			return nil
		}
		if !isToken[c] && !(c == '\r' && i == len(b)-1) {
			return errBadMethod
		}
	}
	return nil
}

// parseRequestLine splits "method SP request-target SP HTTP-version" and classifies the target.
func (r *Request) parseRequestLine(line []byte) error {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return errBadRequestLine
	}
	if !isTokenBytes(line[:sp]) {
		return errBadMethod
	}
	r.Method = line[:sp]
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return errBadRequestLine
	}
	target, version := rest[:sp], rest[sp+1:]

	// Versions: exactly "HTTP/d.d"; a well-formed but other version is 505.
	if len(version) != 8 || string(version[:5]) != "HTTP/" || version[6] != '.' ||
		!isDigit(version[5]) || !isDigit(version[7]) {
		return errBadVersion
	}
	switch string(version[5:]) {
	case "1.1":
		r.Minor = 1
	case "1.0":
		r.Minor = 0
	default:
		return errVersion
	}
	return r.parseTarget(target)
}

// maxContentLengthDigits is the longest Content-Length accepted: 19 digits
// hold any int64, and a parser that keeps only 19 would misread more.
const maxContentLengthDigits = 19

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseTarget validates the request-target and fills Target, Path, Query and, for absolute form, Host.
func (r *Request) parseTarget(t []byte) error {
	r.URI = t
	for _, c := range t {
		// Raw bytes >= 0x80 are let through as Apache does; '#' never belongs in a request-target.
		if c < 0x21 || c == 0x7f || c == '#' {
			return errBadTarget
		}
	}
	switch {
	case t[0] == '/':
	case len(t) == 1 && t[0] == '*':
		r.Target, r.Path = t, t
		return nil
	default:
		var rest []byte
		switch {
		case len(t) >= 7 && equalFold(t[:7], "http://"):
			rest = t[7:]
		case len(t) >= 8 && equalFold(t[:8], "https://"):
			rest = t[8:]
		default:
			return errBadTarget
		}
		end := bytes.IndexAny(rest, "/?")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		// Userinfo is forbidden in http(s) URIs (RFC 9110 4.2.4).
		if len(authority) == 0 || bytes.IndexByte(authority, '@') >= 0 {
			return errBadTarget
		}
		r.Host = authority
		t = rest[end:]
		if len(t) == 0 || t[0] == '?' {
			r.target = append(append(r.target[:0], '/'), t...)
			t = r.target
		}
	}
	r.Target = t
	if q := bytes.IndexByte(t, '?'); q >= 0 {
		r.Path, r.Query, r.HasQuery = t[:q], t[q+1:], true
	} else {
		r.Path = t
	}
	return nil
}
