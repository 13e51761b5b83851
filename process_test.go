package main

import (
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestBinaryServesAndStopsCleanly runs the real binary: it proxies, answers
// 404 outside its mappings, and exits with status 0 on SIGTERM.
func TestBinaryServesAndStopsCleanly(t *testing.T) {
	backend := startApp(t)
	addr, cmd := startGateway(t, "-pass", "/scgi-bin/=scgi://"+backend+"/")

	client := &http.Client{Timeout: 10 * time.Second}
	for path, want := range map[string]int{"/scgi-bin/hello": 200, "/elsewhere": 404} {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: status %d, want %d", path, resp.StatusCode, want)
		}
	}

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after SIGTERM")
	}
}

// TestSIGTERMLetsRequestsFinish stops the gateway while slow requests are
// in flight: they complete, then the process exits 0.
func TestSIGTERMLetsRequestsFinish(t *testing.T) {
	backend := startApp(t)
	addr, cmd := startGateway(t, "-grace", "20s", "-pass", "/scgi-bin/=scgi://"+backend+"/")
	client := &http.Client{Timeout: 30 * time.Second}
	type result struct {
		code int
		body string
		err  error
	}
	results := make(chan result, 4)
	for range 4 {
		go func() {
			resp, err := client.Get("http://" + addr + "/scgi-bin/slow?ms=1500")
			if err != nil {
				results <- result{err: err}
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, string(body), err}
		}()
	}
	time.Sleep(300 * time.Millisecond) // the four requests are with the backend
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		r := <-results
		if r.err != nil || r.code != 200 || r.body != "Hello, world!\n" {
			t.Fatalf("a request in flight at SIGTERM: %d %q %v", r.code, r.body, r.err)
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after SIGTERM")
	}
}
