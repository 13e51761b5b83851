package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/bench/backend/app"
)

// TestBinaryServesAndStopsCleanly runs the real binary: it proxies, answers
// 404 outside its mappings, and exits with status 0 on SIGTERM.
func TestBinaryServesAndStopsCleanly(t *testing.T) {
	bin := buildGateway(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { ln.Close() })

	addr := freeAddr(t)
	cmd := exec.Command(bin, "-listen", addr, "-pass", "/scgi-bin/=scgi://"+ln.Addr().String()+"/")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	waitListening(t, addr)

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
