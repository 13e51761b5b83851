//go:build linux

package loop

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/scgate/scgate/bench/backend/app"
	"github.com/scgate/scgate/pool"
)

// connect_linux.go binds two unexported gnet functions by name; their
// signatures were read in gnet v2.9.7. A change of version must be checked
// against gnet's source again before this test is updated.
func TestConnectRawGnetVersion(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	const want = "github.com/panjf2000/gnet/v2 v2.9.7"
	if !strings.Contains(string(mod), want+"\n") {
		t.Fatalf("go.mod does not require %s: re-read gnet's newStreamConn and (*eventloop).register0 and update connect_linux.go", want)
	}
}

// TestConnectRawUsed: requests to TCP and unix-socket backends go through
// the on-loop connect, not the dialing goroutine.
func TestConnectRawUsed(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := t.TempDir() + "/app.sock"
	unix, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range []net.Listener{tcp, unix} {
		go app.Serve(ln) //nolint:errcheck
		t.Cleanup(func() { ln.Close() })
	}
	bt, err := pool.ParseBackend("scgi://" + tcp.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	bu, err := pool.ParseBackend("unix:" + sock + "|scgi://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := New(Config{Listen: addr, Loops: 1, Mappings: []Mapping{
		{Prefix: "/t/", Backend: bt}, {Prefix: "/u/", Backend: bu},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Count the connections left to the dialing goroutine: there must be none.
	var slow, fast atomic.Int64
	s.connect = func(ls *loopState, b *pool.Backend, ctx any, nodelay bool) (gnet.Conn, bool, error) {
		c, inProgress, err := ls.connectRaw(b, ctx, nodelay)
		if err == errSlowPath {
			slow.Add(1)
		} else {
			fast.Add(1)
		}
		return c, inProgress, err
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx) //nolint:errcheck
	})
	c := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"/t/hello", "/u/hello", "/t/hello", "/u/hello"} {
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "Hello, world!\n" {
			t.Fatalf("%s: %q %q", path, resp.Status, body)
		}
	}
	if slow.Load() != 0 || fast.Load() != 4 {
		t.Errorf("%d connections on the loop, %d by the dialing goroutine; want 4 and 0", fast.Load(), slow.Load())
	}
}
