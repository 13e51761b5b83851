package pool

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Member is one BalancerMember: a Backend plus Apache's worker parameters and
// live state. The state is atomic, shared by every event loop.
type Member struct {
	*Backend
	Params MemberParams

	// In flight, requests and failures are the Backend's counters, so
	// Backend.Stats and Member.Stats agree.
	errorUntil atomic.Int64 // unix nanos; the member rests until then
	hcDown     atomic.Bool
	bytesIn    atomic.Uint64
	bytesOut   atomic.Uint64
	hcChecks   atomic.Uint64
	hcFailures atomic.Uint64
	lastError  atomic.Pointer[string]
}

// MemberParams are Apache's worker parameters that mean something for SCGI.
type MemberParams struct {
	LoadFactor     int           // "loadfactor": relative weight, 1..100 (default 1)
	Retry          time.Duration // "retry": how long a failed member rests (default 60s)
	HotStandby     bool          // status=+H: used only when no other member is usable
	Disabled       bool          // status=+D: never used
	Route          string        // "route": the sticky session route naming this member
	ConnectTimeout time.Duration // "connectiontimeout"; 0 keeps the Backend's default
	Timeout        time.Duration // "timeout": backend response timeout; 0 = gateway default
	Max            int           // "max": most concurrent requests, 0 = unlimited
	Acquire        time.Duration // "acquire": wait for a free slot when all are at max; 0 = no wait
	Min            int           // "min": warm spare connections kept for this member
	TTL            time.Duration // "ttl": a spare older than this is discarded; 0 = no limit
	HCMethod       string        // "hcmethod": "" (none), "tcp" or "scgi"
	HCURI          string        // "hcuri": the path the scgi probe asks for (default "/")
	HCInterval     time.Duration // "hcinterval": time between probes (default 30s)
	HCPasses       int           // "hcpasses": passes that bring a down member back (default 1)
	HCFails        int           // "hcfails": failures that take a member down (default 1)
}

// DefaultMemberParams returns Apache's defaults.
func DefaultMemberParams() MemberParams {
	return MemberParams{
		LoadFactor: 1,
		Retry:      60 * time.Second,
		HCURI:      "/",
		HCInterval: 30 * time.Second,
		HCPasses:   1,
		HCFails:    1,
	}
}

// maxRouteLen is Apache's PROXY_WORKER_MAX_ROUTE_SIZE less its NUL.
const maxRouteLen = 95

// memberKeys are the worker parameters scgate takes, as listed in errors.
const memberKeys = "loadfactor, retry, status, route, connectiontimeout, timeout, max, acquire, min, ttl, hcmethod, hcuri, hcinterval, hcpasses, hcfails"

// ignoredMemberKeys are Apache worker parameters that have no meaning here,
// with the reason given to whoever copies them from an Apache config.
var ignoredMemberKeys = map[string]string{
	"disablereuse":      "SCGI connections are never reused",
	"enablereuse":       "SCGI connections are never reused",
	"keepalive":         "SCGI connections are never reused",
	"smax":              "there are no per-process connection pools",
	"ping":              "ping is an AJP/HTTP feature",
	"flushpackets":      "flushpackets is an AJP/FCGI feature",
	"flushwait":         "flushpackets is an AJP/FCGI feature",
	"lbset":             "lbset tiers are not supported; use status=+H",
	"redirect":          "redirect is not supported",
	"hcexpr":            "hcexpr is not supported: 2xx and 3xx are healthy",
	"hctemplate":        "hctemplate is not supported",
	"iobuffersize":      "buffer sizes are fixed",
	"receivebuffersize": "buffer sizes are fixed",
	"responsefieldsize": "buffer sizes are fixed",
	"secret":            "secret is an AJP feature",
	"upgrade":           "upgrade is an HTTP feature",
	"mapping":           "mapping is not supported",
	"addressttl":        "addressttl is not supported",
}

