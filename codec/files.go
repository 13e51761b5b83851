package codec

import (
	"bytes"
	"strconv"
	"time"
)

// Validators, conditionals and byte ranges for files the gateway serves itself (X-Sendfile).

// AppendHTTPDate appends t in IMF-fixdate form ("Wed, 25 Nov 2026 19:00:00 GMT"), always UTC. 0 allocs.
func AppendHTTPDate(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, httpDateLayout)
}

// The three date forms of RFC 9110 5.6.7, by example.
const (
	imfFixdateExample = "Sun, 06 Nov 1994 08:49:37 GMT"
	rfc850TailExample = " 06-Nov-94 08:49:37 GMT" // after "Sunday,"
	asctimeExample    = "Sun Nov  6 08:49:37 1994"
)

var (
	shortDayNames = [7]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	longDayNames  = [7]string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
	monthNames    = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
)

// ParseHTTPDate parses IMF-fixdate, and the obsolete RFC 850 and asctime forms (RFC 9110 5.6.7); ok false otherwise.
// Names match without regard to ASCII case and the weekday is not checked against the date, as net/http does.
// An RFC 850 two-digit year is taken within 50 years of now. 0 allocs.
func ParseHTTPDate(b []byte) (t time.Time, ok bool) {
	b = trimOWS(b)
	switch {
	case len(b) == len(imfFixdateExample) && b[3] == ',':
		return parseIMFFixdate(b)
	case len(b) == len(asctimeExample):
		return parseASCTime(b)
	}
	return parseRFC850(b, time.Now().UTC().Year())
}

// parseIMFFixdate parses "Sun, 06 Nov 1994 08:49:37 GMT".
func parseIMFFixdate(b []byte) (time.Time, bool) {
	if !isNameIn(b[0:3], shortDayNames[:]) || b[4] != ' ' || b[7] != ' ' || b[11] != ' ' || b[16] != ' ' ||
		b[25] != ' ' || !equalFold(b[26:29], "gmt") {
		return time.Time{}, false
	}
	day, ok1 := parseFixedDigits(b[5:7])
	year, ok2 := parseFixedDigits(b[12:16])
	if !ok1 || !ok2 {
		return time.Time{}, false
	}
	return makeHTTPDate(year, b[8:11], day, b[17:25])
}

// parseRFC850 parses "Sunday, 06-Nov-94 08:49:37 GMT"; nowYear places the two-digit year.
func parseRFC850(b []byte, nowYear int) (time.Time, bool) {
	comma := bytes.IndexByte(b, ',')
	if comma < 0 || !isNameIn(b[:comma], longDayNames[:]) {
		return time.Time{}, false
	}
	b = b[comma+1:]
	if len(b) != len(rfc850TailExample) || b[0] != ' ' || b[3] != '-' || b[7] != '-' || b[10] != ' ' ||
		b[19] != ' ' || !equalFold(b[20:23], "gmt") {
		return time.Time{}, false
	}
	day, ok1 := parseFixedDigits(b[1:3])
	yy, ok2 := parseFixedDigits(b[8:10])
	if !ok1 || !ok2 {
		return time.Time{}, false
	}
	// RFC 9110 5.6.7: a year more than 50 years ahead is the most recent past one with those digits.
	year := nowYear - nowYear%100 + yy
	switch {
	case year > nowYear+50:
		year -= 100
	case year <= nowYear-50:
		year += 100
	}
	return makeHTTPDate(year, b[4:7], day, b[11:19])
}

// parseASCTime parses "Sun Nov  6 08:49:37 1994" (the day may also be two digits).
func parseASCTime(b []byte) (time.Time, bool) {
	if !isNameIn(b[0:3], shortDayNames[:]) || b[3] != ' ' || b[7] != ' ' || b[10] != ' ' || b[19] != ' ' {
		return time.Time{}, false
	}
	d := b[8:10]
	if d[0] == ' ' {
		d = d[1:]
	}
	day, ok1 := parseFixedDigits(d)
	year, ok2 := parseFixedDigits(b[20:24])
	if !ok1 || !ok2 {
		return time.Time{}, false
	}
	return makeHTTPDate(year, b[4:7], day, b[11:19])
}

