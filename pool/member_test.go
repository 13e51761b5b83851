package pool

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultMemberParams(t *testing.T) {
	want := MemberParams{LoadFactor: 1, Retry: 60 * time.Second, HCURI: "/", HCInterval: 30 * time.Second, HCPasses: 1, HCFails: 1}
	if got := DefaultMemberParams(); got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
}

func TestSetMemberParam(t *testing.T) {
	d := DefaultMemberParams()
	with := func(f func(p *MemberParams)) MemberParams {
		p := d
		f(&p)
		return p
	}
	tests := []struct {
		key, value string
		want       MemberParams
	}{
		{"loadfactor", "3", with(func(p *MemberParams) { p.LoadFactor = 3 })},
		{"LoadFactor", "100", with(func(p *MemberParams) { p.LoadFactor = 100 })},
		{"loadfactor", "2.0", with(func(p *MemberParams) { p.LoadFactor = 2 })},
		{"retry", "0", with(func(p *MemberParams) { p.Retry = 0 })},
		{"retry", "5", with(func(p *MemberParams) { p.Retry = 5 * time.Second })},
		{"retry", "1500ms", with(func(p *MemberParams) { p.Retry = 1500 * time.Millisecond })},
		{"status", "+H", with(func(p *MemberParams) { p.HotStandby = true })},
		{"status", "H", with(func(p *MemberParams) { p.HotStandby = true })},
		{"status", "d", with(func(p *MemberParams) { p.Disabled = true })},
		{"status", "+H+D", with(func(p *MemberParams) { p.HotStandby, p.Disabled = true, true })},
		{"status", "+HD", with(func(p *MemberParams) { p.HotStandby, p.Disabled = true, true })},
		{"status", "-H", d},
		{"status", "+H-H", d},
		{"route", "node1", with(func(p *MemberParams) { p.Route = "node1" })},
		{"route", "", d},
		{"connectiontimeout", "2", with(func(p *MemberParams) { p.ConnectTimeout = 2 * time.Second })},
		{"ConnectionTimeout", "500ms", with(func(p *MemberParams) { p.ConnectTimeout = 500 * time.Millisecond })},
		{"timeout", "30", with(func(p *MemberParams) { p.Timeout = 30 * time.Second })},
		{"timeout", "2mi", with(func(p *MemberParams) { p.Timeout = 2 * time.Minute })},
		{"max", "10", with(func(p *MemberParams) { p.Max = 10 })},
		{"max", "0", d},
		{"acquire", "250", with(func(p *MemberParams) { p.Acquire = 250 * time.Millisecond })},
		{"acquire", "2s", with(func(p *MemberParams) { p.Acquire = 2 * time.Second })},
		{"min", "4", with(func(p *MemberParams) { p.Min = 4 })},
		{"ttl", "60", with(func(p *MemberParams) { p.TTL = time.Minute })},
		{"ttl", "1hr", with(func(p *MemberParams) { p.TTL = time.Hour })},
		{"hcmethod", "TCP", with(func(p *MemberParams) { p.HCMethod = "tcp" })},
		{"hcmethod", "scgi", with(func(p *MemberParams) { p.HCMethod = "scgi" })},
		{"hcmethod", "None", d},
		{"hcuri", "/health?full=1", with(func(p *MemberParams) { p.HCURI = "/health?full=1" })},
		{"hcinterval", "5", with(func(p *MemberParams) { p.HCInterval = 5 * time.Second })},
		{"hcinterval", "20ms", with(func(p *MemberParams) { p.HCInterval = 20 * time.Millisecond })},
		{"hcpasses", "3", with(func(p *MemberParams) { p.HCPasses = 3 })},
		{"hcfails", "2", with(func(p *MemberParams) { p.HCFails = 2 })},
	}
	for _, tt := range tests {
		p := DefaultMemberParams()
		if err := SetMemberParam(&p, tt.key, tt.value); err != nil {
			t.Errorf("%s=%s: %v", tt.key, tt.value, err)
			continue
		}
		if p != tt.want {
			t.Errorf("%s=%s: got %+v, want %+v", tt.key, tt.value, p, tt.want)
		}
	}
}

