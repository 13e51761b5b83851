package pool

import (
	"fmt"
	"strings"
	"testing"
)

func TestSetBalancerParam(t *testing.T) {
	d := DefaultBalancerParams()
	if d != (BalancerParams{Method: ByRequests, HashKey: HashKey{Kind: HashIP}, MaxAttempts: -1}) {
		t.Fatalf("defaults %+v", d)
	}
	with := func(f func(p *BalancerParams)) BalancerParams {
		p := d
		f(&p)
		return p
	}
	tests := []struct {
		key, value string
		want       BalancerParams
	}{
		{"lbmethod", "byrequests", d},
		{"LBMethod", "ByBusyness", with(func(p *BalancerParams) { p.Method = ByBusyness })},
		{"lbmethod", "hash", with(func(p *BalancerParams) { p.Method = Hash })},
		{"hashkey", "ip", d},
		{"hashkey", "URI", with(func(p *BalancerParams) { p.HashKey = HashKey{Kind: HashURI} })},
		{"hashkey", "header:X-User", with(func(p *BalancerParams) { p.HashKey = HashKey{Kind: HashHeader, Name: "X-User"} })},
		{"hashkey", "Cookie:sid", with(func(p *BalancerParams) { p.HashKey = HashKey{Kind: HashCookie, Name: "sid"} })},
		{"stickysession", "JSESSIONID", with(func(p *BalancerParams) { p.StickySession, p.StickyParam = "JSESSIONID", "JSESSIONID" })},
		{"stickysession", "JSESSIONID|jsessionid", with(func(p *BalancerParams) { p.StickySession, p.StickyParam = "JSESSIONID", "jsessionid" })},
		{"maxattempts", "0", with(func(p *BalancerParams) { p.MaxAttempts = 0 })},
		{"maxattempts", "3", with(func(p *BalancerParams) { p.MaxAttempts = 3 })},
		{"nofailover", "On", with(func(p *BalancerParams) { p.NoFailover = true })},
		{"nofailover", "off", d},
		{"forcerecovery", "on", d},
	}
	for _, tt := range tests {
		p := DefaultBalancerParams()
		if err := SetBalancerParam(&p, tt.key, tt.value); err != nil {
			t.Errorf("%s=%s: %v", tt.key, tt.value, err)
			continue
		}
		if p != tt.want {
			t.Errorf("%s=%s: got %+v, want %+v", tt.key, tt.value, p, tt.want)
		}
	}
}

func TestSetBalancerParamErrors(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{"lbmethod", "bytraffic", "bytraffic is not supported (supported: byrequests, bybusyness, hash)"},
		{"lbmethod", "heartbeat", "heartbeat is not supported"},
		{"lbmethod", "random", "unknown method"},
		{"hashkey", "", "want ip, uri"},
		{"hashkey", "header:", "header name"},
		{"hashkey", "header", "header name"},
		{"hashkey", "cookie:a b", "cookie name"},
		{"hashkey", "ip:x", "want ip, uri"},
		{"hashkey", "query:x", "want ip, uri"},
		{"stickysession", "", "NAME or COOKIE|urlparam"},
		{"stickysession", "a|", "NAME or COOKIE|urlparam"},
		{"stickysession", "|b", "NAME or COOKIE|urlparam"},
		{"stickysession", "a;b", "NAME or COOKIE|urlparam"},
		{"maxattempts", "-1", "whole number"},
		{"maxattempts", "x", "whole number"},
		{"nofailover", "yes", "On or Off"},
		{"forcerecovery", "off", "always recovers"},
		{"timeout", "5", "acquire"},
		{"failontimeout", "on", "no effect for SCGI"},
		{"stickysessionsep", ".", "first '.'"},
		{"bogus", "1", "unknown balancer parameter \"bogus\" (known: lbmethod, hashkey, stickysession, maxattempts, nofailover"},
	}
	for _, tt := range tests {
		p := DefaultBalancerParams()
		err := SetBalancerParam(&p, tt.key, tt.value)
		if err == nil {
			t.Errorf("%s=%q: accepted, %+v", tt.key, tt.value, p)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%q: error %q lacks %q", tt.key, tt.value, err, tt.want)
		}
	}
	if err := SetBalancerParam(nil, "lbmethod", "hash"); err == nil {
		t.Error("nil params accepted")
	}
}

