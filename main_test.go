package main

import (
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/pool"
)

func TestParsePass(t *testing.T) {
	for _, tc := range []struct {
		in             string
		prefix, url    string
		split, auth    bool
		connectTimeout time.Duration
		err            string // substring of the error; "" for success
	}{
		{in: "/scgi-bin/=scgi://127.0.0.1:4000/", prefix: "/scgi-bin/", url: "scgi://127.0.0.1:4000/", connectTimeout: 5 * time.Second},
		{in: "/app/=unix:/run/app.sock|scgi://localhost/ pathinfo=On cgipassauth=on connectiontimeout=2500ms",
			prefix: "/app/", url: "unix:/run/app.sock|scgi://localhost/", split: true, auth: true, connectTimeout: 2500 * time.Millisecond},
		{in: "/a/=scgi://h:9/ pathinfo=Off", prefix: "/a/", url: "scgi://h:9/", connectTimeout: 5 * time.Second},
		{in: "", err: "empty"},
		{in: "scgi-bin=scgi://h/", err: "PREFIX=URL"},
		{in: "/x/=", err: "PREFIX=URL"},
		{in: "/x/=http://h/", err: "scgi://"},
		{in: "/x/=scgi://h/ pathinfo=maybe", err: "neither On nor Off"},
		{in: "/x/=scgi://h/ frobnicate=1", err: "frobnicate"},
		{in: "/x/=balancer://nope/", err: "no balancer"},
	} {
		m, err := parsePass(tc.in, nil, 5*time.Second)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parsePass(%q): error %v, want one mentioning %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePass(%q): %v", tc.in, err)
			continue
		}
		b := m.Balancer.Members[0]
		if m.Prefix != tc.prefix || b.URL != tc.url || m.SplitPathInfo != tc.split || m.PassAuth != tc.auth || b.ConnectTimeout != tc.connectTimeout {
			t.Errorf("parsePass(%q) = prefix %q url %q split %v auth %v timeout %v", tc.in, m.Prefix, b.URL, m.SplitPathInfo, m.PassAuth, b.ConnectTimeout)
		}
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{},                // nothing to serve
		{"-pass", "nope"}, // not PREFIX=URL
		{"-log-level", "loud", "-pass", "/x/=scgi://127.0.0.1:1/"},
		{"-pass", "/x/=scgi://127.0.0.1:1/", "extra"},
		{"-no-such-flag"},
	} {
		if err := run(args); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

func TestParseBalancerAndPass(t *testing.T) {
	b, err := parseBalancer("Cluster=scgi://127.0.0.1:4000/,scgi://127.0.0.1:4001/ loadfactor=3 route=n2", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "cluster" || len(b.Members) != 2 || b.Members[1].Params.LoadFactor != 3 || b.Members[1].Params.Route != "n2" || b.Members[0].ConnectTimeout != 5*time.Second {
		t.Fatalf("parsed %q with %d members, second %+v", b.Name, len(b.Members), b.Members[1].Params)
	}
	m, err := parsePass("/app/=balancer://cluster/ lbmethod=hash hashkey=cookie:sid pathinfo=On", map[string]*pool.Balancer{"cluster": b}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Balancer != b || b.Params.Method != pool.Hash || b.Params.HashKey != (pool.HashKey{Kind: pool.HashCookie, Name: "sid"}) || !m.SplitPathInfo {
		t.Fatalf("mapping %+v, balancer params %+v", m, b.Params)
	}
	for _, bad := range []string{"=scgi://h/", "x", "x=", "x=http://h/", "x=scgi://h/ loadfactor=0", "x=scgi://h/,scgi://h/"} {
		if _, err := parseBalancer(bad, time.Second); err == nil {
			t.Errorf("parseBalancer(%q) accepted", bad)
		}
	}
	if _, err := parsePass("/a/=balancer://cluster/ lbmethod=bytraffic", map[string]*pool.Balancer{"cluster": b}, time.Second); err == nil {
		t.Error("lbmethod=bytraffic accepted")
	}
}

func TestParsePassRedirectAndSendfile(t *testing.T) {
	m, err := parsePass("/x/=scgi://h/ internalredirect=X-Location sendfile=On", nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.InternalRedirect != "X-Location" || m.Sendfile != "On" {
		t.Fatalf("got redirect %q sendfile %q", m.InternalRedirect, m.Sendfile)
	}
	m, err = parsePass("/x/=scgi://h/ ProxySCGISendfile=X-Send-Static ProxySCGIInternalRedirect=Off", nil, time.Second)
	if err != nil || m.Sendfile != "X-Send-Static" || m.InternalRedirect != "Off" {
		t.Fatalf("directive-named keys: %+v %v", m, err)
	}
	if _, err := parsePass("/x/=scgi://h/ sendfile=", nil, time.Second); err == nil {
		t.Fatal("empty sendfile value accepted")
	}
	// Sendfile without a root is refused at start-up with the fix in the message.
	err = run([]string{"-listen", "127.0.0.1:0", "-pass", "/x/=scgi://127.0.0.1:1/ sendfile=On"})
	if err == nil || !strings.Contains(err.Error(), "-sendfile-root") {
		t.Fatalf("sendfile without a root: %v", err)
	}
}
