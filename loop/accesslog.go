package loop

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/scgate/scgate/codec"
)

// AccessLog writes one line per request in an Apache LogFormat. Loops hand
// finished lines to a goroutine through a buffered channel, so a slow disk
// never stalls a loop; when the channel is full, lines are dropped and
// counted rather than waited for.
type AccessLog struct {
	parts   []logPart
	headers bool     // the format reads request headers
	outs    []string // response headers the format reads (%{NAME}o)
	ch      chan *bytebufferpool.ByteBuffer
	w       *bufio.Writer
	done    chan struct{}
	dropped atomic.Uint64
	mu      sync.RWMutex // held shared by senders, exclusively by Close
	closed  bool
}

// logPart is a literal or one % directive of a LogFormat.
type logPart struct {
	lit  string
	code byte   // 0 for a literal
	name string // for %{NAME}i
}

// Common and Combined are Apache's predefined formats.
const (
	Common   = `%h %l %u %t "%r" %>s %b`
	Combined = `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`
)

// NewAccessLog compiles format and starts writing lines to w.
func NewAccessLog(w io.Writer, format string) (*AccessLog, error) {
	a := &AccessLog{ch: make(chan *bytebufferpool.ByteBuffer, 4096), w: bufio.NewWriterSize(w, 64<<10), done: make(chan struct{})}
	lit := strings.Builder{}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return nil, fmt.Errorf("LogFormat %q: a lone %% at the end", format)
		}
		if format[i] == '%' {
			lit.WriteByte('%')
			continue
		}
		if lit.Len() > 0 {
			a.parts = append(a.parts, logPart{lit: lit.String()})
			lit.Reset()
		}
		p := logPart{}
		if format[i] == '>' || format[i] == '<' { // %>s: the final status, the only one here
			i++
		}
		if i < len(format) && format[i] == '{' {
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("LogFormat %q: %%{ without }", format)
			}
			p.name = format[i+1 : i+end]
			i += end + 1
		}
		if i >= len(format) {
			return nil, fmt.Errorf("LogFormat %q: a directive without its letter at the end", format)
		}
		p.code = format[i]
		switch p.code {
		case 'h', 'a', 'l', 'u', 't', 'r', 's', 'b', 'B', 'D', 'T', 'm', 'U', 'q', 'H', 'v':
		case 'i':
			a.headers = true
		case 'o':
			a.outs = append(a.outs, p.name)
		default:
			return nil, fmt.Errorf("LogFormat %q: %%%c is not supported (known: %%h %%a %%l %%u %%t %%r %%>s %%b %%B %%D %%T %%{Header}i %%{Header}o %%m %%U %%q %%H %%v)", format, p.code)
		}
		a.parts = append(a.parts, p)
	}
	if lit.Len() > 0 {
		a.parts = append(a.parts, logPart{lit: lit.String()})
	}
	go a.writer()
	return a, nil
}

func (a *AccessLog) writer() {
	defer close(a.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-a.ch:
			if !ok {
				a.w.Flush() //nolint:errcheck
				return
			}
			a.w.Write(b.B) //nolint:errcheck
			bytebufferpool.Put(b)
		case <-tick.C:
			a.w.Flush() //nolint:errcheck
		}
	}
}

// Close writes out what is queued and stops the writer.
func (a *AccessLog) Close() error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.ch)
	}
	a.mu.Unlock()
	<-a.done
	return nil
}

// Dropped is how many lines were dropped because the writer was behind.
func (a *AccessLog) Dropped() uint64 { return a.dropped.Load() }

// accessRecord is what a line is made of.
type accessRecord struct {
	remote, serverName []byte
	start              time.Time
	status             int
	sent               int64
	head               []byte // the request's head as received
	req                *codec.Request
	outs               [][]byte // values of the format's %{NAME}o headers, in order; nil when absent
}

// log formats r and queues the line without blocking.
func (a *AccessLog) log(r *accessRecord) {
	b := bytebufferpool.Get()
	line, _, _ := strings.Cut(string(r.head), "\n") // the request line
	line = strings.TrimSuffix(line, "\r")
	outIdx := 0
	for _, p := range a.parts {
		if p.code == 0 {
			b.B = append(b.B, p.lit...)
			continue
		}
		switch p.code {
		case 'h', 'a':
			b.B = append(b.B, r.remote...)
		case 'l', 'u':
			b.B = append(b.B, '-')
		case 't':
			b.B = r.start.AppendFormat(append(b.B, '['), "02/Jan/2006:15:04:05 -0700")
			b.B = append(b.B, ']')
		case 'r':
			b.B = appendEscaped(b.B, line)
		case 's':
			b.B = strconv.AppendInt(b.B, int64(r.status), 10)
		case 'b':
			if r.sent == 0 {
				b.B = append(b.B, '-')
			} else {
				b.B = strconv.AppendInt(b.B, r.sent, 10)
			}
		case 'B':
			b.B = strconv.AppendInt(b.B, r.sent, 10)
		case 'D':
			b.B = strconv.AppendInt(b.B, time.Since(r.start).Microseconds(), 10)
		case 'T':
			b.B = strconv.AppendInt(b.B, int64(time.Since(r.start).Seconds()), 10)
		case 'm', 'U', 'q', 'H':
			method, rest, _ := strings.Cut(line, " ")
			target, proto, _ := strings.Cut(rest, " ")
			path, query, hasQ := strings.Cut(target, "?")
			switch p.code {
			case 'm':
				b.B = appendEscaped(b.B, method)
			case 'U':
				b.B = appendEscaped(b.B, path)
			case 'q':
				if hasQ {
					b.B = appendEscaped(append(b.B, '?'), query)
				}
			case 'H':
				b.B = appendEscaped(b.B, proto)
			}
		case 'v':
			b.B = append(b.B, r.serverName...)
		case 'o':
			v := []byte(nil)
			if outIdx < len(r.outs) {
				v = r.outs[outIdx]
			}
			outIdx++
			if v == nil {
				b.B = append(b.B, '-')
			} else {
				b.B = appendEscaped(b.B, string(v))
			}
		case 'i':
			v, ok := []byte(nil), false
			if r.req != nil {
				v, ok = r.req.HeaderValue(p.name)
			}
			if !ok {
				b.B = append(b.B, '-')
			} else {
				b.B = appendEscaped(b.B, string(v))
			}
		}
	}
	b.B = append(b.B, '\n')
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		bytebufferpool.Put(b)
		return
	}
	select {
	case a.ch <- b:
	default:
		a.dropped.Add(1)
		bytebufferpool.Put(b)
	}
}

// noteResponse keeps the values of the response headers the format reads.
func (a *AccessLog) noteResponse(dst [][]byte, hs []codec.Header) [][]byte {
	dst = dst[:0]
	for _, name := range a.outs {
		var v []byte
		for i := range hs {
			if strings.EqualFold(string(hs[i].Name), name) {
				v = append([]byte{}, hs[i].Value...)
				break
			}
		}
		dst = append(dst, v)
	}
	return dst
}

// appendEscaped writes s as Apache does in its log: quotes, backslashes and
// control bytes escaped, so a line cannot be forged.
func appendEscaped(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c >= 0x7f:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