// makeHTTPDate checks the fields and builds the UTC time; clock is "hh:mm:ss", second 60 (leap) allowed.
func makeHTTPDate(year int, month []byte, day int, clock []byte) (time.Time, bool) {
	m := 0
	for i, name := range monthNames {
		if equalFold(month, name) {
			m = i + 1
			break
		}
	}
	if m == 0 || clock[2] != ':' || clock[5] != ':' {
		return time.Time{}, false
	}
	hh, ok1 := parseFixedDigits(clock[0:2])
	mm, ok2 := parseFixedDigits(clock[3:5])
	ss, ok3 := parseFixedDigits(clock[6:8])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 || day < 1 || day > daysIn(m, year) {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(m), day, hh, mm, ss, 0, time.UTC), true
}

// daysIn is the number of days in month m (1-12) of year.
func daysIn(m, year int) int {
	switch m {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseFixedDigits parses a short non-empty run of ASCII digits (at most 4, so no overflow).
func parseFixedDigits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 4 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// isNameIn reports whether b is one of the lower-case names, ignoring ASCII case in b.
func isNameIn(b []byte, names []string) bool {
	for _, n := range names {
		if equalFold(b, n) {
			return true
		}
	}
	return false
}

// AppendETag appends a strong validator built from size and modification time, nginx-style:
// "\"<hex mtime unix seconds>-<hex size>\"". Negative values are written as their two's complement,
// as nginx does, so the tag always holds exactly one '-'. 0 allocs.
func AppendETag(dst []byte, size int64, mtime time.Time) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, uint64(mtime.Unix()), 16)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, uint64(size), 16)
	return append(dst, '"')
}

// RangeResult is what a Range header means for a representation of a given size.
type RangeResult uint8

const (
	RangeNone          RangeResult = iota // no (usable) Range header: send the whole body with 200
	RangeOK                               // one satisfiable range: 206 with Content-Range
	RangeUnsatisfiable                    // 416 with "Content-Range: bytes */size"
)

// ParseRange interprets a Range header value for a body of size bytes. Only a single byte range is honoured
// ("bytes=a-b", "bytes=a-", "bytes=-n"); start/end are inclusive, end clamped to size-1. A syntactically invalid
// header, a unit other than bytes, or several ranges ("bytes=0-1,5-6") -> RangeNone (serve 200 in full, which
// RFC 9110 allows). "bytes=-0", a start >= size, or any range on a 0-byte body -> RangeUnsatisfiable.
// Empty list elements are ignored (RFC 9110 5.6.1) and positions too large for int64 count as beyond the end.
// A negative size means unknown: RangeNone. 0 allocs.
func ParseRange(v []byte, size int64) (start, end int64, res RangeResult) {
	v = trimOWS(v)
	if size < 0 || len(v) < len("bytes=") || !equalFold(v[:5], "bytes") || v[5] != '=' {
		return 0, 0, RangeNone
	}
	spec, rest := nextListElement(v[6:])
	for len(spec) == 0 && rest != nil {
		spec, rest = nextListElement(rest)
	}
	for rest != nil {
		var more []byte
		if more, rest = nextListElement(rest); len(more) != 0 {
			return 0, 0, RangeNone // several ranges: not worth multipart/byteranges
		}
	}
	dash := bytes.IndexByte(spec, '-')
	if dash < 0 {
		return 0, 0, RangeNone
	}
	if dash == 0 { // suffix range: the last n bytes
		n, ok := parseDecimalSat(spec[1:])
		switch {
		case !ok:
			return 0, 0, RangeNone
		case n == 0 || size == 0:
			return 0, 0, RangeUnsatisfiable
		}
		return size - min(n, size), size - 1, RangeOK
	}
	first, ok := parseDecimalSat(spec[:dash])
	if !ok {
		return 0, 0, RangeNone
	}
	last := int64(1<<63 - 1)
	if len(spec) > dash+1 {
		if last, ok = parseDecimalSat(spec[dash+1:]); !ok || last < first {
			return 0, 0, RangeNone
		}
	}
	if first >= size {
		return 0, 0, RangeUnsatisfiable
	}
	return first, min(last, size-1), RangeOK
}