// members makes one member per parameter list, on ports 4001, 4002, ...
func members(t testing.TB, params ...[]string) []*Member {
	t.Helper()
	ms := make([]*Member, len(params))
	for i, p := range params {
		m, err := NewMember(fmt.Sprintf("scgi://127.0.0.1:%d/", 4001+i), p...)
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	return ms
}

func TestNewBalancer(t *testing.T) {
	ok := members(t, []string{"route=a"}, []string{"route=b"}, nil, []string{"status=+D"})
	b, err := NewBalancer("app", DefaultBalancerParams(), ok)
	if err != nil {
		t.Fatal(err)
	}
	ok[0] = nil
	if b.Members[0] == nil {
		t.Fatal("the balancer shares the caller's slice")
	}

	sixtyFive := make([][]string, 65)
	tests := []struct {
		name    string
		members []*Member
		params  func(p *BalancerParams)
		want    string
	}{
		{"none", nil, nil, "want 1 to 64"},
		{"too many", members(t, sixtyFive...), nil, "want 1 to 64"},
		{"nil member", []*Member{nil}, nil, "missing"},
		{"no backend", []*Member{{}}, nil, "missing"},
		{"same route", members(t, []string{"route=a"}, []string{"route=a"}), nil, `route "a"`},
		{"all disabled", members(t, []string{"status=D"}, []string{"status=D"}), nil, "every member is disabled"},
		{"twice", append(members(t, nil), members(t, nil)...), nil, "listed twice"},
		{"bad method", members(t, nil), func(p *BalancerParams) { p.Method = 9 }, "lbmethod"},
		{"bad key", members(t, nil), func(p *BalancerParams) { p.HashKey.Kind = 9 }, "hashkey"},
		{"nameless header", members(t, nil), func(p *BalancerParams) { p.HashKey.Kind = HashHeader }, "needs a name"},
		{"bad attempts", members(t, nil), func(p *BalancerParams) { p.MaxAttempts = -2 }, "maxattempts"},
	}
	for _, tt := range tests {
		p := DefaultBalancerParams()
		if tt.params != nil {
			tt.params(&p)
		}
		_, err := NewBalancer("app", p, tt.members)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewBalancer("big", DefaultBalancerParams(), members(t, sixtyFive[:64]...)); err != nil {
		t.Errorf("64 members: %v", err)
	}
}

func TestSingleAndAttempts(t *testing.T) {
	m := members(t, nil)[0]
	s := Single(m)
	if s.Name != m.URL || len(s.Members) != 1 || s.Params != DefaultBalancerParams() || s.Attempts() != 1 {
		t.Fatalf("single %+v attempts %d", s, s.Attempts())
	}
	if Single(nil).NewPicker() == nil {
		t.Fatal("no picker for a nil member")
	}

	four := members(t, nil, nil, nil, nil)
	tests := []struct {
		maxAttempts int
		noFailover  bool
		want        int
	}{
		{-1, false, 4},
		{0, false, 1},
		{1, false, 2},
		{3, false, 4},
		{10, false, 4}, // every member once at most: Pick skips the tried
		{-1, true, 1},
		{3, true, 1},
	}
	for _, tt := range tests {
		p := DefaultBalancerParams()
		p.MaxAttempts, p.NoFailover = tt.maxAttempts, tt.noFailover
		b, err := NewBalancer("x", p, four)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Attempts(); got != tt.want {
			t.Errorf("maxattempts=%d nofailover=%v: %d attempts, want %d", tt.maxAttempts, tt.noFailover, got, tt.want)
		}
	}
	var nilB *Balancer
	if nilB.Attempts() != 0 {
		t.Error("nil balancer has attempts")
	}
}

func TestTried(t *testing.T) {
	var tr Tried
	for _, i := range []int{0, 5, 63, 64, -1, 1000} {
		tr.Add(i)
	}
	for i := -2; i < 70; i++ {
		want := i == 0 || i == 5 || i == 63
		if tr.Has(i) != want {
			t.Errorf("Has(%d) = %v", i, !want)
		}
	}
}
