// Package pool knows the SCGI backends: where they are, how to reach them and
// how they are doing. It speaks neither HTTP nor gnet.
package pool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultPort is mod_proxy_scgi's conventional SCGI port; it is left out of
// SCRIPT_FILENAME as Apache does.
const DefaultPort = 4000

// DefaultConnectTimeout bounds a dial when the backend sets none.
const DefaultConnectTimeout = 5 * time.Second

// Backend is one SCGI application server reached over TCP or a unix socket.
type Backend struct {
	// URL is the address as configured, e.g. "scgi://127.0.0.1:4000/" or
	// "unix:/run/app.sock|scgi://localhost/".
	URL string
	// Network is "tcp" or "unix"; Address is what net.Dial takes.
	Network, Address string
	// ScriptFilenameBase is "proxy:scgi://host[:port]/path", the start of
	// SCRIPT_FILENAME for requests sent here.
	ScriptFilenameBase string
	// ConnectTimeout bounds each dial.
	ConnectTimeout time.Duration

	dialer net.Dialer
	// resolved is the TCP address once known: an IP literal from the URL,
	// or what the first successful dial of a host name reached (Apache too
	// resolves a worker's name once). Loops that connect without a resolver
	// use it.
	resolved atomic.Pointer[netip.AddrPort]

	inflight atomic.Int64
	requests atomic.Uint64
	failures atomic.Uint64
}

// Stats is a snapshot of a backend's counters.
type Stats struct {
	InFlight int64
	Requests uint64
	Failures uint64
}

// ParseBackend reads an SCGI backend URL in Apache's spelling:
// "scgi://host[:port][/path]" (port 4000 when omitted) or
// "unix:/path/to.sock|scgi://name[/path]".
func ParseBackend(raw string) (*Backend, error) {
	b := &Backend{URL: raw, ConnectTimeout: DefaultConnectTimeout}
	scgiURL := raw
	if rest, ok := cutPrefixFold(raw, "unix:"); ok {
		sock, u, found := strings.Cut(rest, "|")
		if !found || sock == "" {
			return nil, fmt.Errorf("backend %q: a unix socket is written unix:/path|scgi://localhost/", raw)
		}
		b.Network, b.Address = "unix", sock
		scgiURL = u
	}
	u, err := url.Parse(scgiURL)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %v", raw, err)
	}
	if !strings.EqualFold(u.Scheme, "scgi") || u.Host == "" {
		return nil, fmt.Errorf("backend %q: want scgi://host[:port]/ or unix:/path|scgi://localhost/", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = strconv.Itoa(DefaultPort)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("backend %q: bad port %q", raw, port)
	}
	if b.Network == "" {
		b.Network, b.Address = "tcp", net.JoinHostPort(host, port)
	}
	authority := u.Host
	if p == DefaultPort || u.Port() == "" {
		authority = host
		if strings.Contains(host, ":") {
			authority = "[" + host + "]"
		}
	}
	path := u.EscapedPath()
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	b.ScriptFilenameBase = "proxy:scgi://" + authority + path
	if b.Network == "tcp" {
		if ip, err := netip.ParseAddr(host); err == nil {
			ap := netip.AddrPortFrom(ip, uint16(p))
			b.resolved.Store(&ap)
		}
	}
	return b, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// Dial opens a new connection to the backend within its connect timeout.
// It blocks, so the loop calls it from a dialing goroutine only.
func (b *Backend) Dial(ctx context.Context) (net.Conn, error) {
	d := b.dialer
	d.Timeout = b.ConnectTimeout
	// One SCGI request per connection: TCP keep-alive probes would only add syscalls.
	d.KeepAlive = -1
	c, err := d.DialContext(ctx, b.Network, b.Address)
	if err == nil && b.resolved.Load() == nil {
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			ap := ta.AddrPort()
			b.resolved.CompareAndSwap(nil, &ap)
		}
	}
	return c, err
}

// Resolved returns the backend's TCP address once it is known without a
// lookup (see Backend.resolved).
func (b *Backend) Resolved() (netip.AddrPort, bool) {
	if ap := b.resolved.Load(); ap != nil {
		return *ap, true
	}
	return netip.AddrPort{}, false
}

// Begin counts a request sent to the backend; End closes it, with failed
// set when the backend could not be reached or answered badly.
func (b *Backend) Begin() {
	b.inflight.Add(1)
	b.requests.Add(1)
}

// End marks the end of a request counted by Begin.
func (b *Backend) End(failed bool) {
	b.inflight.Add(-1)
	if failed {
		b.failures.Add(1)
	}
}

// Stats returns the backend's counters.
func (b *Backend) Stats() Stats {
	return Stats{InFlight: b.inflight.Load(), Requests: b.requests.Load(), Failures: b.failures.Load()}
}

// IsTimeout reports whether a dial error was a timeout rather than a refusal.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