// SetMemberParam applies one Apache worker parameter, key=value, with the key
// in any case.
func SetMemberParam(p *MemberParams, key, value string) error {
	if p == nil {
		return fmt.Errorf("%s: no parameters to set", key)
	}
	k := strings.ToLower(key)
	q := *p // a bad value leaves p as it was
	var err error
	switch k {
	case "loadfactor":
		q.LoadFactor, err = parseLoadFactor(value)
	case "retry":
		q.Retry, err = parseApacheDuration(value, time.Second)
	case "status":
		err = setStatus(&q, value)
	case "route":
		q.Route, err = value, checkRoute(value)
	case "connectiontimeout":
		q.ConnectTimeout, err = parseApacheDuration(value, time.Second)
	case "timeout":
		q.Timeout, err = parseApacheDuration(value, time.Second)
	case "max":
		q.Max, err = parseCount(value, 0)
	case "acquire":
		q.Acquire, err = parseApacheDuration(value, time.Millisecond)
	case "min":
		q.Min, err = parseCount(value, 0)
	case "ttl":
		q.TTL, err = parseApacheDuration(value, time.Second)
	case "hcmethod":
		q.HCMethod, err = parseHCMethod(value)
	case "hcuri":
		q.HCURI, err = value, checkHCURI(value)
	case "hcinterval":
		q.HCInterval, err = parseApacheDuration(value, time.Second)
		if err == nil && q.HCInterval <= 0 {
			err = fmt.Errorf("must be more than zero")
		}
	case "hcpasses":
		q.HCPasses, err = parseCount(value, 1)
	case "hcfails":
		q.HCFails, err = parseCount(value, 1)
	default:
		if why, ok := ignoredMemberKeys[k]; ok {
			return fmt.Errorf("worker parameter %q is not supported: %s (known: %s)", key, why, memberKeys)
		}
		return fmt.Errorf("unknown worker parameter %q (known: %s)", key, memberKeys)
	}
	if err != nil {
		return fmt.Errorf("%s=%q: %v", k, value, err)
	}
	*p = q
	return nil
}

// NewMember parses url as ParseBackend does and applies params, each
// "key=value".
func NewMember(url string, params ...string) (*Member, error) {
	b, err := ParseBackend(url)
	if err != nil {
		return nil, err
	}
	m := &Member{Backend: b, Params: DefaultMemberParams()}
	for _, kv := range params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("backend %q: parameter %q is not key=value", url, kv)
		}
		if err := SetMemberParam(&m.Params, k, v); err != nil {
			return nil, fmt.Errorf("backend %q: %v", url, err)
		}
	}
	if m.Params.Max > 0 && m.Params.Min > m.Params.Max {
		return nil, fmt.Errorf("backend %q: min=%d is more than max=%d", url, m.Params.Min, m.Params.Max)
	}
	if m.Params.ConnectTimeout > 0 {
		b.ConnectTimeout = m.Params.ConnectTimeout
	}
	return m, nil
}

func parseLoadFactor(s string) (int, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, fmt.Errorf("want a whole number from 1 to 100")
	}
	if f != math.Trunc(f) {
		return 0, fmt.Errorf("scgate takes whole load factors from 1 to 100")
	}
	if f < 1 || f > 100 {
		return 0, fmt.Errorf("must be from 1 to 100")
	}
	return int(f), nil
}

// parseCount reads a non-negative integer of at least least.
func parseCount(s string, least int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < least || n > 1<<30 {
		return 0, fmt.Errorf("want a whole number from %d", least)
	}
	return n, nil
}

// parseApacheDuration reads a time as ap_timeout_parameter_parse does: a
// whole number in unit, or with one of the suffixes ms, s, mi, hr.
func parseApacheDuration(s string, unit time.Duration) (time.Duration, error) {
	digits := len(s)
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			digits = i
			break
		}
	}
	if digits == 0 {
		return 0, fmt.Errorf("want a whole number, optionally with ms, s, mi or hr")
	}
	switch strings.ToLower(s[digits:]) {
	case "":
	case "ms":
		unit = time.Millisecond
	case "s":
		unit = time.Second
	case "mi":
		unit = time.Minute
	case "hr":
		unit = time.Hour
	default:
		return 0, fmt.Errorf("unknown unit %q (use ms, s, mi or hr)", s[digits:])
	}
	n, err := strconv.ParseInt(s[:digits], 10, 64)
	if err != nil || n > int64(maxParamDuration/unit) {
		return 0, fmt.Errorf("longer than %v", maxParamDuration)
	}
	return time.Duration(n) * unit, nil
}

// maxParamDuration keeps now+duration far from overflowing.
const maxParamDuration = 365 * 24 * time.Hour

