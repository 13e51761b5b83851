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
