package pool

import (
	"testing"
	"time"
)

// The parsers take configuration text and backend bytes: any input gives an
// answer or an error, never a panic.

func FuzzSetMemberParam(f *testing.F) {
	for _, s := range [][2]string{{"status", "+H-D"}, {"loadfactor", "2.0"}, {"acquire", "15ms"}, {"hcmethod", "GET"}, {"retry", "9hr"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		p := DefaultMemberParams()
		if SetMemberParam(&p, key, value) != nil && p.HCMethod != "" && p.HCMethod != "tcp" && p.HCMethod != "scgi" {
			t.Fatalf("hcmethod %q", p.HCMethod)
		}
		if p.LoadFactor < 1 || p.LoadFactor > 100 || p.Retry < 0 || p.HCInterval <= 0 || p.HCPasses < 1 || p.HCFails < 1 {
			t.Fatalf("%s=%q left %+v", key, value, p)
		}
	})
}

func FuzzSetBalancerParam(f *testing.F) {
	for _, s := range [][2]string{{"hashkey", "header:X-A"}, {"stickysession", "A|b"}, {"lbmethod", "hash"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		p := DefaultBalancerParams()
		if SetBalancerParam(&p, key, value) == nil {
			if err := checkBalancerParams(p); err != nil {
				t.Fatalf("%s=%q accepted but %v", key, value, err)
			}
		}
	})
}

func FuzzParseHealthHead(f *testing.F) {
	for _, s := range []string{"Status: 200 OK\r\n", "HTTP/1.1 503 x\r\n", "A: b\n\n", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		code, done, err := parseHealthHead(head)
		if done && (err != nil || code < 100 || code > 999) {
			t.Fatalf("%q: %d %v %v", head, code, done, err)
		}
	})
}

func FuzzPick(f *testing.F) {
	f.Add([]byte("10.0.0.1"), true, []byte("n2"), uint64(0), uint8(0))
	f.Fuzz(func(t *testing.T, key []byte, hasKey bool, route []byte, tried uint64, state uint8) {
		for _, method := range []string{"byrequests", "bybusyness", "hash"} {
			b := balancer(t, []string{"lbmethod=" + method}, []string{"route=n1", "max=1"}, []string{"route=n2", "status=+H"}, []string{"loadfactor=7"})
			for i, m := range b.Members {
				if state&(1<<i) != 0 {
					m.MarkError(t0)
				}
				if state&(8<<i) != 0 {
					m.TryAcquire()
				}
			}
			idx, res := b.NewPicker().Pick(t0.Add(time.Second), key, hasKey, route, Tried(tried))
			if (res == NoneUsable) != (idx == -1) || idx >= len(b.Members) || res == Picked && Tried(tried).Has(idx) {
				t.Fatalf("%s: %d %v", method, idx, res)
			}
		}
	})
}