// setStatus reads Apache's status flags: a sequence of letters, each set or
// cleared by the last '+' or '-' before it (set when there is none).
func setStatus(p *MemberParams, v string) error {
	if v == "" {
		return fmt.Errorf("no flags (supported: H hot standby, D disabled)")
	}
	set := true
	signed := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '+', '-':
			if signed {
				return fmt.Errorf("a flag letter must follow %q", c)
			}
			set, signed = c == '+', true
			continue
		}
		signed = false
		switch c | 0x20 {
		case 'h':
			p.HotStandby = set
		case 'd':
			p.Disabled = set
		case 'i', 'n', 'r', 's', 'e', 'c':
			return fmt.Errorf("flag %c is not supported (supported: H hot standby, D disabled)", c&^0x20)
		default:
			return fmt.Errorf("unknown flag %q (supported: H hot standby, D disabled)", c)
		}
	}
	if signed {
		return fmt.Errorf("a flag letter must follow the last + or -")
	}
	return nil
}

func checkRoute(v string) error {
	if len(v) > maxRouteLen {
		return fmt.Errorf("longer than %d bytes", maxRouteLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f || v[i] == ';' || v[i] == ',' || v[i] == '"' {
			return fmt.Errorf("a route is printable ASCII without spaces, ';', ',' or '\"'")
		}
	}
	return nil
}

func parseHCMethod(v string) (string, error) {
	switch m := strings.ToLower(v); m {
	case "", "none":
		return "", nil
	case "tcp", "scgi":
		return m, nil
	case "get", "head", "options", "get11", "head11", "options11":
		return "", fmt.Errorf("%s would speak HTTP to an SCGI server; use hcmethod=scgi for a real SCGI request (or tcp)", strings.ToUpper(v))
	default:
		return "", fmt.Errorf("unknown health check method (known: none, tcp, scgi)")
	}
}

func checkHCURI(v string) error {
	if v == "" || v[0] != '/' {
		return fmt.Errorf("must start with /")
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f {
			return fmt.Errorf("must be printable ASCII without spaces")
		}
	}
	return nil
}

// TryAcquire counts a request in flight unless the member is at its Max.
func (m *Member) TryAcquire() bool {
	max := int64(m.Params.Max)
	for {
		n := m.inflight.Load()
		if max > 0 && n >= max {
			return false
		}
		if m.inflight.CompareAndSwap(n, n+1) {
			m.requests.Add(1)
			return true
		}
	}
}

// Release ends a request counted by TryAcquire; failed counts a failure.
func (m *Member) Release(failed bool, bytesIn, bytesOut int64) {
	for {
		n := m.inflight.Load()
		if n <= 0 || m.inflight.CompareAndSwap(n, n-1) {
			break
		}
	}
	if failed {
		m.failures.Add(1)
	}
	if bytesIn > 0 {
		m.bytesIn.Add(uint64(bytesIn))
	}
	if bytesOut > 0 {
		m.bytesOut.Add(uint64(bytesOut))
	}
}

// MarkError puts the member in Apache's error state: unusable until
// now+Retry.
func (m *Member) MarkError(now time.Time) {
	m.errorUntil.Store(addNanos(now.UnixNano(), m.Params.Retry))
}

// InError reports whether the member is resting after a failure.
func (m *Member) InError(now time.Time) bool {
	return m.errorUntil.Load() > now.UnixNano()
}

func addNanos(t int64, d time.Duration) int64 {
	if d > 0 && t > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return t + int64(d)
}

// MemberStats is a snapshot of a member's counters and state.
type MemberStats struct {
	Requests, Failures   uint64
	InFlight             int64
	BytesIn, BytesOut    uint64
	State                string // "ok", "error", "hc-down", "disabled", "standby"
	HCChecks, HCFailures uint64 // health probes made, and how many failed
	LastError            string // the last failure noted, "" when none
}

// Stats returns the member's counters and state.
func (m *Member) Stats() MemberStats {
	s := MemberStats{
		Requests:   m.requests.Load(),
		Failures:   m.failures.Load(),
		InFlight:   m.inflight.Load(),
		BytesIn:    m.bytesIn.Load(),
		BytesOut:   m.bytesOut.Load(),
		HCChecks:   m.hcChecks.Load(),
		HCFailures: m.hcFailures.Load(),
	}
	if e := m.lastError.Load(); e != nil {
		s.LastError = *e
	}
	switch {
	case m.Params.Disabled:
		s.State = "disabled"
	case m.InError(time.Now()):
		s.State = "error"
	case m.hcDown.Load():
		s.State = "hc-down"
	case m.Params.HotStandby:
		s.State = "standby"
	default:
		s.State = "ok"
	}
	return s
}

// NoteError records why the member last failed a request, for the status page.
func (m *Member) NoteError(msg string) {
	m.lastError.Store(&msg)
}

// HealthDown reports whether health checks have taken the member down.
func (m *Member) HealthDown() bool { return m.hcDown.Load() }
