package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func startServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// netstring builds an SCGI header block from name, value, name, value...
func netstring(kv ...string) []byte {
	var b bytes.Buffer
	for _, s := range kv {
		b.WriteString(s)
		b.WriteByte(0)
	}
	return fmt.Appendf(nil, "%d:%s,", b.Len(), b.Bytes())
}

func request(path, query string, body []byte, extra ...string) []byte {
	kv := []string{"CONTENT_LENGTH", fmt.Sprint(len(body)), "SCGI", "1",
		"REQUEST_METHOD", "POST", "SCRIPT_NAME", path, "QUERY_STRING", query}
	kv = append(kv, extra...)
	return append(netstring(kv...), body...)
}

// roundTrip sends raw bytes and returns everything the server answers.
func roundTrip(t *testing.T, addr string, raw []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(raw)
		c.(*net.TCPConn).CloseWrite()
		errc <- err
	}()
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writing request: %v", err)
	}
	return resp
}

func splitResponse(t *testing.T, resp []byte) (string, []byte) {
	t.Helper()
	head, body, ok := bytes.Cut(resp, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no header terminator in %q", resp)
	}
	return string(head), body
}

func TestHello(t *testing.T) {
	addr := startServer(t)
	for _, p := range []string{"/scgi-bin/hello", "/x/y/hello"} {
		resp := roundTrip(t, addr, request(p, "", []byte("ignored body")))
		if string(resp) != string(helloResponse) {
			t.Errorf("%s: got %q", p, resp)
		}
	}
	// Routing also works through PATH_INFO.
	resp := roundTrip(t, addr, request("/app", "", nil, "PATH_INFO", "/hello"))
	if string(resp) != string(helloResponse) {
		t.Errorf("PATH_INFO: got %q", resp)
	}
}

func TestEnv(t *testing.T) {
	addr := startServer(t)
	body := []byte("some body")
	resp := roundTrip(t, addr, request("/scgi-bin/env", "a=1", body, "HTTP_X", "1", "HTTP_X", "2"))
	head, jb := splitResponse(t, resp)
	if !strings.HasPrefix(head, "Status: 200 OK\r\nContent-Type: application/json\r\n") {
		t.Fatalf("head %q", head)
	}
	var got struct {
		Vars       [][2]string `json:"vars"`
		BodyLen    int64       `json:"body_len"`
		BodySHA256 string      `json:"body_sha256"`
	}
	if err := json.Unmarshal(jb, &got); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"CONTENT_LENGTH", "9"}, {"SCGI", "1"}, {"REQUEST_METHOD", "POST"},
		{"SCRIPT_NAME", "/scgi-bin/env"}, {"QUERY_STRING", "a=1"}, {"HTTP_X", "1"}, {"HTTP_X", "2"}}
	if fmt.Sprint(got.Vars) != fmt.Sprint(want) {
		t.Errorf("vars %q, want %q", got.Vars, want)
	}
	sum := sha256.Sum256(body)
	if got.BodyLen != 9 || got.BodySHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("body_len %d sha %s", got.BodyLen, got.BodySHA256)
	}
}

func TestEcho(t *testing.T) {
	addr := startServer(t)
	body := make([]byte, 300000)
	io.ReadFull(PatternReader(int64(len(body))), body)
	resp := roundTrip(t, addr, request("/scgi-bin/echo", "", body))
	head, got := splitResponse(t, resp)
	if !strings.Contains(head, "Content-Length: 300000") {
		t.Errorf("head %q", head)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("echo body differs (len %d)", len(got))
	}
}

func TestSHA256(t *testing.T) {
	addr := startServer(t)
	resp := roundTrip(t, addr, request("/scgi-bin/sha256", "", []byte("abc")))
	_, got := splitResponse(t, resp)
	want := "3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
	if string(got) != want {
		t.Errorf("got %q", got)
	}
}

func TestBytes(t *testing.T) {
	addr := startServer(t)
	for _, n := range []int64{0, 5, 8, 65536, 1<<20 + 3} {
		resp := roundTrip(t, addr, request("/scgi-bin/bytes", fmt.Sprintf("n=%d", n), nil))
		head, body := splitResponse(t, resp)
		if !strings.Contains(head, fmt.Sprintf("Content-Length: %d", n)) {
			t.Errorf("n=%d: head %q", n, head)
		}
		h1, h2 := sha256.New(), sha256.New()
		h1.Write(body)
		io.Copy(h2, PatternReader(n))
		if int64(len(body)) != n || !bytes.Equal(h1.Sum(nil), h2.Sum(nil)) {
			t.Errorf("n=%d: got %d bytes, sha mismatch", n, len(body))
		}
	}
	resp := roundTrip(t, addr, request("/scgi-bin/bytes", "n=10&cl=0", nil))
	if head, _ := splitResponse(t, resp); strings.Contains(head, "Content-Length") {
		t.Errorf("cl=0: head %q", head)
	}
}

