package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// StartHealthChecks starts one goroutine per member with an HCMethod, each
// probing its member every HCInterval until ctx ends. Call it once per
// balancer.
//
// A tcp probe passes when a connection opens within ConnectTimeout. An scgi
// probe sends a real SCGI GET for HCURI and passes when the CGI head says
// 2xx or 3xx within Timeout (ConnectTimeout when Timeout is unset). After
// HCFails failures in a row the member is down (not usable); after
// HCPasses passes in a row it is up again.
func (b *Balancer) StartHealthChecks(ctx context.Context) {
	if b == nil {
		return
	}
	for _, m := range b.Members {
		if m == nil || m.Backend == nil {
			continue
		}
		switch strings.ToLower(m.Params.HCMethod) {
		case "tcp", "scgi":
			go m.checkHealth(ctx)
		}
	}
}

// checkHealth probes the member until ctx ends, first at once.
func (m *Member) checkHealth(ctx context.Context) {
	interval := m.Params.HCInterval
	if interval <= 0 {
		interval = DefaultMemberParams().HCInterval
	}
	var req []byte
	if strings.EqualFold(m.Params.HCMethod, "scgi") {
		req = appendHealthRequest(nil, m.Params.HCURI)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	passes, fails := 0, 0
	for {
		err := m.probe(ctx, req)
		if ctx.Err() != nil {
			return // a probe cut short by the shutdown says nothing
		}
		m.hcChecks.Add(1)
		if err == nil {
			passes, fails = passes+1, 0
			if passes >= max(m.Params.HCPasses, 1) {
				m.hcDown.Store(false)
			}
		} else {
			m.hcFailures.Add(1)
			passes, fails = 0, fails+1
			if fails >= max(m.Params.HCFails, 1) {
				m.hcDown.Store(true)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probeTimeout bounds an scgi probe from connect to the end of the head.
func (m *Member) probeTimeout() time.Duration {
	switch {
	case m.Params.Timeout > 0:
		return m.Params.Timeout
	case m.ConnectTimeout > 0:
		return m.ConnectTimeout
	}
	return DefaultConnectTimeout
}

// probe connects and, when req is set, sends it and reads the CGI head.
func (m *Member) probe(ctx context.Context, req []byte) error {
	c, err := m.Dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if req == nil {
		return nil
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	if err := c.SetDeadline(time.Now().Add(m.probeTimeout())); err != nil {
		return err
	}
	if _, err := c.Write(req); err != nil {
		return err
	}
	var buf [healthHeadMax]byte
	n := 0
	for {
		k, err := c.Read(buf[n:])
		n += k
		code, done, perr := parseHealthHead(buf[:n])
		switch {
		case perr != nil:
			return perr
		case done && code >= 200 && code < 400:
			return nil
		case done:
			return fmt.Errorf("status %d", code)
		case err == io.EOF:
			return errors.New("closed before the end of the CGI head")
		case err != nil:
			return err
		case n == len(buf):
			return fmt.Errorf("CGI head longer than %d bytes", healthHeadMax)
		}
	}
}

// healthHeadMax bounds the CGI head a probe reads.
const healthHeadMax = 8 << 10

// appendHealthRequest appends the probe's SCGI request for uri: a netstring
// of CGI variables (CONTENT_LENGTH first, as SCGI requires) and no body.
func appendHealthRequest(dst []byte, uri string) []byte {
	if uri == "" {
		uri = "/"
	}
	path, query, _ := strings.Cut(uri, "?")
	vars := [...]string{
		"CONTENT_LENGTH", "0",
		"SCGI", "1",
		"REQUEST_METHOD", "GET",
		"REQUEST_URI", uri,
		"QUERY_STRING", query,
		"SCRIPT_NAME", path,
		"SERVER_PROTOCOL", "HTTP/1.1",
		"SERVER_NAME", "localhost",
		"SERVER_PORT", "0",
		"REMOTE_ADDR", "127.0.0.1",
	}
	n := 0
	for _, v := range vars {
		n += len(v) + 1
	}
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, ':')
	for _, v := range vars {
		dst = append(dst, v...)
		dst = append(dst, 0)
	}
	return append(dst, ',')
}

// parseHealthHead reads as much of a CGI response head as head holds and
// tells its status as soon as it is known: an NPH status line, a Status
// header, or the end of a head without one (200). done is false while more
// bytes are needed.
func parseHealthHead(head []byte) (code int, done bool, err error) {
	for first := true; ; first = false {
		nl := bytes.IndexByte(head, '\n')
		if nl < 0 {
			return 0, false, nil
		}
		line := bytes.TrimSuffix(head[:nl], []byte{'\r'})
		head = head[nl+1:]
		if len(line) == 0 {
			return 200, true, nil
		}
		if first && bytes.HasPrefix(line, []byte("HTTP/")) {
			_, rest, ok := bytes.Cut(line, []byte{' '})
			if !ok {
				return 0, false, errors.New("malformed NPH status line")
			}
			return parseStatusCode(rest)
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return 0, false, errors.New("malformed CGI header line")
		}
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("Status")) {
			return parseStatusCode(bytes.TrimLeft(value, " \t"))
		}
	}
}

// parseStatusCode reads the three digits that start s.
func parseStatusCode(s []byte) (int, bool, error) {
	if len(s) < 3 || len(s) > 3 && s[3] != ' ' && s[3] != '\t' {
		return 0, false, errors.New("malformed status")
	}
	code := 0
	for _, c := range s[:3] {
		if c < '0' || c > '9' {
			return 0, false, errors.New("malformed status")
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return 0, false, errors.New("malformed status")
	}
	return code, true, nil
}
