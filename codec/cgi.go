package codec

import "bytes"

// ErrMalformed is the verdict on a backend response head the gateway cannot relay.
var ErrMalformed = &Error{502, "malformed backend response"}

// MaxResponseHead bounds the backend's header block; beyond it without a blank line the head is malformed.
const MaxResponseHead = 8192

// Response is a parsed CGI response head from a backend. A warm Response parses without allocating.
type Response struct {
	Status int
	// Reason is the backend's reason phrase, or nil to use StatusText.
	Reason []byte
	// Headers are the fields to pass to the client, in order, Location and Content-Type included;
	// Status, Transfer-Encoding and Content-Length are not among them.
	Headers []Header
	// ContentLength is the backend's Content-Length, -1 when absent.
	ContentLength int64
	// Location is the value of Location if present.
	Location []byte
}

// Reset clears r for reuse, keeping the capacity of its Headers.
func (r *Response) Reset() {
	r.Status = 0
	r.Reason = nil
	r.Headers = r.Headers[:0]
	r.ContentLength = -1
	r.Location = nil
}

// Parse parses the backend's CGI header block at the start of buf; returns bytes consumed (through the blank line), ErrNeedMore, or ErrMalformed.
func (r *Response) Parse(buf []byte) (n int, err error) {
	r.Reset()
	// Only the first MaxResponseHead bytes may hold the head, so a chatty backend cannot stall us.
	head := buf
	if len(head) > MaxResponseHead {
		head = head[:MaxResponseHead]
	}
	statusSeen := false
	locationAt := -1
	pos := 0
	for first := true; ; first = false {
		lf := bytes.IndexByte(head[pos:], '\n')
		if lf < 0 {
			if len(buf) > MaxResponseHead {
				return 0, ErrMalformed
			}
			return 0, ErrNeedMore
		}
		line := head[pos : pos+lf]
		pos += lf + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			break
		}
		if first && isNPHLine(line) {
			if !r.parseStatus(line[9:]) {
				return 0, ErrMalformed
			}
			statusSeen = true
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isTokenBytes(line[:colon]) {
			return 0, ErrMalformed
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return 0, ErrMalformed
		}
		switch {
		case equalFold(name, "status"):
			if statusSeen || !r.parseStatus(value) {
				return 0, ErrMalformed
			}
			statusSeen = true
		case equalFold(name, "content-length"):
			cl, ok := parseDecimal(value)
			if !ok || r.ContentLength >= 0 && cl != r.ContentLength {
				return 0, ErrMalformed
			}
			r.ContentLength = cl
		case equalFold(name, "transfer-encoding"):
			// Never forwarded: the gateway frames the response itself (CVE-2024-24795).
		case equalFold(name, "location"):
			if len(value) == 0 {
				continue
			}
			// Last one wins, as in Apache, and only one reaches the client.
			r.Location = value
			if locationAt >= 0 {
				r.Headers[locationAt].Value = value
				continue
			}
			locationAt = len(r.Headers)
			r.Headers = append(r.Headers, Header{Name: name, Value: value})
		default:
			r.Headers = append(r.Headers, Header{Name: name, Value: value})
		}
	}
	if !statusSeen {
		r.Status = 200
		// A Location that is not a local path is a client redirect (as nginx and lighttpd do);
		// a local path stays 200 so the loop can redirect internally.
		if r.Location != nil && r.Location[0] != '/' {
			r.Status = 302
		}
	}
	return pos, nil
}

// isNPHLine reports a non-parsed-header status line "HTTP/1.x " (reference A.3, E.6).
func isNPHLine(line []byte) bool {
	return len(line) >= 9 && string(line[:7]) == "HTTP/1." && (line[7] == '0' || line[7] == '1') && line[8] == ' '
}

// parseStatus reads "NNN" or "NNN reason" with NNN in 100-599.
func (r *Response) parseStatus(v []byte) bool {
	if len(v) < 3 || !isDigit(v[0]) || !isDigit(v[1]) || !isDigit(v[2]) {
		return false
	}
	code := int(v[0]-'0')*100 + int(v[1]-'0')*10 + int(v[2]-'0')
	if code < 100 || code > 599 {
		return false
	}
	if len(v) > 3 {
		if v[3] != ' ' {
			return false
		}
		if reason := trimOWS(v[4:]); len(reason) > 0 {
			if !validFieldValue(reason) {
				return false
			}
			r.Reason = reason
		}
	}
	r.Status = code
	return true
}
