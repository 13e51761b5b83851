package loop_test

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scgate/scgate/loop"
)

// lockedBuffer is a bytes.Buffer safe for the log writer goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestAccessLogCombined(t *testing.T) {
	var out lockedBuffer
	al, err := loop.NewAccessLog(&out, loop.Combined+" %D %m %U%q %H \"%{Content-Type}o\"")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(cfg *loop.Config, _ string) { cfg.AccessLog = al })
	c := newClient(t)
	for _, tc := range []struct{ path, ua string }{{"/scgi-bin/hello?x=1", "test-agent"}, {"/nowhere", `evil" agent`}} {
		req, _ := http.NewRequest("GET", f.url(tc.path), nil)
		req.Header.Set("User-Agent", tc.ua)
		req.Header.Set("Referer", "http://ref.example/")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
	}
	waitIdle(t, f.b)
	// A line is logged just after its answer is written; the writer flushes every second.
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := al.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log has %d lines:\n%s", len(lines), out.String())
	}
	combined := regexp.MustCompile(`^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET (\S+) HTTP/1\.1" (\d{3}) (\d+|-) "http://ref\.example/" "(.*)" \d+ GET (\S+) HTTP/1\.1 "(.*)"$`)
	want := [][]string{
		{"/scgi-bin/hello?x=1", "200", "14", "test-agent", "/scgi-bin/hello?x=1", "text/plain"},
		{"/nowhere", "404", "", `evil\" agent`, "/nowhere", "-"},
	}
	for i, line := range lines {
		m := combined.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %d is not in the combined format: %q", i, line)
		}
		if m[1] != want[i][0] || m[2] != want[i][1] || (want[i][2] != "" && m[3] != want[i][2]) || m[4] != want[i][3] || m[5] != want[i][4] || m[6] != want[i][5] {
			t.Errorf("line %d: %q, want fields %q", i, line, want[i])
		}
	}
	if _, err := loop.NewAccessLog(&out, "%h %Z"); err == nil {
		t.Error("an unknown % directive was accepted")
	}
}
