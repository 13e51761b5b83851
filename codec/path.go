package codec

// ErrEncodedSlash rejects %2F in a path, as Apache does with AllowEncodedSlashes Off (404).
var ErrEncodedSlash = &Error{404, "encoded slash"}

// DecodePath appends to dst the normalised, percent-decoded form of a raw absolute path (what Apache calls r->uri):
// '//' runs merged into '/', "." and ".." segments resolved (".." above root -> 400), then %XX decoded.
// %2F/%2f -> ErrEncodedSlash; %00, a bad or truncated escape -> 400 Error.
//
// Dot segments are resolved on the raw path, but a segment spelled with %2E (".%2e", "%2E%2E")
// counts as a dot segment too, as Apache's decode-unreserved normalisation does, so the
// decoded result never holds a "." or ".." segment that could climb out of a mapping prefix.
// On error dst is returned unchanged.
func DecodePath(dst, raw []byte) ([]byte, error) {
	if len(raw) == 0 || raw[0] != '/' {
		return dst, errBadPath
	}
	start := len(dst)
	dst = append(dst, '/')
	lastWasName := false
	for i := 1; i <= len(raw); {
		j := i
		for j < len(raw) && raw[j] != '/' {
			j++
		}
		seg := raw[i:j]
		i = j + 1
		lastWasName = false
		switch dotSegment(seg) {
		case 0:
			if len(seg) > 0 {
				dst = append(append(dst, seg...), '/')
				lastWasName = true
			}
		case 1:
		case 2:
			if len(dst)-start == 1 {
				return dst[:start], errAboveRoot
			}
			k := len(dst) - 2
			for dst[k] != '/' {
				k--
			}
			dst = dst[:k+1]
		}
	}
	// A final name segment had no slash after it in raw.
	if lastWasName {
		dst = dst[:len(dst)-1]
	}
	return percentDecodeInPlace(dst, start)
}

// dotSegment reports 1 for a "." segment, 2 for "..", 0 otherwise, accepting %2E for '.'.
func dotSegment(seg []byte) int {
	dots := 0
	for i := 0; i < len(seg); {
		switch {
		case seg[i] == '.':
			i++
		case i+2 < len(seg) && seg[i] == '%' && seg[i+1] == '2' && lower[seg[i+2]] == 'e':
			i += 3
		default:
			return 0
		}
		dots++
		if dots > 2 {
			return 0
		}
	}
	return dots
}

// percentDecodeInPlace decodes %XX escapes in dst[start:]; decoding only shrinks, so it is done in place.
func percentDecodeInPlace(dst []byte, start int) ([]byte, error) {
	w := start
	for r := start; r < len(dst); r++ {
		c := dst[r]
		if c == '%' {
			if r+2 >= len(dst) {
				return dst[:start], errBadEscape
			}
			hi, lo := hexVal[dst[r+1]], hexVal[dst[r+2]]
			if hi == 0xff || lo == 0xff {
				return dst[:start], errBadEscape
			}
			c = hi<<4 | lo
			switch c {
			case 0:
				return dst[:start], errNULEscape
			case '/':
				return dst[:start], ErrEncodedSlash
			}
			r += 2
		}
		dst[w] = c
		w++
	}
	return dst[:w], nil
}

// AppendCanonPath appends p with every byte outside [A-Za-z0-9~$-_.+!*'(),;:@&=/] written as %XX (uppercase hex), as Apache's ap_proxy_canonenc does for SCRIPT_FILENAME.
func AppendCanonPath(dst, p []byte) []byte {
	for _, c := range p {
		if isCanonSafe[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// canonPathLen is len(AppendCanonPath(nil, p)) without writing.
func canonPathLen(p []byte) int {
	n := len(p)
	for _, c := range p {
		if !isCanonSafe[c] {
			n += 2
		}
	}
	return n
}
