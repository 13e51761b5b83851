package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real binary against many real connections: slowloris
// clients, thousands of idle keep-alive connections, and more connections
// than MaxConnections allows.

// raiseFdLimit lets the test process hold n more descriptors.
func raiseFdLimit(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < n && rl.Max >= n {
		rl.Cur = n
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
	}
	if rl.Cur < n {
		t.Fatalf("RLIMIT_NOFILE is %d (hard %d); this test needs %d", rl.Cur, rl.Max, n)
	}
}

// dialMany opens n connections to addr.
func dialMany(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("after %d connections: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	return conns
}

// helloOK makes one request on a new connection and reports how long it took.
func helloOK(t *testing.T, addr string) time.Duration {
	t.Helper()
	start := time.Now()
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/scgi-bin/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
		t.Fatalf("hello: %q %q", resp.Status, body)
	}
	return time.Since(start)
}

// closedWithin waits until every connection has been closed by the gateway
// (EOF or reset, after any bytes it sent), or the deadline passes; it
// returns how many were still open then.
func closedWithin(conns []net.Conn, d time.Duration) int {
	deadline := time.Now().Add(d)
	var open sync.WaitGroup
	var mu sync.Mutex
	still := 0
	for _, c := range conns {
		open.Add(1)
		go func() {
			defer open.Done()
			c.SetReadDeadline(deadline) //nolint:errcheck
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				mu.Lock()
				still++
				mu.Unlock()
			}
		}()
	}
	open.Wait()
	return still
}

// TestSlowloris: 2000 connections that send a header byte every 10 s do not
// keep other clients from being served, and are closed at the header
// timeout (which the trickle does not extend).
func TestSlowloris(t *testing.T) {
	const slow = 2000
	const headerTimeout = 3 * time.Second
	raiseFdLimit(t, slow+512)
	backend := startApp(t)
	addr, _ := startGateway(t, "-header-timeout", headerTimeout.String(), "-pass", "/scgi-bin/=scgi://"+backend+"/")

	conns := dialMany(t, addr, slow)
	start := time.Now()
	stop := make(chan struct{})
	var trickle sync.WaitGroup
	for _, c := range conns {
		trickle.Add(1)
		go func() {
			defer trickle.Done()
			head := "GET /scgi-bin/hello HTTP/1.1\r\nHost: slow\r\nX-Slow: "
			for i := 0; i < len(head); i++ {
				if _, err := c.Write([]byte{head[i]}); err != nil {
					return // closed by the gateway
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Second):
				}
			}
		}()
	}
	defer func() {
		close(stop)
		trickle.Wait()
	}()

	// Meanwhile the others are served, each well before the header timeout
	// the slow ones hold their connections for.
	var worst time.Duration
	for range 50 {
		worst = max(worst, helloOK(t, addr))
	}
	t.Logf("50 requests beside %d slowloris connections: slowest %v", slow, worst)
	if worst >= headerTimeout {
		t.Errorf("a request took %v beside the slowloris connections, as long as the header timeout", worst)
	}
	if n := closedWithin(conns, headerTimeout+5*time.Second-time.Since(start)); n > 0 {
		t.Errorf("%d of %d slowloris connections still open %v after they started (header timeout %v)", n, slow, time.Since(start), headerTimeout)
	}
	helloOK(t, addr)
}

// TestIdleKeepAlive holds 10 000 idle keep-alive connections, each after one
// request, reports the gateway's RSS, and checks they are closed at the
// keep-alive timeout.
func TestIdleKeepAlive(t *testing.T) {
	const idle = 10000
	const idleTimeout = 5 * time.Second
	const maxRSSKB = 100 << 10
	raiseFdLimit(t, idle+512)
	backend := startApp(t)
	addr, cmd := startGateway(t, "-keepalive-timeout", idleTimeout.String(), "-pass", "/scgi-bin/=scgi://"+backend+"/")
	before := procStatusKB(t, cmd.Process.Pid, "VmRSS")

	conns := dialMany(t, addr, idle)
	// One request each, in parallel batches.
	var wg sync.WaitGroup
	errs := make(chan error, idle)
	sem := make(chan struct{}, 64)
	for i, c := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.SetDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
			if _, err := io.WriteString(c, "GET /scgi-bin/hello HTTP/1.1\r\nHost: idle\r\n\r\n"); err != nil {
				errs <- err
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				errs <- fmt.Errorf("connection %d: %v", i, err)
				return
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Close {
				errs <- fmt.Errorf("connection %d: %q close=%v", i, resp.Status, resp.Close)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	held := time.Now()
	rss := procStatusKB(t, cmd.Process.Pid, "VmRSS")
	t.Logf("%d idle keep-alive connections: gateway VmRSS %d KiB (%d KiB before them, %.1f KiB each)", idle, rss, before, float64(rss-before)/idle)
	if rss > maxRSSKB {
		t.Errorf("gateway RSS %d KiB with %d idle connections, want under %d KiB", rss, idle, maxRSSKB)
	}
	// Still served while they are held.
	helloOK(t, addr)
	if n := closedWithin(conns, idleTimeout+5*time.Second-time.Since(held)); n > 0 {
		t.Errorf("%d of %d idle connections still open %v after their last answer (keep-alive timeout %v)", n, idle, time.Since(held), idleTimeout)
	}
}

// TestMaxConnections: over the limit a new connection gets a 503 at once and
// is closed; the connections held are not disturbed, and once some close,
// new ones are served again.
func TestMaxConnections(t *testing.T) {
	const limit = 100
	backend := startApp(t)
	addr, _ := startGateway(t, "-max-connections", fmt.Sprint(limit), "-pass", "/scgi-bin/=scgi://"+backend+"/")
	held := dialMany(t, addr, limit)
	// Each is really held: it answers a request.
	for _, c := range held[:3] {
		io.WriteString(c, "GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n") //nolint:errcheck
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("held connection: %v %v", resp, err)
		}
		resp.Body.Close()
	}

	over, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	over.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	got, err := io.ReadAll(over)
	if err != nil {
		t.Fatalf("connection over the limit: %v after %q", err, got)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 503 ") || !strings.Contains(string(got), "Connection: close") {
		t.Fatalf("connection over the limit got %q, want a 503 and a close", got)
	}

	for _, c := range held[:10] {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + "/scgi-bin/hello")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after some of the held ones closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
