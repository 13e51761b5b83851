package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/bench/backend/app"
)

// TestSlowClientBoundedMemory runs the real binary in front of a fast backend
// and reads a 200 MiB response at 10 MB/s: the gateway must hold back the
// backend rather than buffer the response, so its peak RSS stays small.
func TestSlowClientBoundedMemory(t *testing.T) {
	const (
		size     = 200 << 20
		rate     = 10 << 20 // bytes per second
		maxHWMKB = 64 << 10
	)
	backend := startApp(t)
	addr, cmd := startGateway(t, "-loops", "1", "-pass", "/scgi-bin/=scgi://"+backend+"/")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(64 << 10) //nolint:errcheck
	fmt.Fprintf(conn, "GET /scgi-bin/bytes?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", size)
	br := bufio.NewReaderSize(conn, 64<<10)
	conn.SetReadDeadline(time.Now().Add(2 * time.Minute)) //nolint:errcheck
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != size {
		t.Fatalf("status %d, length %d", resp.StatusCode, resp.ContentLength)
	}

	h := sha256.New()
	buf := make([]byte, 64<<10)
	start := time.Now()
	var got int64
	for got < size {
		n, err := resp.Body.Read(buf)
		h.Write(buf[:n])
		got += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		// Pace the reads to the target rate.
		if ahead := time.Duration(float64(got)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	want := sha256.New()
	io.Copy(want, app.PatternReader(size)) //nolint:errcheck
	if got != size || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatalf("got %d bytes, sha256 match %v", got, bytes.Equal(h.Sum(nil), want.Sum(nil)))
	}
	hwm := procStatusKB(t, cmd.Process.Pid, "VmHWM")
	t.Logf("200 MiB at 10 MB/s: gateway VmHWM %d KiB", hwm)
	if hwm > maxHWMKB {
		t.Fatalf("gateway peak RSS %d KiB, want under %d KiB", hwm, maxHWMKB)
	}
}

// startApp serves the sample SCGI app on a loopback port and returns its address.
func startApp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// startGateway runs the binary with args on a free port, waits until it
// listens, and kills it when the test ends (showing its log if it failed).
func startGateway(t *testing.T, args ...string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	addr = freeAddr(t)
	cmd = runGateway(t, append([]string{"-listen", addr}, args...)...)
	waitListening(t, addr)
	return addr, cmd
}

// runGateway starts the binary with args and kills it when the test ends
// (showing its log if it failed).
func runGateway(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(buildGateway(t), args...)
	logs := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck
		cmd.Wait()         //nolint:errcheck
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	return cmd
}

// buildGateway compiles this package into a temporary binary.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scgate")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gateway not listening on %s", addr)
}

func procStatusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("%s not in /proc/%d/status", field, pid)
	return 0
}

// TestFastUploaderBoundedMemory sends a 100 MiB body as fast as the socket
// allows to a backend that reads it at 10 MB/s: the gateway must stop
// reading the client instead of buffering the body.
func TestFastUploaderBoundedMemory(t *testing.T) {
	const (
		size     = 100 << 20
		rate     = 10 << 20
		maxHWMKB = 64 << 10
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go slowSCGIReader(c, rate)
		}
	}()

	addr, cmd := startGateway(t, "-loops", "1", "-pass", "/up/=scgi://"+ln.Addr().String()+"/")

	client := &http.Client{Timeout: 2 * time.Minute}
	req, err := http.NewRequest("POST", "http://"+addr+"/up/x", io.LimitReader(zeros{}, size))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != strconv.Itoa(size) {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	hwm := procStatusKB(t, cmd.Process.Pid, "VmHWM")
	t.Logf("100 MiB upload to a 10 MB/s backend: gateway VmHWM %d KiB", hwm)
	if hwm > maxHWMKB {
		t.Fatalf("gateway peak RSS %d KiB, want under %d KiB", hwm, maxHWMKB)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// slowSCGIReader reads one SCGI request, consuming the body at rate bytes
// per second, and answers with the number of body bytes it got.
func slowSCGIReader(c net.Conn, rate int) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute)) //nolint:errcheck
	br := bufio.NewReaderSize(c, 16<<10)
	lenText, err := br.ReadString(':')
	if err != nil {
		return
	}
	n, err := strconv.Atoi(strings.TrimSuffix(lenText, ":"))
	if err != nil {
		return
	}
	block := make([]byte, n+1)
	if _, err := io.ReadFull(br, block); err != nil {
		return
	}
	fields := bytes.Split(block[:n], []byte{0})
	want := 0
	if len(fields) >= 2 && string(fields[0]) == "CONTENT_LENGTH" {
		want, _ = strconv.Atoi(string(fields[1]))
	}
	buf := make([]byte, 16<<10)
	start := time.Now()
	got := 0
	for got < want {
		m, err := br.Read(buf[:min(len(buf), want-got)])
		got += m
		if err != nil {
			break
		}
		if ahead := time.Duration(float64(got)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	fmt.Fprintf(c, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n%d\n", got)
}