func TestSetMemberParamErrors(t *testing.T) {
	tests := []struct {
		key, value, want string // want: a piece of the message
	}{
		{"loadfactor", "0", "1 to 100"},
		{"loadfactor", "101", "1 to 100"},
		{"loadfactor", "1.5", "whole"},
		{"loadfactor", "x", "whole"},
		{"loadfactor", "NaN", "whole"},
		{"loadfactor", "", "whole"},
		{"retry", "-1", "whole number"},
		{"retry", "1.5", "unit"},
		{"retry", "5days", "unit"},
		{"retry", "99999999999999999999", "longer"},
		{"retry", "9999999hr", "longer"},
		{"status", "", "supported: H"},
		{"status", "+", "flag letter"},
		{"status", "+H+", "flag letter"},
		{"status", "++H", "flag letter"},
		{"status", "+I", "I is not supported"},
		{"status", "+N", "supported: H hot standby, D disabled"},
		{"status", "R", "not supported"},
		{"status", "+S", "not supported"},
		{"status", "+E", "not supported"},
		{"status", "+C", "not supported"},
		{"status", "+X", "unknown flag"},
		{"route", "a b", "route"},
		{"route", strings.Repeat("r", 96), "longer"},
		{"connectiontimeout", "soon", "whole number"},
		{"max", "-1", "whole number"},
		{"min", "many", "whole number"},
		{"acquire", "-5", "whole number"},
		{"hcmethod", "GET", "would speak HTTP to an SCGI server; use hcmethod=scgi"},
		{"hcmethod", "head", "HEAD would speak HTTP"},
		{"hcmethod", "OPTIONS11", "would speak HTTP"},
		{"hcmethod", "ping", "known: none, tcp, scgi"},
		{"hcuri", "health", "start with /"},
		{"hcuri", "", "start with /"},
		{"hcuri", "/a b", "printable"},
		{"hcuri", "/a\x00", "printable"},
		{"hcinterval", "0", "more than zero"},
		{"hcpasses", "0", "from 1"},
		{"hcfails", "0", "from 1"},
		{"nosuch", "1", "unknown worker parameter \"nosuch\" (known: loadfactor, retry, status"},
		{"disablereuse", "On", "never reused"},
		{"ping", "1", "AJP/HTTP"},
		{"lbset", "1", "status=+H"},
	}
	for _, tt := range tests {
		p := DefaultMemberParams()
		err := SetMemberParam(&p, tt.key, tt.value)
		if err == nil {
			t.Errorf("%s=%q: accepted, %+v", tt.key, tt.value, p)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%q: error %q lacks %q", tt.key, tt.value, err, tt.want)
		}
	}
	if err := SetMemberParam(nil, "max", "1"); err == nil {
		t.Error("nil params accepted")
	}
}

