package pool

import (
	"math"
	"math/bits"
	"time"

	"github.com/cespare/xxhash/v2"
)

// PickResult says how a Pick went.
type PickResult uint8

const (
	// Picked: idx is the member to try.
	Picked PickResult = iota
	// AllBusy: every usable candidate is at its Max; the caller may wait up
	// to Acquire. idx is the member worth waiting for: the sticky route's,
	// or else the full candidate with the longest Acquire.
	AllBusy
	// NoneUsable: no member can take the request; idx is -1.
	NoneUsable
)

func (r PickResult) String() string {
	switch r {
	case Picked:
		return "picked"
	case AllBusy:
		return "all busy"
	case NoneUsable:
		return "none usable"
	}
	return "PickResult(?)"
}

// Picker chooses members for one event loop. It holds the round-robin state,
// so each loop has its own and no lock is taken; it is not safe for
// concurrent use. The member state it reads is atomic, shared by all loops.
type Picker struct {
	members    []*Member // Balancer.Members, at most MaxMembers
	weight     []int64   // loadfactor
	current    []int64   // smooth round-robin state
	seed       []uint64  // rendezvous seed: xxhash of the member URL
	route      []string
	disabled   uint64 // static: status=+D (or a missing member)
	standby    uint64 // static: status=+H
	noFailover bool
	policy     policy
}

// policy chooses one member from the set cand (bit i = member i), which is
// never empty.
type policy interface {
	choose(p *Picker, cand uint64, key []byte, hasKey bool) int
}

// byRequests sends each member its loadfactor's share, spread smoothly.
type byRequests struct{}

// byBusyness sends a request to the member with the fewest in flight.
type byBusyness struct{}

// rendezvousHash sends a key to the member that scores it highest, so a
// member leaving moves only its own keys.
type rendezvousHash struct{}

// NewPicker returns a Picker for one event loop.
func (b *Balancer) NewPicker() *Picker {
	p := &Picker{policy: byRequests{}}
	if b == nil {
		return p
	}
	n := min(len(b.Members), MaxMembers)
	p.members = b.Members[:n:n]
	p.weight = make([]int64, n)
	p.current = make([]int64, n)
	p.seed = make([]uint64, n)
	p.route = make([]string, n)
	p.noFailover = b.Params.NoFailover
	switch b.Params.Method {
	case ByBusyness:
		p.policy = byBusyness{}
	case Hash:
		p.policy = rendezvousHash{}
	}
	for i, m := range p.members {
		bit := uint64(1) << uint(i)
		if m == nil || m.Backend == nil {
			p.disabled |= bit
			continue
		}
		p.weight[i] = int64(min(max(m.Params.LoadFactor, 1), 100))
		p.seed[i] = xxhash.Sum64String(m.URL)
		p.route[i] = m.Params.Route
		if m.Params.Disabled {
			p.disabled |= bit
		}
		if m.Params.HotStandby {
			p.standby |= bit
		}
	}
	return p
}

// memberScan is the live state of the members for one Pick.
type memberScan struct {
	live    uint64 // neither disabled nor tried
	errored uint64 // live, resting after a failure
	usable  uint64 // live, not in error, not health-check down
	full    uint64 // usable but at Max
}

func (p *Picker) scan(now int64, tried Tried) (s memberScan) {
	for i, m := range p.members {
		bit := uint64(1) << uint(i)
		if (p.disabled|uint64(tried))&bit != 0 {
			continue
		}
		s.live |= bit
		if m.errorUntil.Load() > now {
			s.errored |= bit
			continue
		}
		if m.hcDown.Load() {
			continue
		}
		s.usable |= bit
		if limit := m.Params.Max; limit > 0 && m.inflight.Load() >= int64(limit) {
			s.full |= bit
		}
	}
	return s
}

