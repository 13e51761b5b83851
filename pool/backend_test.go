package pool

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestParseBackend(t *testing.T) {
	tests := []struct {
		url, network, address, script string
	}{
		{"scgi://127.0.0.1:4000/", "tcp", "127.0.0.1:4000", "proxy:scgi://127.0.0.1/"},
		{"scgi://127.0.0.1:4001/", "tcp", "127.0.0.1:4001", "proxy:scgi://127.0.0.1:4001/"},
		{"scgi://localhost/", "tcp", "localhost:4000", "proxy:scgi://localhost/"},
		{"SCGI://app.example:9000/sub/", "tcp", "app.example:9000", "proxy:scgi://app.example:9000/sub/"},
		{"scgi://[::1]:4000/", "tcp", "[::1]:4000", "proxy:scgi://[::1]/"},
		{"scgi://127.0.0.1:4001", "tcp", "127.0.0.1:4001", "proxy:scgi://127.0.0.1:4001/"},
		{"unix:/run/app.sock|scgi://localhost/", "unix", "/run/app.sock", "proxy:scgi://localhost/"},
	}
	for _, tt := range tests {
		b, err := ParseBackend(tt.url)
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		if b.Network != tt.network || b.Address != tt.address || b.ScriptFilenameBase != tt.script {
			t.Errorf("%s: got %s %s %s, want %s %s %s", tt.url, b.Network, b.Address, b.ScriptFilenameBase, tt.network, tt.address, tt.script)
		}
	}
	for _, bad := range []string{"", "http://127.0.0.1:4000/", "scgi://", "scgi://h:0/", "scgi://h:99999/", "unix:/x.sock", "unix:|scgi://localhost/", "scgi://h:port/"} {
		if _, err := ParseBackend(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestDialAndCounters(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := ParseBackend("scgi://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	b.Begin()
	b.Begin()
	b.End(false)
	b.End(true)
	if s := b.Stats(); s != (Stats{InFlight: 0, Requests: 2, Failures: 1}) {
		t.Fatalf("stats %+v", s)
	}

	ln.Close()
	b.ConnectTimeout = time.Second
	if _, err := b.Dial(context.Background()); err == nil {
		t.Fatal("dial to a closed port succeeded")
	} else if IsTimeout(err) {
		t.Fatalf("refusal reported as a timeout: %v", err)
	}
}
