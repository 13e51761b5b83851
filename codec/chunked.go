package codec

// Bounds on the non-data parts of a chunked body, so a peer cannot stream them forever.
const (
	maxChunkSizeLine   = 4096
	maxChunkSizeDigits = 16
	maxTrailerLine     = 8190
	maxTrailerLines    = 100
)

// chunkState names where the decoder stands within the chunked grammar (RFC 9112 7.1).
type chunkState uint8

const (
	chunkSize        chunkState = iota // hex digits of a chunk size
	chunkSizeBWS                       // whitespace after the digits
	chunkExt                           // skipping chunk extensions up to the line end
	chunkSizeLF                        // CR seen at the end of the size line
	chunkData                          // chunk data bytes
	chunkDataEnd                       // CRLF or LF after the data
	chunkDataLF                        // CR seen after the data
	chunkTrailer                       // start of a trailer line, or of the final empty line
	chunkTrailerName                   // inside a trailer field's name, up to its colon
	chunkTrailerLine                   // inside a trailer field's value
	chunkTrailerLF                     // CR seen at the end of a trailer line
	chunkFinalLF                       // CR seen on the final empty line
	chunkDone
)

// ChunkedDecoder decodes a chunked request body incrementally; the zero value is ready to use.
type ChunkedDecoder struct {
	state    chunkState
	size     uint64 // size being read, then data bytes left in the chunk
	digits   int
	lineLen  int // bytes of the current size or trailer line
	trailers int
}

// Reset makes d ready for a new body.
func (d *ChunkedDecoder) Reset() { *d = ChunkedDecoder{} }

// Decode consumes bytes of src, appending decoded data to dst. It returns the grown dst, the number of src bytes
// consumed, and done=true once the last chunk and trailer section have been consumed (bytes after that are not consumed).
// Malformed input returns an *Error with Status 400. It never needs to see a whole chunk at once.
func (d *ChunkedDecoder) Decode(dst, src []byte) (out []byte, n int, done bool, err error) {
	i := 0
	for i < len(src) {
		if d.state == chunkData {
			take := len(src) - i
			if uint64(take) > d.size {
				take = int(d.size)
			}
			dst = append(dst, src[i:i+take]...)
			i += take
			d.size -= uint64(take)
			if d.size == 0 {
				d.state = chunkDataEnd
			}
			continue
		}
		if d.state == chunkDone {
			break
		}
		c := src[i]
		i++
		switch d.state {
		case chunkSize, chunkSizeBWS, chunkExt, chunkSizeLF:
			d.lineLen++
			if d.lineLen > maxChunkSizeLine {
				return dst, i, false, errChunkLineLong
			}
			if err := d.sizeLineByte(c); err != nil {
				return dst, i, false, err
			}
		case chunkDataEnd:
			switch c {
			case '\r':
				d.state = chunkDataLF
			case '\n':
				d.startSizeLine()
			default:
				return dst, i, false, errBadChunkEnd
			}
		case chunkDataLF:
			if c != '\n' {
				return dst, i, false, errBadChunkEnd
			}
			d.startSizeLine()
		case chunkTrailer:
			switch c {
			case '\r':
				d.state = chunkFinalLF
			case '\n':
				d.state = chunkDone
			default:
				// A trailer line is a field line, "token: value" (RFC 9112 7.1.2). Anything
				// else, a request line above all, is refused: skipping it would swallow a
				// request a peer that ends the body at "0\r\n" sends after it.
				d.trailers++
				if d.trailers > maxTrailerLines || !isToken[c] {
					return dst, i, false, errBadTrailer
				}
				d.lineLen = 1
				d.state = chunkTrailerName
			}
		case chunkTrailerName:
			switch {
			case c == ':':
				d.state = chunkTrailerLine
			case !isToken[c]:
				return dst, i, false, errBadTrailer
			}
			d.lineLen++
			if d.lineLen > maxTrailerLine {
				return dst, i, false, errBadTrailer
			}
		case chunkTrailerLine:
			switch {
			case c == '\r':
				d.state = chunkTrailerLF
			case c == '\n':
				d.state = chunkTrailer
			case !validTrailerByte(c):
				return dst, i, false, errBadTrailer
			default:
				d.lineLen++
				if d.lineLen > maxTrailerLine {
					return dst, i, false, errBadTrailer
				}
			}
		case chunkTrailerLF:
			if c != '\n' {
				return dst, i, false, errBadTrailer
			}
			d.state = chunkTrailer
		case chunkFinalLF:
			if c != '\n' {
				return dst, i, false, errBadTrailer
			}
			d.state = chunkDone
		}
	}
	return dst, i, d.state == chunkDone, nil
}

func (d *ChunkedDecoder) startSizeLine() {
	d.state = chunkSize
	d.size, d.digits, d.lineLen = 0, 0, 0
}

// sizeLineByte advances through "1*HEXDIG [BWS] *(; ext) CRLF".
func (d *ChunkedDecoder) sizeLineByte(c byte) error {
	switch d.state {
	case chunkSize:
		if v := hexVal[c]; v != 0xff {
			d.digits++
			// 16 digits fit a uint64; the top bit is refused so the size stays a valid int64.
			if d.digits > maxChunkSizeDigits || d.size>>59 != 0 {
				return errBadChunkSize
			}
			d.size = d.size<<4 | uint64(v)
			return nil
		}
		if d.digits == 0 {
			return errBadChunkSize
		}
		return d.afterSize(c)
	case chunkSizeBWS:
		return d.afterSize(c)
	case chunkExt:
		// Extensions (quoted strings included) are skipped; they cannot hold CR, LF or other CTLs.
		switch {
		case c == '\r':
			d.state = chunkSizeLF
		case c == '\n':
			d.endSizeLine()
		case c < 0x20 && c != '\t' || c == 0x7f:
			return errBadChunkSize
		}
		return nil
	case chunkSizeLF:
		if c != '\n' {
			return errBadChunkSize
		}
		d.endSizeLine()
	}
	return nil
}

// afterSize handles the first byte after the size digits, or after whitespace that followed them.
func (d *ChunkedDecoder) afterSize(c byte) error {
	switch c {
	case ' ', '\t':
		d.state = chunkSizeBWS
	case ';':
		d.state = chunkExt
	case '\r':
		d.state = chunkSizeLF
	case '\n':
		d.endSizeLine()
	default:
		return errBadChunkSize
	}
	return nil
}

func (d *ChunkedDecoder) endSizeLine() {
	if d.size == 0 {
		d.state = chunkTrailer
		d.lineLen = 0
		return
	}
	d.state = chunkData
}

// validTrailerByte reports whether c may appear in a trailer field line (no CTL but HTAB).
func validTrailerByte(c byte) bool { return c >= 0x20 && c != 0x7f || c == '\t' }
