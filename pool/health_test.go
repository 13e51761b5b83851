package pool

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseHealthHead(t *testing.T) {
	tests := []struct {
		head string
		code int
		done bool
		bad  bool
	}{
		{"", 0, false, false},
		{"Status: 200", 0, false, false},
		{"Status: 200 OK\r\n", 200, true, false},
		{"status:503\n", 503, true, false},
		{"Content-Type: text/plain\r\nStatus: 302 Found\r\n\r\n", 302, true, false},
		{"Content-Type: text/plain\r\n\r\nbody", 200, true, false},
		{"Location: /x\n\n", 200, true, false},
		{"Content-Type: text/plain\r\n", 0, false, false},
		{"HTTP/1.1 204 No Content\r\n", 204, true, false},
		{"HTTP/1.0 500\r\n", 500, true, false},
		{"\r\n", 200, true, false},
		{"HTTP/1.1\r\n", 0, false, true},
		{"Status: OK\r\n", 0, false, true},
		{"Status: 2000\r\n", 0, false, true},
		{"Status: 099\r\n", 0, false, true},
		{"Status: 20\r\n", 0, false, true},
		{"<html>\r\n", 0, false, true},
	}
	for _, tt := range tests {
		code, done, err := parseHealthHead([]byte(tt.head))
		if code != tt.code || done != tt.done || (err != nil) != tt.bad {
			t.Errorf("%q: %d %v %v, want %d %v bad=%v", tt.head, code, done, err, tt.code, tt.done, tt.bad)
		}
	}
}

// readSCGI reads one SCGI request's variables.
func readSCGI(r *bufio.Reader) (map[string]string, error) {
	n, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, ":"))
	if err != nil {
		return nil, err
	}
	body := make([]byte, size+1)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	if body[size] != ',' {
		return nil, io.ErrUnexpectedEOF
	}
	fields := bytes.Split(body[:size], []byte{0})
	vars := map[string]string{"first": string(fields[0])}
	for i := 0; i+1 < len(fields); i += 2 {
		vars[string(fields[i])] = string(fields[i+1])
	}
	return vars, nil
}

func TestHealthRequest(t *testing.T) {
	req := appendHealthRequest(nil, "/status/app?deep=1")
	vars, err := readSCGI(bufio.NewReader(bytes.NewReader(req)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"first": "CONTENT_LENGTH", "CONTENT_LENGTH": "0", "SCGI": "1", "REQUEST_METHOD": "GET",
		"REQUEST_URI": "/status/app?deep=1", "QUERY_STRING": "deep=1", "SCRIPT_NAME": "/status/app",
		"SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "localhost", "SERVER_PORT": "0", "REMOTE_ADDR": "127.0.0.1",
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	if len(vars) != len(want) {
		t.Errorf("vars %v", vars)
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serve accepts connections until ln closes, handling each with h.
func serve(ln net.Listener, h func(net.Conn)) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				h(c)
			}()
		}
	}()
	return &wg
}

func healthMember(t *testing.T, addr string, params ...string) (*Balancer, *Member) {
	t.Helper()
	m, err := NewMember("scgi://"+addr+"/", append([]string{"connectiontimeout=1"}, params...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.Params.HCInterval = 20 * time.Millisecond
	plain, _ := NewMember("scgi://127.0.0.1:1/") // no hcmethod: never probed
	b, err := NewBalancer("hc", DefaultBalancerParams(), []*Member{m, plain})
	if err != nil {
		t.Fatal(err)
	}
	return b, m
}

func TestHealthTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	wg := serve(ln, func(net.Conn) {})
	b, m := healthMember(t, addr, "hcmethod=tcp", "hcfails=2", "hcpasses=2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.StartHealthChecks(ctx)

	waitFor(t, "two passing probes", func() bool { return m.Stats().HCChecks >= 2 })
	if m.HealthDown() || m.Stats().HCFailures != 0 {
		t.Fatalf("down while the listener is up: %+v", m.Stats())
	}
	ln.Close()
	wg.Wait()
	waitFor(t, "hc-down after the listener closed", m.HealthDown)
	if s := m.Stats(); s.State != "hc-down" || s.HCFailures < 2 {
		t.Fatalf("stats %+v", s)
	}
	if idx, res := b.NewPicker().Pick(time.Now(), nil, false, nil, 0); res != Picked || idx != 1 {
		t.Fatalf("picked %d %v with member 0 hc-down", idx, res)
	}
	if b.Members[1].Stats().HCChecks != 0 {
		t.Fatal("a member without hcmethod was probed")
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer ln.Close()
	serve(ln, func(net.Conn) {})
	waitFor(t, "up again after the listener came back", func() bool { return !m.HealthDown() })

	cancel()
	n := m.Stats().HCChecks
	time.Sleep(100 * time.Millisecond)
	if after := m.Stats().HCChecks; after > n+1 {
		t.Fatalf("probes went on after the context ended: %d -> %d", n, after)
	}
}

func TestHealthSCGI(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var answer atomic.Value
	answer.Store("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok")
	seen := make(chan map[string]string, 1)
	serve(ln, func(c net.Conn) {
		vars, err := readSCGI(bufio.NewReader(c))
		if err != nil {
			return
		}
		select {
		case seen <- vars:
		default:
		}
		io.WriteString(c, answer.Load().(string)) //nolint:errcheck
	})
	b, m := healthMember(t, ln.Addr().String(), "hcmethod=scgi", "hcuri=/ping?x=1", "timeout=2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.StartHealthChecks(ctx)

	vars := <-seen
	if vars["REQUEST_URI"] != "/ping?x=1" || vars["SCRIPT_NAME"] != "/ping" || vars["QUERY_STRING"] != "x=1" || vars["CONTENT_LENGTH"] != "0" {
		t.Fatalf("probe sent %v", vars)
	}
	waitFor(t, "a passing probe", func() bool { return m.Stats().HCChecks >= 1 })
	if m.HealthDown() {
		t.Fatalf("down on 200: %+v", m.Stats())
	}

	steps := []struct {
		answer string
		down   bool
	}{
		{"Status: 500 Internal Server Error\r\n\r\n", true},
		{"HTTP/1.1 204 No Content\r\n\r\n", false},
		{"Status: 404\r\n\r\n", true},
		{"Content-Type: text/html\r\n\r\n<p>no status</p>", false},
		{"garbage", true},
		{"Location: /elsewhere\r\nStatus: 302 Found\r\n\r\n", false},
		{"", true}, // closes without a word
	}
	for _, s := range steps {
		answer.Store(s.answer)
		waitFor(t, "down="+strconv.FormatBool(s.down)+" on "+strconv.Quote(s.answer), func() bool { return m.HealthDown() == s.down })
	}
}

func TestHealthSCGISilentBackend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hold := make(chan struct{})
	defer close(hold)
	serve(ln, func(net.Conn) { <-hold }) // accepts, never answers
	b, m := healthMember(t, ln.Addr().String(), "hcmethod=scgi", "timeout=50ms")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.StartHealthChecks(ctx)
	waitFor(t, "hc-down on a backend that never answers", m.HealthDown)
}
