package main

import (
	"strings"
	"testing"
	"time"
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
