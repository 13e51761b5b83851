package codec

// Byte-class tables, built once so the hot loops are a single index per byte.
var (
	// isToken marks RFC 9110 tchar: method and field-name bytes.
	isToken [256]bool
	// isCGIName marks the bytes a header name may hold to be exported as HTTP_*;
	// anything else (notably '_') is dropped so X_Foo cannot spoof X-Foo (reference E.4).
	isCGIName [256]bool
	// cgiUpper maps a header-name byte to its CGI variable byte: upper case, '-' -> '_'.
	cgiUpper [256]byte
	// lower maps ASCII upper case to lower case and leaves every other byte alone.
	lower [256]byte
	// isCanonSafe marks the bytes ap_proxy_canonenc leaves unescaped in a path.
	isCanonSafe [256]bool
	// hexVal is the value of a hex digit, or 0xff.
	hexVal [256]byte
)

const upperHex = "0123456789ABCDEF"

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		isAlnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		isToken[c] = isAlnum
		isCGIName[c] = isAlnum
		isCanonSafe[c] = isAlnum
		lower[c] = b
		cgiUpper[c] = b
		if 'A' <= b && b <= 'Z' {
			lower[c] = b + 'a' - 'A'
		}
		if 'a' <= b && b <= 'z' {
			cgiUpper[c] = b - 'a' + 'A'
		}
		hexVal[c] = 0xff
		switch {
		case '0' <= b && b <= '9':
			hexVal[c] = b - '0'
		case 'a' <= b && b <= 'f':
			hexVal[c] = b - 'a' + 10
		case 'A' <= b && b <= 'F':
			hexVal[c] = b - 'A' + 10
		}
	}
	for _, b := range []byte("!#$%&'*+-.^_`|~") {
		isToken[b] = true
	}
	isCGIName['-'] = true
	cgiUpper['-'] = '_'
	for _, b := range []byte("~$-_.+!*'(),;:@&=/") {
		isCanonSafe[b] = true
	}
}

// equalFold reports whether a equals the lower-case ASCII string s, ignoring ASCII case in a.
func equalFold(a []byte, s string) bool {
	if len(a) != len(s) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower[a[i]] != s[i] {
			return false
		}
	}
	return true
}

// equalFoldBytes reports whether a and b are equal ignoring ASCII case.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower[a[i]] != lower[b[i]] {
			return false
		}
	}
	return true
}

// isTokenBytes reports whether b is a non-empty RFC 9110 token.
func isTokenBytes(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isToken[c] {
			return false
		}
	}
	return true
}

// trimOWS strips leading and trailing SP and HTAB.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// validFieldValue reports whether v holds no CTL other than HTAB (so no CR, LF or NUL).
func validFieldValue(v []byte) bool {
	for _, c := range v {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// parseDecimal parses a non-empty run of ASCII digits into a non-negative int64.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// nextListElement splits the first element off a comma-separated field value, trimming OWS.
func nextListElement(v []byte) (elem, rest []byte) {
	for i := 0; i < len(v); i++ {
		if v[i] == ',' {
			return trimOWS(v[:i]), v[i+1:]
		}
	}
	return trimOWS(v), nil
}
