package pool

import (
	"fmt"
	"strconv"
	"strings"
)

// Method is a balancer's way of choosing among its usable members.
type Method uint8

const (
	ByRequests Method = iota // smooth weighted round-robin by loadfactor
	ByBusyness               // fewest requests in flight
	Hash                     // weighted rendezvous hashing of a request key
)

var methodNames = [...]string{ByRequests: "byrequests", ByBusyness: "bybusyness", Hash: "hash"}

func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "Method(" + strconv.Itoa(int(m)) + ")"
}

// HashKeyKind says what part of a request the hash method hashes.
type HashKeyKind uint8

const (
	HashIP     HashKeyKind = iota // the client's IP address
	HashHeader                    // a request header's value
	HashCookie                    // a cookie's value
	HashURI                       // the request path
)

// HashKey is the hash method's key; Name is the header or cookie name.
type HashKey struct {
	Kind HashKeyKind
	Name string
}

func (k HashKey) String() string {
	switch k.Kind {
	case HashIP:
		return "ip"
	case HashHeader:
		return "header:" + k.Name
	case HashCookie:
		return "cookie:" + k.Name
	case HashURI:
		return "uri"
	}
	return "HashKey(" + strconv.Itoa(int(k.Kind)) + ")"
}

// BalancerParams are Apache's balancer parameters that mean something here.
type BalancerParams struct {
	Method        Method  // "lbmethod": byrequests (default), bybusyness, hash
	HashKey       HashKey // "hashkey": ip (default), header:NAME, cookie:NAME, uri
	StickySession string  // "stickysession": the cookie holding the route
	StickyParam   string  // the URL parameter holding the route ("COOKIE|param")
	MaxAttempts   int     // "maxattempts": failover tries after the first; -1 = members-1
	NoFailover    bool    // "nofailover": a sticky request whose member is down gets 503
}

// DefaultBalancerParams returns Apache's defaults.
func DefaultBalancerParams() BalancerParams {
	return BalancerParams{Method: ByRequests, HashKey: HashKey{Kind: HashIP}, MaxAttempts: -1}
}

const balancerKeys = "lbmethod, hashkey, stickysession, maxattempts, nofailover, forcerecovery"

// ignoredBalancerKeys are Apache balancer parameters that have no meaning
// here, with the reason.
var ignoredBalancerKeys = map[string]string{
	"timeout":          "waiting for a free member is the members' acquire",
	"failonstatus":     "failonstatus is not supported",
	"failontimeout":    "failontimeout has no effect for SCGI (in Apache either)",
	"growth":           "members cannot be added at run time",
	"lbset":            "lbset tiers are not supported; use status=+H",
	"nonce":            "there is no balancer-manager",
	"scolonpathdelim":  "the route is only read from the cookie or a query parameter",
	"stickysessionsep": "the route is the text after the first '.'",
}

// SetBalancerParam applies one Apache balancer parameter, key=value, with the
// key in any case.
func SetBalancerParam(p *BalancerParams, key, value string) error {
	if p == nil {
		return fmt.Errorf("%s: no parameters to set", key)
	}
	k := strings.ToLower(key)
	q := *p // a bad value leaves p as it was
	var err error
	switch k {
	case "lbmethod":
		switch strings.ToLower(value) {
		case "byrequests":
			q.Method = ByRequests
		case "bybusyness":
			q.Method = ByBusyness
		case "hash":
			q.Method = Hash
		case "bytraffic", "heartbeat":
			err = fmt.Errorf("%s is not supported (supported: byrequests, bybusyness, hash)", value)
		default:
			err = fmt.Errorf("unknown method (known: byrequests, bybusyness, hash)")
		}
	case "hashkey":
		q.HashKey, err = parseHashKey(value)
	case "stickysession":
		cookie, param, two := strings.Cut(value, "|")
		if !two {
			param = cookie
		}
		if !isToken(cookie) || !isToken(param) {
			err = fmt.Errorf("want NAME or COOKIE|urlparam, names made of token characters")
			break
		}
		q.StickySession, q.StickyParam = cookie, param
	case "maxattempts":
		q.MaxAttempts, err = parseCount(value, 0)
	case "nofailover":
		q.NoFailover, err = parseOnOff(value)
	case "forcerecovery":
		var on bool
		on, err = parseOnOff(value)
		if err == nil && !on {
			err = fmt.Errorf("scgate always recovers a balancer whose members are all in error")
		}
	default:
		if why, ok := ignoredBalancerKeys[k]; ok {
			return fmt.Errorf("balancer parameter %q is not supported: %s (known: %s)", key, why, balancerKeys)
		}
		return fmt.Errorf("unknown balancer parameter %q (known: %s)", key, balancerKeys)
	}
	if err != nil {
		return fmt.Errorf("%s=%q: %v", k, value, err)
	}
	*p = q
	return nil
}