// Pick chooses a member for a request. key is the hash key (hasKey false
// when the request has none: hash then falls back to byrequests); route is
// the sticky route, empty when none; members in tried are skipped.
//
// A usable member whose Route matches wins; when it is unusable the request
// fails with NoFailover and goes to the method otherwise. Hot-standby
// members stand in only when no other member is usable. When every member
// that could be tried is in error they are all recovered (Apache's
// forcerecovery), so a dead pool answers through a real attempt. Pick does
// not count the request: the caller does with TryAcquire, which may still
// refuse when another loop filled the member meanwhile. Member Params are
// read without locks, so they must not change once the balancer is built.
func (p *Picker) Pick(now time.Time, key []byte, hasKey bool, route []byte, tried Tried) (idx int, res PickResult) {
	if p == nil || len(p.members) == 0 {
		return -1, NoneUsable
	}
	t := now.UnixNano()
	s := p.scan(t, tried)
	if s.live != 0 && s.errored == s.live {
		p.forceRecovery(s.errored)
		s = p.scan(t, tried)
	}
	if len(route) > 0 {
		if r := p.routeIndex(route); r >= 0 {
			bit := uint64(1) << uint(r)
			switch {
			case s.usable&bit == 0:
				if p.noFailover {
					return -1, NoneUsable
				}
			case s.full&bit != 0:
				return r, AllBusy
			default:
				return r, Picked
			}
		}
	}
	cand := s.usable &^ p.standby
	if cand == 0 {
		cand = s.usable & p.standby
	}
	if cand == 0 {
		return -1, NoneUsable
	}
	free := cand &^ s.full
	if free == 0 {
		return p.longestAcquire(cand), AllBusy
	}
	return p.policy.choose(p, free, key, hasKey), Picked
}

// forceRecovery takes the members in set out of their error state.
func (p *Picker) forceRecovery(set uint64) {
	for ; set != 0; set &= set - 1 {
		i := bits.TrailingZeros64(set)
		p.members[i].errorUntil.Store(0)
	}
}

func (p *Picker) routeIndex(route []byte) int {
	for i, r := range p.route {
		if r != "" && r == string(route) {
			return i
		}
	}
	return -1
}

func (p *Picker) longestAcquire(set uint64) int {
	best := -1
	for ; set != 0; set &= set - 1 {
		i := bits.TrailingZeros64(set)
		if best < 0 || p.members[i].Params.Acquire > p.members[best].Params.Acquire {
			best = i
		}
	}
	return best
}

// roundRobin is nginx's smooth weighted round-robin over cand: every
// candidate gains its weight, the richest is chosen and pays the total.
func (p *Picker) roundRobin(cand uint64) int {
	best := -1
	var total int64
	for set := cand; set != 0; set &= set - 1 {
		i := bits.TrailingZeros64(set)
		p.current[i] += p.weight[i]
		total += p.weight[i]
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= total
	return best
}

func (byRequests) choose(p *Picker, cand uint64, _ []byte, _ bool) int {
	return p.roundRobin(cand)
}

// choose takes the fewest in flight, ties going to the round-robin's choice
// as Apache's bybusyness does.
func (byBusyness) choose(p *Picker, cand uint64, _ []byte, _ bool) int {
	best := -1
	var total, bestBusy int64
	for set := cand; set != 0; set &= set - 1 {
		i := bits.TrailingZeros64(set)
		p.current[i] += p.weight[i]
		total += p.weight[i]
		busy := p.members[i].inflight.Load()
		if best < 0 || busy < bestBusy || busy == bestBusy && p.current[i] > p.current[best] {
			best, bestBusy = i, busy
		}
	}
	p.current[best] -= total
	return best
}

// choose scores each candidate weight/-ln(u), u uniform in (0,1) from the
// key's hash mixed with the member's seed: the highest score wins, and a
// member's chance is its share of the weights.
func (rendezvousHash) choose(p *Picker, cand uint64, key []byte, hasKey bool) int {
	if !hasKey {
		return p.roundRobin(cand)
	}
	h := xxhash.Sum64(key)
	best := -1
	var bestScore float64
	for set := cand; set != 0; set &= set - 1 {
		i := bits.TrailingZeros64(set)
		u := (float64(mix64(h^p.seed[i])>>11) + 0.5) * 0x1p-53
		score := float64(p.weight[i]) / -math.Log(u)
		if best < 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// mix64 is SplitMix64's finalizer: every input bit flips each output bit
// with probability 1/2, so the scores of one key for two members are
// independent.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
