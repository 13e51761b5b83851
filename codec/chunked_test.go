package codec

import (
	"bytes"
	"strings"
	"testing"
)

func TestChunkedDecode(t *testing.T) {
	tests := []struct {
		name, in, want string
		rest           string // bytes after the body, left unconsumed
	}{
		{"simple", "5\r\nhello\r\n0\r\n\r\n", "hello", ""},
		{"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", ""},
		{"empty body", "0\r\n\r\n", "", ""},
		{"LF only", "5\nhello\n0\n\n", "hello", ""},
		{"hex upper lower", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij", ""},
		{"leading zeros", "0000000000000005\r\nhello\r\n0\r\n\r\n", "hello", ""},
		{"extension", "5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello", ""},
		{"quoted extension", "5 ; a=\"x;y \\\" z\" ;b\r\nhello\r\n0\r\n\r\n", "hello", ""},
		{"BWS before CRLF", "5 \t\r\nhello\r\n0\r\n\r\n", "hello", ""},
		{"trailers", "5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\n\r\n", "hello", ""},
		{"trailer forms", "0\r\nX-Empty:\r\nx_under:v\r\nT:\ta: b\t\r\n\r\nrest", "", "rest"},
		{"pipelined rest", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "abc", "GET / HTTP/1.1\r\n"},
		{"binary data", "4\r\n\r\n\x00\n\r\n0\r\n\r\n", "\r\n\x00\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d ChunkedDecoder
			out, n, done, err := d.Decode(nil, []byte(tc.in))
			if err != nil || !done || string(out) != tc.want || tc.in[n:] != tc.rest {
				t.Fatalf("Decode = %q, %d, %v, %v", out, n, done, err)
			}
			// Split at every byte boundary, and one byte at a time.
			for i := 0; i <= len(tc.in); i++ {
				d.Reset()
				got, done, rest := decodeInPieces(t, &d, tc.in, i)
				if string(got) != tc.want || !done || rest != tc.rest {
					t.Fatalf("split %d: %q %v rest %q", i, got, done, rest)
				}
			}
			d.Reset()
			var got []byte
			consumed := 0
			done = false
			for i := 0; i < len(tc.in) && !done; i++ {
				var k int
				got, k, done, err = d.Decode(got, []byte{tc.in[i]})
				if err != nil {
					t.Fatal(err)
				}
				consumed += k
			}
			if string(got) != tc.want || consumed != len(tc.in)-len(tc.rest) {
				t.Fatalf("bytewise: %q consumed %d", got, consumed)
			}
		})
	}
}

// decodeInPieces feeds in[:split] then in[split:], as a caller would, and returns what is left unconsumed.
func decodeInPieces(t *testing.T, d *ChunkedDecoder, in string, split int) ([]byte, bool, string) {
	t.Helper()
	out, n, done, err := d.Decode(nil, []byte(in[:split]))
	if err != nil {
		t.Fatalf("split %d first: %v", split, err)
	}
	if done {
		return out, true, in[n:]
	}
	if n != split {
		t.Fatalf("split %d: consumed %d of first piece without finishing", split, n)
	}
	out, n, done, err = d.Decode(out, []byte(in[split:]))
	if err != nil {
		t.Fatalf("split %d second: %v", split, err)
	}
	return out, done, in[split+n:]
}

func TestChunkedErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"no digits", "\r\nhello\r\n0\r\n\r\n"},
		{"non-hex", "g\r\n"},
		{"sign", "+5\r\nhello\r\n"},
		{"0x prefix", "0x5\r\nhello\r\n"},
		{"17 digits", "00000000000000005\r\nhello\r\n"},
		{"overflow", "8000000000000000\r\n"},
		{"max uint64", "ffffffffffffffff\r\n"},
		{"space inside digits", "5 5\r\n"},
		{"missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n"},
		{"CR without LF after data", "5\r\nhello\rX0\r\n\r\n"},
		{"CR without LF after size", "5\rhello"},
		{"bare CR in extension", "5;a\rb\r\nhello\r\n"},
		{"CTL in extension", "5;a\x01\r\nhello\r\n"},
		{"long size line", "5;" + strings.Repeat("a", 4100) + "\r\nhello\r\n"},
		{"bare CR in trailer", "0\r\nX: a\rb\r\n\r\n"},
		{"NUL in trailer", "0\r\nX: \x00\r\n\r\n"},
		{"long trailer", "0\r\nX: " + strings.Repeat("a", 8200) + "\r\n\r\n"},
		{"too many trailers", "0\r\n" + strings.Repeat("X: 1\r\n", 101) + "\r\n"},
		{"request line as trailer", "5\r\nhello\r\n0\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"trailer without colon", "0\r\nX\r\n\r\n"},
		{"trailer with empty name", "0\r\n: v\r\n\r\n"},
		{"space before trailer colon", "0\r\nX : v\r\n\r\n"},
		{"folded trailer", "0\r\nX: a\r\n b\r\n\r\n"},
		{"long trailer name", "0\r\n" + strings.Repeat("X", 8200) + ": v\r\n\r\n"},
		{"final CR without LF", "0\r\n\rX"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d ChunkedDecoder
			_, n, done, err := d.Decode(nil, []byte(tc.in))
			if statusOf(err) != 400 || done || n > len(tc.in) {
				t.Fatalf("Decode = %d, %v, %v; want 400", n, done, err)
			}
		})
	}
	// Accepted at the limits.
	var d ChunkedDecoder
	ok := "7fffffffffffffff\r\n"
	if _, _, _, err := d.Decode(nil, []byte(ok)); err != nil {
		t.Errorf("max int64 size: %v", err)
	}
	d.Reset()
	ok = "0\r\n" + strings.Repeat("X: 1\r\n", 99) + "X: " + strings.Repeat("a", 8187) + "\r\n\r\n"
	if _, n, done, err := d.Decode(nil, []byte(ok)); err != nil || !done || n != len(ok) {
		t.Errorf("100 trailers, longest 8190: %d %v %v", n, done, err)
	}
}

func TestChunkedDoneStops(t *testing.T) {
	var d ChunkedDecoder
	_, _, done, _ := d.Decode(nil, []byte("0\r\n\r\n"))
	out, n, done2, err := d.Decode(nil, []byte("more"))
	if !done || !done2 || n != 0 || len(out) != 0 || err != nil {
		t.Fatalf("after done: %q %d %v %v", out, n, done2, err)
	}
}

func chunkedBody(chunks, size int) []byte {
	var b []byte
	data := bytes.Repeat([]byte("x"), size)
	for i := 0; i < chunks; i++ {
		b = AppendChunkHeader(b, size)
		b = append(b, data...)
		b = append(b, "\r\n"...)
	}
	return append(b, LastChunk...)
}

func TestChunkedAllocs(t *testing.T) {
	body := chunkedBody(4, 1000)
	var d ChunkedDecoder
	dst := make([]byte, 0, 8192)
	allocs := testing.AllocsPerRun(100, func() {
		d.Reset()
		out, _, done, err := d.Decode(dst[:0], body)
		if err != nil || !done || len(out) != 4000 {
			t.Fatal("bad decode")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per warm Decode", allocs)
	}
}

func BenchmarkChunked(b *testing.B) {
	body := chunkedBody(16, 1024)
	var d ChunkedDecoder
	dst := make([]byte, 0, 32<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		d.Reset()
		if _, _, done, err := d.Decode(dst[:0], body); err != nil || !done {
			b.Fatal("bad decode")
		}
	}
}
