package codec

import (
	"strings"
	"testing"
)

func headerList(hs []Header) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, string(h.Name)+": "+string(h.Value))
	}
	return strings.Join(parts, "|")
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name, in string
		status   int
		reason   string
		headers  string
		cl       int64
		location string
	}{
		{"spec example", "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n", 200, "OK", "Content-Type: text/plain", -1, ""},
		{"no status", "Content-Type: text/html\r\n\r\n", 200, "", "Content-Type: text/html", -1, ""},
		{"empty head", "\r\n", 200, "", "", -1, ""},
		{"LF only", "Status: 404\nContent-Type: text/plain\n\n", 404, "", "Content-Type: text/plain", -1, ""},
		{"bare status", "Status: 404\r\n\r\n", 404, "", "", -1, ""},
		{"status with long reason", "status:  418  I'm a teapot  \r\n\r\n", 418, "I'm a teapot", "", -1, ""},
		{"NPH 1.1", "HTTP/1.1 201 Created\r\nX: y\r\n\r\n", 201, "Created", "X: y", -1, ""},
		{"NPH 1.0 bare", "HTTP/1.0 204\r\n\r\n", 204, "", "", -1, ""},
		{"absolute Location", "Location: http://example.com/\r\n\r\n", 302, "", "Location: http://example.com/", -1, "http://example.com/"},
		{"local Location", "Location: /other?x\r\n\r\n", 200, "", "Location: /other?x", -1, "/other?x"},
		{"Location with Status", "Status: 301 Moved\r\nLocation: http://e/\r\n\r\n", 301, "Moved", "Location: http://e/", -1, "http://e/"},
		{"Location last wins", "Location: /a\r\nX: 1\r\nLocation: http://b/\r\n\r\n", 302, "", "Location: http://b/|X: 1", -1, "http://b/"},
		{"content-length", "Content-Length: 12\r\ncontent-length: 12\r\n\r\n", 200, "", "", 12, ""},
		{"transfer-encoding dropped", "Transfer-Encoding: chunked\r\nX: 1\r\n\r\n", 200, "", "X: 1", -1, ""},
		{"set-cookie kept separate", "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n", 200, "", "Set-Cookie: a=1|Set-Cookie: b=2", -1, ""},
		{"whitespace trimmed", "X-A:\t v \t\r\nX-Empty:\r\n\r\n", 200, "", "X-A: v|X-Empty: ", -1, ""},
		{"hop-by-hop passed to writer", "Connection: close\r\n\r\n", 200, "", "Connection: close", -1, ""},
	}
	var r Response
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.in + "body bytes")
			n, err := r.Parse(buf)
			if err != nil || n != len(tc.in) {
				t.Fatalf("Parse = %d, %v", n, err)
			}
			if r.Status != tc.status || string(r.Reason) != tc.reason || headerList(r.Headers) != tc.headers ||
				r.ContentLength != tc.cl || string(r.Location) != tc.location {
				t.Fatalf("status %d reason %q headers %q cl %d location %q", r.Status, r.Reason, headerList(r.Headers), r.ContentLength, r.Location)
			}
			if tc.reason == "" && r.Reason != nil {
				t.Errorf("Reason should be nil")
			}
			for i := 0; i < len(tc.in); i++ {
				var p Response
				if _, err := p.Parse([]byte(tc.in[:i])); err != ErrNeedMore {
					t.Fatalf("prefix %d: %v", i, err)
				}
			}
		})
	}
}

func TestParseResponseMalformed(t *testing.T) {
	big := strings.Repeat("X-Pad: "+strings.Repeat("p", 90)+"\r\n", 90)
	tests := []struct{ name, in string }{
		{"no colon", "Content-Type: text/plain\r\nJunk\r\n\r\n"},
		{"body without head", "<html>\r\n\r\n"},
		{"NPH not first", "X: y\r\nHTTP/1.1 200 OK\r\n\r\n"},
		{"NPH 2.0", "HTTP/2.0 200 OK\r\n\r\n"},
		{"NPH no space", "HTTP/1.1200 OK\r\n\r\n"},
		{"NPH bad code", "HTTP/1.1 2x0 OK\r\n\r\n"},
		{"status colon", "Status: 404: Not Found\r\n\r\n"},
		{"status text", "Status: OK\r\n\r\n"},
		{"status short", "Status: 40\r\n\r\n"},
		{"status 4 digits", "Status: 4040\r\n\r\n"},
		{"status 099", "Status: 099\r\n\r\n"},
		{"status 600", "Status: 600 X\r\n\r\n"},
		{"status twice", "Status: 200\r\nStatus: 404\r\n\r\n"},
		{"NPH and status", "HTTP/1.1 200 OK\r\nStatus: 404\r\n\r\n"},
		{"status ctl", "Status: 200 O\x01K\r\n\r\n"},
		{"space in name", "Content Type: x\r\n\r\n"},
		{"space before colon", "X : y\r\n\r\n"},
		{"empty name", ": y\r\n\r\n"},
		{"obs-fold", "X: a\r\n b\r\n\r\n"},
		{"bare CR", "X: a\rb\r\n\r\n"},
		{"NUL", "X: a\x00b\r\n\r\n"},
		{"CTL", "X: a\x1bb\r\n\r\n"},
		{"cl invalid", "Content-Length: 1x\r\n\r\n"},
		{"cl negative", "Content-Length: -1\r\n\r\n"},
		{"cl differing", "Content-Length: 1\r\nContent-Length: 2\r\n\r\n"},
		{"cl overflow", "Content-Length: 99999999999999999999\r\n\r\n"},
		{"over 8K complete", big + "\r\n"},
		{"over 8K incomplete", big},
		{"over 8K one line", "X: " + strings.Repeat("a", 9000)},
	}
	var r Response
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := r.Parse([]byte(tc.in)); err != ErrMalformed || n != 0 {
				t.Fatalf("Parse = %d, %v; want ErrMalformed", n, err)
			}
		})
	}
	// Exactly MaxResponseHead bytes is still acceptable.
	head := "X: " + strings.Repeat("a", MaxResponseHead-7) + "\r\n\r\n"
	if n, err := r.Parse([]byte(head + "body")); err != nil || n != MaxResponseHead {
		t.Fatalf("head of MaxResponseHead bytes: %d %v", n, err)
	}
}

const typicalResponse = "Status: 200 OK\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Set-Cookie: session=abc123; Path=/; HttpOnly\r\n" +
	"X-Frame-Options: DENY\r\n" +
	"Content-Length: 1234\r\n" +
	"\r\n"

func TestParseResponseAllocs(t *testing.T) {
	var r Response
	buf := []byte(typicalResponse)
	r.Parse(buf)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.Parse(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per warm Parse", allocs)
	}
}

func BenchmarkParseResponse(b *testing.B) {
	var r Response
	buf := []byte(typicalResponse)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := r.Parse(buf); err != nil {
			b.Fatal(err)
		}
	}
}
