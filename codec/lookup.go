package codec

import "bytes"

// HeaderValue returns the value of the first header named name
// (case-insensitive), and whether there was one.
func (r *Request) HeaderValue(name string) ([]byte, bool) {
	for i := range r.Headers {
		if equalFoldAny(r.Headers[i].Name, name) {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// CookieValue returns the value of the cookie named name from the request's
// Cookie headers (names compare exactly, as browsers send them).
func (r *Request) CookieValue(name string) ([]byte, bool) {
	for i := range r.Headers {
		if !equalFold(r.Headers[i].Name, "cookie") {
			continue
		}
		v := r.Headers[i].Value
		for len(v) > 0 {
			var pair []byte
			if j := bytes.IndexByte(v, ';'); j >= 0 {
				pair, v = v[:j], v[j+1:]
			} else {
				pair, v = v, nil
			}
			pair = trimOWS(pair)
			if eq := bytes.IndexByte(pair, '='); eq >= 0 && string(trimOWS(pair[:eq])) == name {
				val := trimOWS(pair[eq+1:])
				if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
					val = val[1 : len(val)-1]
				}
				return val, true
			}
		}
	}
	return nil, false
}

// QueryValue returns the raw (still percent-encoded) value of the first
// query parameter named name, and whether there was one. Both '&' and ';'
// separate parameters, as Apache's sticky-session lookup accepts.
func (r *Request) QueryValue(name string) ([]byte, bool) {
	q := r.Query
	for len(q) > 0 {
		var pair []byte
		if j := bytes.IndexAny(q, "&;"); j >= 0 {
			pair, q = q[:j], q[j+1:]
		} else {
			pair, q = q, nil
		}
		key, val, _ := bytes.Cut(pair, []byte{'='})
		if string(key) == name {
			return val, true
		}
	}
	return nil, false
}

// equalFoldAny is equalFold for an s of any case.
func equalFoldAny(a []byte, s string) bool {
	if len(a) != len(s) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower[a[i]] != lower[s[i]] {
			return false
		}
	}
	return true
}