func TestPattern(t *testing.T) {
	// First block by hand: one xorshift64 step from the seed, little-endian.
	x := uint64(0x9E3779B97F4A7C15)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	var first [8]byte
	for i := range first {
		first[i] = byte(x >> (8 * i))
	}
	whole := make([]byte, 1003)
	Pattern(whole, PatternSeed())
	if !bytes.Equal(whole[:8], first[:]) {
		t.Errorf("first block %x, want %x", whole[:8], first)
	}
	// Odd-sized reads produce the same stream.
	var got bytes.Buffer
	r := PatternReader(1003)
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf[:1+got.Len()%7])
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !bytes.Equal(got.Bytes(), whole) {
		t.Errorf("PatternReader differs from Pattern")
	}
}

func TestBadRequests(t *testing.T) {
	addr := startServer(t)
	cases := map[string][]byte{
		"not a netstring":  []byte("hello"),
		"leading zero":     []byte("05:abcde,"),
		"too many digits":  []byte("12345678901:"),
		"missing comma":    append(netstring("CONTENT_LENGTH", "0", "SCGI", "1")[:27], ';'),
		"cl not first":     netstring("SCGI", "1", "CONTENT_LENGTH", "0"),
		"no scgi":          netstring("CONTENT_LENGTH", "0", "SCRIPT_NAME", "/hello"),
		"scgi not 1":       netstring("CONTENT_LENGTH", "0", "SCGI", "\x01"),
		"bad cl":           netstring("CONTENT_LENGTH", "-1", "SCGI", "1"),
		"odd field count":  []byte("22:CONTENT_LENGTH\x000\x00SCGI\x00,"),
		"short body":       request("/hello", "", []byte("x"))[:len(request("/hello", "", []byte("x")))-1],
		"bad bytes n":      request("/bytes", "n=abc", nil),
		"empty netstring":  []byte("0:,"),
		"no trailing null": []byte("4:abcd,"),
	}
	for name, raw := range cases {
		resp := roundTrip(t, addr, raw)
		if !bytes.HasPrefix(resp, []byte("Status: 400 Bad Request\r\n")) {
			t.Errorf("%s: got %q", name, resp)
		}
	}
}

func TestMiscRoutes(t *testing.T) {
	addr := startServer(t)
	cases := []struct{ path, query, prefix string }{
		{"/s/status", "code=204", "Status: 204\r\nContent-Type: text/plain\r\n\r\n"},
		{"/s/nph", "", "HTTP/1.1 200 OK\r\n"},
		{"/s/lf", "", "Status: 200 OK\nContent-Type: text/plain\n\nlf\n"},
		{"/s/location", "to=http%3A%2F%2Fx%2Fy", "Location: http://x/y\r\n"},
		{"/s/early", "", "Status: 413 Request Entity Too Large\r\n"},
		{"/s/nope", "", "Status: 404 Not Found\r\n"},
	}
	for _, c := range cases {
		resp := roundTrip(t, addr, request(c.path, c.query, nil))
		if !bytes.HasPrefix(resp, []byte(c.prefix)) || (c.path == "/s/status" && string(resp) != c.prefix) {
			t.Errorf("%s?%s: got %q", c.path, c.query, resp)
		}
	}
	resp := roundTrip(t, addr, request("/s/headers", "n=300", nil))
	if head, _ := splitResponse(t, resp); strings.Count(head, "X-H-") != 300 {
		t.Errorf("headers: %d lines", strings.Count(head, "\r\n"))
	}
	resp = roundTrip(t, addr, request("/s/closemid", "", nil))
	if _, body := splitResponse(t, resp); len(body) != 1000 {
		t.Errorf("closemid: %d body bytes", len(body))
	}
}

func TestListenUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.sock")
	ln, err := Listen("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("unix:" + path); err == nil {
		t.Error("second Listen on a live socket succeeded")
	}
	go Serve(ln)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(request("/hello", "", nil))
	resp, _ := io.ReadAll(c)
	c.Close()
	ln.Close()
	if string(resp) != string(helloResponse) {
		t.Errorf("got %q", resp)
	}
}

// BenchmarkHello measures one SCGI connection (dial, request, response, close).
func BenchmarkHello(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go Serve(ln)
	req := request("/scgi-bin/hello", "", nil)
	buf := make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c.Write(req)
		n, _ := io.ReadFull(c, buf[:len(helloResponse)])
		c.Close()
		if n != len(helloResponse) {
			b.Fatalf("short response %d", n)
		}
	}
}
