package codec

import "errors"

// ErrNeedMore reports incomplete input: the caller should wait for more bytes and parse again.
var ErrNeedMore = errors.New("codec: need more bytes")

// Error is a malformed-input verdict carrying the HTTP status the gateway should answer with.
type Error struct {
	Status int
	Reason string
}

// Error returns the reason prefixed with the package name.
func (e *Error) Error() string { return "codec: " + e.Reason }

// Preallocated verdicts so that error paths do not allocate.
var (
	errBadRequestLine   = &Error{400, "bad request line"}
	errBadMethod        = &Error{400, "bad method"}
	errBadTarget        = &Error{400, "bad request target"}
	errBadVersion       = &Error{400, "bad HTTP version"}
	errVersion          = &Error{505, "HTTP Version Not Supported"}
	errURITooLong       = &Error{414, "URI Too Long"}
	errBadHeader        = &Error{400, "bad header field"}
	errObsFold          = &Error{400, "obsolete line folding"}
	errFieldTooLarge    = &Error{431, "header field too large"}
	errTooManyFields    = &Error{431, "too many header fields"}
	errBadContentLength = &Error{400, "bad Content-Length"}
	errBadTE            = &Error{400, "bad Transfer-Encoding"}
	errCLAndTE          = &Error{400, "both Content-Length and Transfer-Encoding"}
	errNoHost           = &Error{400, "missing Host"}
	errManyHost         = &Error{400, "more than one Host"}

	errBadPath   = &Error{400, "bad path"}
	errBadEscape = &Error{400, "bad percent escape"}
	errNULEscape = &Error{400, "encoded NUL in path"}
	errAboveRoot = &Error{400, "path climbs above root"}

	errBadChunkSize  = &Error{400, "bad chunk size"}
	errChunkLineLong = &Error{400, "chunk size line too long"}
	errBadChunkEnd   = &Error{400, "missing CRLF after chunk data"}
	errBadTrailer    = &Error{400, "bad trailer section"}
)
