package pool

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"
)

// balancer builds a balancer from "key=value" balancer params and one
// parameter list per member.
func balancer(t testing.TB, params []string, member ...[]string) *Balancer {
	t.Helper()
	p := DefaultBalancerParams()
	for _, kv := range params {
		k, v, _ := cut(kv)
		if err := SetBalancerParam(&p, k, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := NewBalancer("test", p, members(t, member...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cut(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

var t0 = time.Unix(1_700_000_000, 0)

// picks runs n plain picks and returns the chosen indexes.
func picks(t *testing.T, p *Picker, n int) []int {
	t.Helper()
	out := make([]int, n)
	for i := range out {
		idx, res := p.Pick(t0, nil, false, nil, 0)
		if res != Picked {
			t.Fatalf("pick %d: %v", i, res)
		}
		out[i] = idx
	}
	return out
}

func shares(idx []int, n int) []int {
	c := make([]int, n)
	for _, i := range idx {
		c[i]++
	}
	return c
}

func TestByRequests(t *testing.T) {
	tests := []struct {
		name   string
		lf     []string
		picks  int
		want   []int // exact sequence when set
		counts []int // exact counts
	}{
		{name: "equal", lf: []string{"1", "1", "1"}, picks: 6, want: []int{0, 1, 2, 0, 1, 2}},
		{name: "nginx 5,1,1", lf: []string{"5", "1", "1"}, picks: 14, want: []int{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0}},
		{name: "1 and 3", lf: []string{"1", "3"}, picks: 4000, counts: []int{1000, 3000}},
		{name: "1,2,3,4", lf: []string{"1", "2", "3", "4"}, picks: 1000, counts: []int{100, 200, 300, 400}},
	}
	for _, tt := range tests {
		ms := make([][]string, len(tt.lf))
		for i, lf := range tt.lf {
			ms[i] = []string{"loadfactor=" + lf}
		}
		got := picks(t, balancer(t, nil, ms...).NewPicker(), tt.picks)
		if tt.want != nil && fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: sequence %v, want %v", tt.name, got, tt.want)
		}
		if tt.counts != nil && fmt.Sprint(shares(got, len(tt.lf))) != fmt.Sprint(tt.counts) {
			t.Errorf("%s: counts %v, want %v", tt.name, shares(got, len(tt.lf)), tt.counts)
		}
	}

	// Smooth: with 1,3 the heavy member never runs more than 3 in a row.
	got := picks(t, balancer(t, nil, []string{"loadfactor=1"}, []string{"loadfactor=3"}).NewPicker(), 400)
	run := 0
	for _, i := range got {
		if run = run + 1; i == 0 {
			run = 0
		}
		if run > 3 {
			t.Fatalf("member 1 picked %d times in a row: %v", run, got[:20])
		}
	}
}

func TestByBusyness(t *testing.T) {
	b := balancer(t, []string{"lbmethod=bybusyness"}, nil, nil, nil)
	for range 3 {
		b.Members[0].TryAcquire()
	}
	p := b.NewPicker()
	if got := picks(t, p, 6); fmt.Sprint(got) != "[1 2 1 2 1 2]" {
		t.Errorf("inflight 3,0,0: %v, want the idle ones in turn", got)
	}
	b.Members[1].TryAcquire()
	if got := picks(t, p, 3); fmt.Sprint(got) != "[2 2 2]" {
		t.Errorf("inflight 3,1,0: %v", got)
	}
	for range 3 {
		b.Members[0].Release(false, 0, 0)
	}
	b.Members[1].Release(false, 0, 0)
	// Apache's lbstatus: member 0 gathered credit while busy and spends it now.
	if got := shares(picks(t, p, 300), 3); got[0] < 100 || got[1] < 90 || got[2] < 90 {
		t.Errorf("all idle again: %v", got)
	}
	if got := picks(t, b.NewPicker(), 6); fmt.Sprint(got) != "[0 1 2 0 1 2]" {
		t.Errorf("all idle: %v, want round-robin", got)
	}

	w := balancer(t, []string{"lbmethod=bybusyness"}, []string{"loadfactor=1"}, []string{"loadfactor=3"})
	if got := shares(picks(t, w.NewPicker(), 400), 2); fmt.Sprint(got) != "[100 300]" {
		t.Errorf("ties by weighted round-robin: %v", got)
	}
}

// hashOwners picks each of n keys once.
func hashOwners(t *testing.T, p *Picker, n int, now time.Time) []int {
	t.Helper()
	out := make([]int, n)
	for k := range out {
		idx, res := p.Pick(now, []byte("10.0."+strconv.Itoa(k>>8)+"."+strconv.Itoa(k&255)), true, nil, 0)
		if res != Picked {
			t.Fatalf("key %d: %v", k, res)
		}
		out[k] = idx
	}
	return out
}

func TestHash(t *testing.T) {
	b := balancer(t, []string{"lbmethod=hash"}, nil, nil, nil)
	p := b.NewPicker()

	first, _ := p.Pick(t0, []byte("192.0.2.7"), true, nil, 0)
	for range 1000 {
		if idx, _ := p.Pick(t0, []byte("192.0.2.7"), true, nil, 0); idx != first {
			t.Fatalf("one key went to %d and %d", first, idx)
		}
	}

	before := hashOwners(t, p, 3000, t0)
	for i, n := range shares(before, 3) {
		if n < 850 || n > 1150 {
			t.Errorf("member %d holds %d of 3000 keys", i, n)
		}
	}
	b.Members[1].MarkError(t0)
	after := hashOwners(t, p, 3000, t0)
	for k := range before {
		switch {
		case before[k] != 1 && after[k] != before[k]:
			t.Fatalf("key %d moved from %d to %d though its member is fine", k, before[k], after[k])
		case after[k] == 1:
			t.Fatalf("key %d still on the member in error", k)
		}
	}
	moved := shares(after, 3)
	if moved[0] < 1300 || moved[2] < 1300 {
		t.Errorf("the resting member's keys did not spread: %v", moved)
	}
	if back := hashOwners(t, p, 3000, t0.Add(time.Minute)); fmt.Sprint(back) != fmt.Sprint(before) {
		t.Error("keys did not return when the member's retry ran out")
	}

	// Without a key, hash is byrequests.
	if got := picks(t, balancer(t, []string{"lbmethod=hash"}, nil, nil, nil).NewPicker(), 6); fmt.Sprint(got) != "[0 1 2 0 1 2]" {
		t.Errorf("keyless: %v", got)
	}

	// Weights skew the shares.
	w := balancer(t, []string{"lbmethod=hash"}, []string{"loadfactor=1"}, []string{"loadfactor=3"})
	got := shares(hashOwners(t, w.NewPicker(), 4000, t0), 2)
	if heavy := float64(got[1]) / 4000; math.Abs(heavy-0.75) > 0.03 {
		t.Errorf("loadfactor 1:3 gave %v", got)
	}
}

func TestSticky(t *testing.T) {
	routed := [][]string{{"route=a"}, {"route=b"}, {"route=c", "max=1", "acquire=300"}}
	tests := []struct {
		name    string
		params  []string
		route   string
		setup   func(b *Balancer)
		tried   Tried
		wantIdx int
		wantRes PickResult
	}{
		{name: "match", route: "b", wantIdx: 1},
		{name: "match with hash", params: []string{"lbmethod=hash"}, route: "c", wantIdx: 2},
		{name: "unknown route", route: "zz", wantIdx: 0},
		{name: "no route", route: "", wantIdx: 0},
		{name: "in error", route: "b", setup: func(b *Balancer) { b.Members[1].MarkError(t0) }, wantIdx: 0},
		{name: "in error, nofailover", params: []string{"nofailover=On"}, route: "b", setup: func(b *Balancer) { b.Members[1].MarkError(t0) }, wantIdx: -1, wantRes: NoneUsable},
		{name: "hc down, nofailover", params: []string{"nofailover=On"}, route: "a", setup: func(b *Balancer) { b.Members[0].hcDown.Store(true) }, wantIdx: -1, wantRes: NoneUsable},
		{name: "tried", route: "a", tried: 1, wantIdx: 1},
		{name: "full", route: "c", setup: func(b *Balancer) { b.Members[2].TryAcquire() }, wantIdx: 2, wantRes: AllBusy},
		{name: "all in error, nofailover: recovered", params: []string{"nofailover=On"}, route: "b", setup: func(b *Balancer) {
			for _, m := range b.Members {
				m.MarkError(t0)
			}
		}, wantIdx: 1},
	}
	for _, tt := range tests {
		b := balancer(t, tt.params, routed...)
		if tt.setup != nil {
			tt.setup(b)
		}
		idx, res := b.NewPicker().Pick(t0, []byte("k"), true, []byte(tt.route), tt.tried)
		if idx != tt.wantIdx || res != tt.wantRes {
			t.Errorf("%s: got %d %v, want %d %v", tt.name, idx, res, tt.wantIdx, tt.wantRes)
		}
	}
}

func TestUsability(t *testing.T) {
	tests := []struct {
		name    string
		members [][]string
		setup   func(b *Balancer)
		tried   Tried
		want    string // the sequence of 6 picks, or the result
	}{
		{name: "standby idle while others usable", members: [][]string{nil, nil, {"status=+H"}}, want: "[0 1 0 1 0 1]"},
		{name: "standby when others in error", members: [][]string{nil, nil, {"status=+H"}, nil},
			setup: func(b *Balancer) { b.Members[0].MarkError(t0); b.Members[1].MarkError(t0); b.Members[3].MarkError(t0) }, want: "[2 2 2 2 2 2]"},
		{name: "standby when others hc-down", members: [][]string{nil, {"status=+H"}},
			setup: func(b *Balancer) { b.Members[0].hcDown.Store(true) }, want: "[1 1 1 1 1 1]"},
		{name: "standbys share", members: [][]string{{"status=+H"}, {"status=D"}, {"status=H"}}, want: "[0 2 0 2 0 2]"},
		{name: "disabled never", members: [][]string{{"status=+D"}, nil, nil}, want: "[1 2 1 2 1 2]"},
		{name: "disabled never, even alone", members: [][]string{{"status=+D"}, nil},
			setup: func(b *Balancer) { b.Members[1].hcDown.Store(true) }, want: "none usable"},
		{name: "tried skipped", members: [][]string{nil, nil, nil}, tried: 0b101, want: "[1 1 1 1 1 1]"},
		{name: "all tried", members: [][]string{nil, nil}, tried: 0b11, want: "none usable"},
		{name: "one full", members: [][]string{{"max=1"}, nil},
			setup: func(b *Balancer) { b.Members[0].TryAcquire() }, want: "[1 1 1 1 1 1]"},
		{name: "all full", members: [][]string{{"max=1", "acquire=100"}, {"max=2", "acquire=200"}, {"max=1", "acquire=50"}},
			setup: func(b *Balancer) {
				for _, m := range b.Members {
					for m.TryAcquire() {
					}
				}
			}, want: "all busy 1"},
		{name: "full primaries do not wake the standby", members: [][]string{{"max=1"}, {"status=+H"}},
			setup: func(b *Balancer) { b.Members[0].TryAcquire() }, want: "all busy 0"},
		{name: "forcerecovery", members: [][]string{nil, nil, {"status=+D"}},
			setup: func(b *Balancer) { b.Members[0].MarkError(t0); b.Members[1].MarkError(t0) }, want: "[0 1 0 1 0 1]"},
		{name: "forcerecovery among the untried", members: [][]string{nil, nil, nil}, tried: 0b001,
			setup: func(b *Balancer) { b.Members[1].MarkError(t0); b.Members[2].MarkError(t0) }, want: "[1 2 1 2 1 2]"},
		{name: "no forcerecovery while one is only hc-down", members: [][]string{nil, nil},
			setup: func(b *Balancer) { b.Members[0].MarkError(t0); b.Members[1].hcDown.Store(true) }, want: "none usable"},
		{name: "recovered but hc-down stays down", members: [][]string{nil, nil},
			setup: func(b *Balancer) {
				b.Members[0].MarkError(t0)
				b.Members[1].MarkError(t0)
				b.Members[1].hcDown.Store(true)
			}, want: "[0 0 0 0 0 0]"},
		{name: "error expires", members: [][]string{{"retry=0"}, nil},
			setup: func(b *Balancer) { b.Members[0].MarkError(t0) }, want: "[0 1 0 1 0 1]"},
	}
	for _, tt := range tests {
		b := balancer(t, nil, tt.members...)
		if tt.setup != nil {
			tt.setup(b)
		}
		p := b.NewPicker()
		var got []int
		var res PickResult
		idx := 0
		for range 6 {
			idx, res = p.Pick(t0, nil, false, nil, tt.tried)
			if res != Picked {
				break
			}
			got = append(got, idx)
		}
		s := fmt.Sprint(got)
		switch res {
		case AllBusy:
			s = "all busy " + strconv.Itoa(idx)
		case NoneUsable:
			s = "none usable"
			if idx != -1 {
				s += " with index " + strconv.Itoa(idx)
			}
		}
		if s != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, s, tt.want)
		}
	}
}

func TestForceRecoveryClearsErrors(t *testing.T) {
	b := balancer(t, nil, nil, nil)
	for _, m := range b.Members {
		m.MarkError(t0)
	}
	if _, res := b.NewPicker().Pick(t0, nil, false, nil, 0); res != Picked {
		t.Fatalf("dead-only pool: %v", res)
	}
	for i, m := range b.Members {
		if m.InError(t0) {
			t.Errorf("member %d still in error after forcerecovery", i)
		}
	}
}

func TestPickOddBalancers(t *testing.T) {
	var nilPicker *Picker
	var nilBalancer *Balancer
	odd := []*Picker{
		nilPicker,
		nilBalancer.NewPicker(),
		(&Balancer{}).NewPicker(),
		(&Balancer{Members: []*Member{nil, {}}}).NewPicker(),
	}
	for i, p := range odd {
		if idx, res := p.Pick(t0, []byte("k"), true, []byte("r"), 0); idx != -1 || res != NoneUsable {
			t.Errorf("odd picker %d: %d %v", i, idx, res)
		}
	}
	// Built by hand past NewBalancer's checks: out-of-range weights, a
	// method it does not know, more than 64 members.
	ms := members(t, make([][]string, 70)...)
	ms[0].Params.LoadFactor = -5
	ms[1].Params.LoadFactor = 1000
	b := &Balancer{Params: BalancerParams{Method: 77}, Members: ms}
	p := b.NewPicker()
	for range 200 {
		if idx, res := p.Pick(t0, nil, false, nil, 0); res != Picked || idx < 0 || idx >= MaxMembers {
			t.Fatalf("hand-built balancer: %d %v", idx, res)
		}
	}
}

func TestPickAllocs(t *testing.T) {
	for _, method := range []string{"byrequests", "bybusyness", "hash"} {
		b := balancer(t, []string{"lbmethod=" + method, "stickysession=ROUTEID"},
			[]string{"route=n1"}, []string{"route=n2", "loadfactor=2"}, []string{"max=5"}, []string{"status=+H"})
		p := b.NewPicker()
		key, route := []byte("198.51.100.23"), []byte("n2")
		for _, r := range [][]byte{nil, route} {
			if n := testing.AllocsPerRun(100, func() { p.Pick(time.Now(), key, true, r, 0) }); n != 0 {
				t.Errorf("%s route %q: %v allocs per Pick", method, r, n)
			}
		}
	}
}

func TestPickConcurrent(t *testing.T) {
	b := balancer(t, []string{"lbmethod=bybusyness"}, []string{"max=3"}, []string{"max=3", "loadfactor=2"}, []string{"max=2", "route=r"}, []string{"status=+H"})
	const loops, rounds = 8, 2000
	var wg sync.WaitGroup
	var overMax sync.Once
	for g := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := b.NewPicker()
			for i := range rounds {
				now := time.Now()
				var tried Tried
				for range b.Attempts() {
					idx, res := p.Pick(now, nil, false, []byte("r"), tried)
					if res != Picked {
						break
					}
					m := b.Members[idx]
					if !m.TryAcquire() {
						tried.Add(idx)
						continue
					}
					if n := m.Stats().InFlight; m.Params.Max > 0 && n > int64(m.Params.Max) {
						overMax.Do(func() { t.Errorf("member %d has %d in flight, max %d", idx, n, m.Params.Max) })
					}
					failed := (g+i)%17 == 0
					if failed {
						m.MarkError(now)
					}
					m.Release(failed, 10, 20)
					break
				}
			}
		}()
	}
	wg.Wait()
	var reqs uint64
	for i, m := range b.Members {
		s := m.Stats()
		if s.InFlight != 0 {
			t.Errorf("member %d ends with %d in flight", i, s.InFlight)
		}
		if s.BytesIn != 10*s.Requests || s.BytesOut != 20*s.Requests {
			t.Errorf("member %d: %d requests but %d/%d bytes", i, s.Requests, s.BytesIn, s.BytesOut)
		}
		reqs += s.Requests
	}
	if reqs == 0 {
		t.Fatal("no request got through")
	}
}

func BenchmarkPick(b *testing.B) {
	four := [][]string{{"route=n1"}, {"route=n2", "loadfactor=2"}, {"route=n3"}, {"route=n4", "loadfactor=3"}}
	cases := []struct {
		name   string
		params []string
		route  []byte
	}{
		{"byrequests", nil, nil},
		{"bybusyness", []string{"lbmethod=bybusyness"}, nil},
		{"hash", []string{"lbmethod=hash"}, nil},
		{"sticky", []string{"stickysession=ROUTEID"}, []byte("n3")},
	}
	key := []byte("203.0.113.54")
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := balancer(b, c.params, four...).NewPicker()
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				p.Pick(now, key, true, c.route, 0)
			}
		})
	}
}