func parseHashKey(v string) (HashKey, error) {
	kind, name, named := strings.Cut(v, ":")
	switch strings.ToLower(kind) {
	case "ip":
		if !named {
			return HashKey{Kind: HashIP}, nil
		}
	case "uri":
		if !named {
			return HashKey{Kind: HashURI}, nil
		}
	case "header":
		if isToken(name) {
			return HashKey{Kind: HashHeader, Name: name}, nil
		}
		return HashKey{}, fmt.Errorf("want header:NAME with a header name")
	case "cookie":
		if isToken(name) {
			return HashKey{Kind: HashCookie, Name: name}, nil
		}
		return HashKey{}, fmt.Errorf("want cookie:NAME with a cookie name")
	}
	return HashKey{}, fmt.Errorf("want ip, uri, header:NAME or cookie:NAME")
}

func parseOnOff(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("want On or Off")
}

// isToken reports whether s is a non-empty RFC 9110 token, the shape of
// header and cookie names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// MaxMembers is how many members a balancer may have: a Tried holds one bit
// per member.
const MaxMembers = 64

// Balancer is a named group of members that share the requests of a mapping.
type Balancer struct {
	Name    string
	Params  BalancerParams
	Members []*Member
}

// NewBalancer checks that the members make a balancer: 1 to 64 of them, each
// once, routes unique where set, and at least one not disabled.
func NewBalancer(name string, params BalancerParams, members []*Member) (*Balancer, error) {
	if len(members) == 0 || len(members) > MaxMembers {
		return nil, fmt.Errorf("balancer %q: has %d members, want 1 to %d", name, len(members), MaxMembers)
	}
	if err := checkBalancerParams(params); err != nil {
		return nil, fmt.Errorf("balancer %q: %v", name, err)
	}
	urls := make(map[string]bool, len(members))
	routes := make(map[string]string, len(members))
	enabled := false
	for i, m := range members {
		if m == nil || m.Backend == nil {
			return nil, fmt.Errorf("balancer %q: member %d is missing", name, i)
		}
		if urls[m.URL] {
			return nil, fmt.Errorf("balancer %q: member %q is listed twice (use loadfactor to weigh it)", name, m.URL)
		}
		urls[m.URL] = true
		if r := m.Params.Route; r != "" {
			if other, dup := routes[r]; dup {
				return nil, fmt.Errorf("balancer %q: route %q is given to both %q and %q", name, r, other, m.URL)
			}
			routes[r] = m.URL
		}
		if !m.Params.Disabled {
			enabled = true
		}
	}
	if !enabled {
		return nil, fmt.Errorf("balancer %q: every member is disabled", name)
	}
	return &Balancer{Name: name, Params: params, Members: append([]*Member(nil), members...)}, nil
}

func checkBalancerParams(p BalancerParams) error {
	if p.Method > Hash {
		return fmt.Errorf("unknown lbmethod %v", p.Method)
	}
	switch p.HashKey.Kind {
	case HashIP, HashURI:
	case HashHeader, HashCookie:
		if !isToken(p.HashKey.Name) {
			return fmt.Errorf("hashkey %v needs a name", p.HashKey)
		}
	default:
		return fmt.Errorf("unknown hashkey %v", p.HashKey)
	}
	if p.MaxAttempts < -1 {
		return fmt.Errorf("maxattempts %d is negative", p.MaxAttempts)
	}
	return nil
}

// Single wraps one member as a one-member balancer: what a plain ProxyPass
// to an scgi:// URL is.
func Single(m *Member) *Balancer {
	name := ""
	if m != nil && m.Backend != nil {
		name = m.URL
	}
	return &Balancer{Name: name, Params: DefaultBalancerParams(), Members: []*Member{m}}
}

// Attempts is how many members a request may be tried on in all: the first
// plus MaxAttempts failovers (members-1 when MaxAttempts is -1), 1 with
// NoFailover, and never more than there are members to try.
func (b *Balancer) Attempts() int {
	if b == nil {
		return 0
	}
	n := min(len(b.Members), MaxMembers)
	if b.Params.NoFailover || n <= 1 {
		return 1
	}
	if b.Params.MaxAttempts < 0 || b.Params.MaxAttempts >= n-1 {
		return n
	}
	return 1 + b.Params.MaxAttempts
}

// Tried is the set of members already tried for one request: bit i stands
// for Members[i].
type Tried uint64

// Has reports whether member i was tried.
func (t Tried) Has(i int) bool {
	return i >= 0 && i < MaxMembers && t&(1<<uint(i)) != 0
}

// Add records that member i was tried.
func (t *Tried) Add(i int) {
	if i >= 0 && i < MaxMembers {
		*t |= 1 << uint(i)
	}
}