func TestNewMember(t *testing.T) {
	m, err := NewMember("scgi://127.0.0.1:4001/", "loadfactor=2", "route=a", "connectiontimeout=250ms", "status=+H")
	if err != nil {
		t.Fatal(err)
	}
	if m.Params.LoadFactor != 2 || m.Params.Route != "a" || !m.Params.HotStandby || m.Address != "127.0.0.1:4001" {
		t.Fatalf("member %+v %+v", m.Params, m.Backend)
	}
	if m.ConnectTimeout != 250*time.Millisecond {
		t.Fatalf("connect timeout %v not given to the backend", m.ConnectTimeout)
	}
	if m2, _ := NewMember("scgi://127.0.0.1/"); m2.ConnectTimeout != DefaultConnectTimeout {
		t.Fatalf("default connect timeout %v", m2.ConnectTimeout)
	}
	for _, bad := range [][]string{
		{"http://x/"},
		{"scgi://x/", "loadfactor"},
		{"scgi://x/", "loadfactor=0"},
		{"scgi://x/", "min=5", "max=2"},
	} {
		if _, err := NewMember(bad[0], bad[1:]...); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	if _, err := NewMember("scgi://x/", "min=2", "max=2", "route=", "hcuri=/a=b"); err != nil {
		t.Errorf("valid params: %v", err)
	}
}

func TestMemberCounters(t *testing.T) {
	m, _ := NewMember("scgi://127.0.0.1/", "max=2")
	if !m.TryAcquire() || !m.TryAcquire() {
		t.Fatal("acquire below max failed")
	}
	if m.TryAcquire() {
		t.Fatal("acquire at max succeeded")
	}
	m.Release(false, 100, 10)
	if !m.TryAcquire() {
		t.Fatal("acquire after release failed")
	}
	m.Release(true, 5, 0)
	m.Release(false, -1, -1)
	m.Release(false, 0, 0) // one too many: stays at zero
	want := MemberStats{Requests: 3, Failures: 1, InFlight: 0, BytesIn: 105, BytesOut: 10, State: "ok"}
	if s := m.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
	if s := m.Backend.Stats(); s != (Stats{Requests: 3, Failures: 1}) {
		t.Fatalf("backend stats %+v", s)
	}
	if m.TryAcquire(); m.Backend.Stats().InFlight != 1 {
		t.Fatal("backend does not see the member's in-flight count")
	}
}

func TestMemberErrorAndState(t *testing.T) {
	now := time.Now()
	m, _ := NewMember("scgi://127.0.0.1/", "retry=10")
	if m.InError(now) {
		t.Fatal("new member in error")
	}
	m.MarkError(now)
	if !m.InError(now) || !m.InError(now.Add(9*time.Second)) || m.InError(now.Add(10*time.Second)) {
		t.Fatal("error state does not last exactly retry")
	}
	if s := m.Stats().State; s != "error" {
		t.Fatalf("state %q", s)
	}

	z, _ := NewMember("scgi://127.0.0.1/", "retry=0")
	z.MarkError(now)
	if z.InError(now) {
		t.Fatal("retry=0 rests the member")
	}
	z.Params.Retry = time.Duration(1 << 62)
	z.MarkError(now)
	if !z.InError(now.Add(100 * 365 * 24 * time.Hour)) {
		t.Fatal("a huge retry overflowed")
	}

	states := []struct {
		params []string
		hcDown bool
		want   string
	}{
		{nil, false, "ok"},
		{nil, true, "hc-down"},
		{[]string{"status=+H"}, false, "standby"},
		{[]string{"status=+D"}, false, "disabled"},
	}
	for _, tt := range states {
		m, _ := NewMember("scgi://127.0.0.1/", tt.params...)
		m.hcDown.Store(tt.hcDown)
		if got := m.Stats().State; got != tt.want {
			t.Errorf("%v hc-down=%v: state %q, want %q", tt.params, tt.hcDown, got, tt.want)
		}
	}
}

func TestSetParamErrorKeepsValue(t *testing.T) {
	p := DefaultMemberParams()
	p.LoadFactor, p.Max = 7, 3
	for _, kv := range [][2]string{{"loadfactor", "0"}, {"max", "-1"}, {"status", "+H+X"}, {"hcinterval", "0"}} {
		if SetMemberParam(&p, kv[0], kv[1]) == nil {
			t.Fatalf("%v accepted", kv)
		}
	}
	if p.LoadFactor != 7 || p.Max != 3 || p.HotStandby || p.HCInterval != 30*time.Second {
		t.Fatalf("a rejected value changed the params: %+v", p)
	}
	bp := DefaultBalancerParams()
	bp.HashKey = HashKey{Kind: HashURI}
	if SetBalancerParam(&bp, "hashkey", "header:") == nil || bp.HashKey.Kind != HashURI || SetBalancerParam(&bp, "maxattempts", "x") == nil || bp.MaxAttempts != -1 {
		t.Fatalf("a rejected value changed the params: %+v", bp)
	}
}