// parseDecimalSat is parseDecimal, saturating at the largest int64 instead
// of failing on overflow.
func parseDecimalSat(b []byte) (int64, bool) {
	if n, ok := parseDecimal(b); ok {
		return n, true
	}
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	return 1<<63 - 1, true
}

// AppendContentRange appends the Content-Range value "bytes start-end/size".
func AppendContentRange(dst []byte, start, end, size int64) []byte {
	dst = append(dst, "bytes "...)
	dst = strconv.AppendInt(dst, start, 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, end, 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, size, 10)
}

// AppendUnsatisfiedRange appends the Content-Range value of a 416: "bytes */size".
func AppendUnsatisfiedRange(dst []byte, size int64) []byte {
	dst = append(dst, "bytes */"...)
	return strconv.AppendInt(dst, size, 10)
}

// NotModified evaluates the request's conditional headers (RFC 9110 13.2.2) against the file's validators for a GET/HEAD:
// If-None-Match present -> true when it is "*" or lists a tag that weakly matches etag (W/ prefixes ignored, comma list, OWS);
// and then If-Modified-Since is ignored. Otherwise If-Modified-Since present and parseable -> true when mtime (truncated
// to seconds) is not after it. 0 allocs.
func NotModified(ifNoneMatch []byte, hasINM bool, ifModifiedSince []byte, hasIMS bool, etag []byte, mtime time.Time) bool {
	if hasINM {
		return noneMatchHit(ifNoneMatch, etag)
	}
	if !hasIMS {
		return false
	}
	since, ok := ParseHTTPDate(ifModifiedSince)
	return ok && mtime.Unix() <= since.Unix()
}

// noneMatchHit reports whether an If-None-Match value is "*" or lists a tag that weakly matches etag.
func noneMatchHit(list, etag []byte) bool {
	list = trimOWS(list)
	if len(list) == 1 && list[0] == '*' {
		return true
	}
	want := opaqueTag(etag)
	for len(list) > 0 {
		if c := list[0]; c == ',' || c == ' ' || c == '\t' {
			list = list[1:]
			continue
		}
		var tag []byte
		tag, list = cutEntityTag(list)
		if tag != nil && bytes.Equal(opaqueTag(tag), want) {
			return true
		}
	}
	return false
}

// cutEntityTag splits one entity-tag ([W/]"...") off the front of a list; a malformed element yields a nil
// tag and is skipped up to the next comma. The quoted part is scanned whole because etagc includes ','.
func cutEntityTag(b []byte) (tag, rest []byte) {
	i := 0
	if len(b) >= 2 && b[0] == 'W' && b[1] == '/' {
		i = 2
	}
	if i < len(b) && b[i] == '"' {
		if j := bytes.IndexByte(b[i+1:], '"'); j >= 0 {
			end := i + 1 + j + 1
			if r := trimOWS(b[end:]); len(r) == 0 || r[0] == ',' {
				return b[:end], r
			}
		}
	}
	if k := bytes.IndexByte(b, ','); k >= 0 {
		return nil, b[k:]
	}
	return nil, nil
}

// opaqueTag strips the weakness indicator, leaving the quoted opaque-tag that weak comparison looks at.
func opaqueTag(tag []byte) []byte {
	if len(tag) >= 2 && tag[0] == 'W' && tag[1] == '/' {
		return tag[2:]
	}
	return tag
}

// IfRangeAllows reports whether a Range may be honoured given an If-Range value: it matches the strong etag exactly,
// or is an HTTP date equal to mtime (seconds). Absent If-Range: call sites skip it. A weak tag on either side never
// matches (RFC 9110 13.1.5 asks for strong comparison). 0 allocs.
func IfRangeAllows(ifRange []byte, etag []byte, mtime time.Time) bool {
	v := trimOWS(ifRange)
	if len(v) > 0 && v[0] == '"' || len(v) >= 2 && v[0] == 'W' && v[1] == '/' {
		return len(etag) >= 2 && etag[0] == '"' && bytes.Equal(v, etag)
	}
	t, ok := ParseHTTPDate(v)
	return ok && t.Unix() == mtime.Unix()
}
