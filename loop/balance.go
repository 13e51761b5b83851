package loop

import (
	"context"
	"errors"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/scgate/scgate/codec"
	"github.com/scgate/scgate/pool"
)

// Choosing and reaching a member: pool decides who (per-loop Picker, shared
// atomic counters), this file does the asking, the failover and the warm
// spare connections, all on the client's loop.

// picker returns this loop's Picker for b.
func (ls *loopState) picker(b *pool.Balancer) *pool.Picker {
	p := ls.pickers[b]
	if p == nil {
		if ls.pickers == nil {
			ls.pickers = make(map[*pool.Balancer]*pool.Picker)
		}
		p = b.NewPicker()
		ls.pickers[b] = p
	}
	return p
}

// pickInputs copies what the balancer needs from the request (hash key and
// sticky route) into buffers that outlive the request head, for failover.
func (cl *client) pickInputs(up *upstream) {
	b := up.bal
	r := &cl.req
	var key []byte
	hasKey := false
	if b.Params.Method == pool.Hash {
		switch b.Params.HashKey.Kind {
		case pool.HashIP:
			key, hasKey = cl.remoteIP, true
		case pool.HashHeader:
			key, hasKey = r.HeaderValue(b.Params.HashKey.Name)
		case pool.HashCookie:
			key, hasKey = r.CookieValue(b.Params.HashKey.Name)
		case pool.HashURI:
			key, hasKey = cl.path, true
		}
	}
	cl.pickKey = append(cl.pickKey[:0], key...)
	up.key, up.hasKey = cl.pickKey, hasKey

	cl.pickRoute = cl.pickRoute[:0]
	if b.Params.StickySession != "" || b.Params.StickyParam != "" {
		cl.pickRoute = append(cl.pickRoute, stickyRoute(r, b.Params.StickyParam, b.Params.StickySession)...)
	}
	up.route = cl.pickRoute
}

// stickyRoute finds Apache's sticky route: the text after the first '.' of
// the URL parameter (checked first) or the cookie.
func stickyRoute(r *codec.Request, param, cookie string) []byte {
	var v []byte
	ok := false
	if param != "" {
		v, ok = r.QueryValue(param)
	}
	if !ok && cookie != "" {
		v, ok = r.CookieValue(cookie)
	}
	if !ok {
		return nil
	}
	for i, c := range v {
		if c == '.' {
			return v[i+1:]
		}
	}
	return nil
}

// start finds a member for the request and connects to it; when every
// candidate is at its max it waits up to the balancer's acquire time.
func (up *upstream) start() {
	if up.tryConnect() {
		return
	}
	wait := maxAcquire(up.bal)
	if wait <= 0 {
		up.noMember("every member is at its max")
		return
	}
	deadline := time.Now().Add(wait)
	up.captured = true
	up.ls.watch(func() bool {
		if up.dead || up.cl.gone {
			return false
		}
		if up.tryConnect() {
			return false
		}
		if time.Now().After(deadline) {
			up.noMember("every member is still at its max after acquire")
			return false
		}
		return true
	})
}

func maxAcquire(b *pool.Balancer) time.Duration {
	var d time.Duration
	for _, m := range b.Members {
		d = max(d, m.Params.Acquire)
	}
	return d
}

// tryConnect picks a member and starts the connection. It returns false only
// when every usable member is busy; other outcomes (connected, connecting,
// answered 503) return true.
func (up *upstream) tryConnect() bool {
	p := up.ls.picker(up.bal)
	for range len(up.bal.Members) + 1 {
		idx, res := p.Pick(time.Now(), up.key, up.hasKey, up.route, up.tried)
		switch res {
		case pool.NoneUsable:
			up.noMember("no usable member")
			return true
		case pool.AllBusy:
			return false
		}
		m := up.bal.Members[idx]
		if !m.TryAcquire() {
			continue // filled up by another loop since Pick looked
		}
		up.m, up.idx = m, idx
		up.attempts++
		if c := up.ls.takeSpare(m); c != nil {
			up.fromSpare = true
			c.SetContext(up)
			if up.connected(c) == gnet.Close {
				c.Close() //nolint:errcheck
			}
			return true
		}
		up.dial()
		return true
	}
	return false
}

func (up *upstream) noMember(why string) {
	if up.dead {
		return
	}
	up.ls.srv.cfg.Logger.Warn("no backend for the request", "balancer", up.bal.Name, "why", why)
	up.fail(503)
}

// dial connects to the member: on the loop itself where it can
// (connect_linux.go), else off the loop, enrolling the connection on the
// client's loop.
func (up *upstream) dial() {
	up.fromSpare = false
	m := up.m
	up.dials++
	gen := up.dials
	// A refusal can come back while the request is written in OnOpen.
	up.connecting = true
	connect := (*loopState).connectRaw
	if up.ls.srv.connect != nil {
		connect = up.ls.srv.connect
	}
	c, inProgress, err := connect(up.ls, m.Backend, up, up.cl.state == csBody)
	switch {
	case err == nil:
		if up.dead || up.c != c {
			return // refused and moved on, or answered already
		}
		// A request that left whole went through an established connection
		// (a write during the handshake would have been refused): that is
		// the rule on loopback, where connect completes at once.
		if inProgress && c.OutboundBuffered() > 0 {
			up.ls.armBackend(&up.tn, m.ConnectTimeout)
			return
		}
		up.connecting = false
		up.armTimeout()
		return
	case err != errSlowPath:
		up.connecting = false
		up.dialFailed(m, err)
		return
	case up.dead || up.dials != gen || up.state != usDialing:
		return // OnOpen ran before gnet reported an error: the request has moved on
	}
	up.connecting = false
	up.ls.armBackend(&up.tn, up.m.Params.Timeout)
	el := up.ls.el
	up.captured = true
	go func() {
		if err := connectOnLoop(el, m, up); err != nil {
			el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error { //nolint:errcheck
				up.dialFailed(m, err)
				return nil
			}))
		}
	}()
}

// errSlowPath is connectRaw's way of asking for the dialing goroutine.
var errSlowPath = errors.New("connect on the loop unavailable")

// errConnectTimeout is a connect on the loop that outlived the member's
// connectiontimeout.
var errConnectTimeout = errors.New("connect: timed out")

// refused reports whether a connection closed with err never got connected.
func refused(c gnet.Conn, err error) bool {
	if connectErr(err) {
		return true
	}
	soerr, e := unix.GetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_ERROR)
	return e == nil && soerr != 0 && connectErr(unix.Errno(soerr))
}

func connectErr(err error) bool {
	return errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENETUNREACH) ||
		errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.ETIMEDOUT)
}

// connectOnLoop dials m and enrolls the connection on el with ctx as its
// context, whose OnOpen follows. It blocks: only dialing goroutines call it.
func connectOnLoop(el gnet.EventLoop, m *pool.Member, ctx any) error {
	nc, err := m.Dial(context.Background())
	if err != nil {
		return err
	}
	ch, err := el.Enroll(gnet.NewContext(context.Background(), ctx), nc)
	if err != nil {
		nc.Close() //nolint:errcheck
		return err
	}
	return (<-ch).Err
}

// dialFailed rests the member for its retry time and fails over to the next
// one: nothing has reached a backend yet, so the retry is invisible.
func (up *upstream) dialFailed(m *pool.Member, err error) {
	if up.dead || up.m != m {
		return
	}
	if up.sentLate {
		// Body bytes went to the socket that never connected and are
		// gone: the request cannot be sent again.
		up.ls.srv.cfg.Logger.Warn("backend unreachable", "backend", m.URL, "err", err)
		m.MarkError(time.Now())
		up.fail(503)
		return
	}
	up.ls.srv.cfg.Logger.Warn("backend unreachable", "backend", m.URL, "err", err)
	m.NoteError(time.Now().UTC().Format(time.RFC3339) + " connect: " + err.Error())
	m.MarkError(time.Now())
	up.releaseMember(true)
	up.tried.Add(up.idx)
	if up.attempts < up.bal.Attempts() {
		up.start()
		return
	}
	up.fail(503)
}

// resend sends the request again when its connection died before any
// answer: once on a fresh connection to the same member when it was a warm
// spare (the backend had dropped it), else to the next member for methods
// that are safe to repeat, as nginx's proxy_next_upstream does. It reports
// whether it did.
func (up *upstream) resend(err error) bool {
	if up.out == nil || up.sentLate {
		return false
	}
	switch {
	case up.fromSpare && !up.resent:
		up.ls.srv.cfg.Logger.Debug("warm spare was closed; dialing", "backend", up.m.URL)
		up.resent = true
		up.restart()
		up.dial()
		return true
	case up.safe && up.attempts < up.bal.Attempts():
		up.ls.srv.cfg.Logger.Warn("backend closed without answering; trying another member", "backend", up.m.URL, "err", err)
		up.m.NoteError(time.Now().UTC().Format(time.RFC3339) + " closed without answering")
		up.m.MarkError(time.Now())
		up.releaseMember(true)
		up.tried.Add(up.idx)
		up.restart()
		up.start()
		return true
	}
	return false
}

// restart forgets the dead connection before the request goes out again.
func (up *upstream) restart() {
	up.state = usDialing
	up.c = nil
	up.park.dropStash()
	up.eof = false
}

// idempotent reports whether a request with this method may be sent twice
// (RFC 9110 9.2.2); nginx refuses to repeat the same ones.
func idempotent(method []byte) bool {
	switch string(method) {
	case "POST", "PATCH", "LOCK":
		return false
	}
	return true
}

// A spare is a connected, idle SCGI connection on this loop, ready to carry
// the next request to its member without a connect on the request's path.
type spare struct {
	ls   *loopState // nil for warm-up spares until they land on a loop
	m    *pool.Member
	c    gnet.Conn
	born time.Time
	warm bool // opened by warmUp, not by this loop's refiller
	gone bool
}

// spareSet is one member's spares on one loop.
type spareSet struct {
	idle    []*spare
	want    int
	dialing int
}

// spareSet returns the set for m, creating it with this loop's share of min.
func (ls *loopState) spareSet(m *pool.Member) *spareSet {
	set := ls.spares[m]
	if set == nil {
		if ls.spares == nil {
			ls.spares = make(map[*pool.Member]*spareSet)
		}
		loops := ls.srv.cfg.Loops
		set = &spareSet{want: (m.Params.Min + loops - 1) / loops}
		ls.spares[m] = set
	}
	return set
}

// takeSpare hands out the youngest usable spare of m, if any.
func (ls *loopState) takeSpare(m *pool.Member) gnet.Conn {
	if m.Params.Min <= 0 {
		return nil
	}
	set := ls.spareSet(m)
	now := time.Now()
	for len(set.idle) > 0 {
		s := set.idle[len(set.idle)-1]
		set.idle[len(set.idle)-1] = nil
		set.idle = set.idle[:len(set.idle)-1]
		if m.Params.TTL > 0 && now.Sub(s.born) > m.Params.TTL {
			s.discard()
			continue
		}
		s.gone = true
		ls.refill(m)
		return s.c
	}
	ls.refill(m)
	return nil
}

// refill asks the loop's refiller for the spares m is short of.
func (ls *loopState) refill(m *pool.Member) {
	set := ls.spareSet(m)
	if m.InError(time.Now()) || ls.srv.isStopping() {
		return
	}
	for len(set.idle)+set.dialing < set.want {
		select {
		case ls.refills <- m:
			set.dialing++
		default:
			return // the refiller is behind; the next sweep asks again
		}
	}
}

// refiller dials spares for its loop, one at a time, off the loop.
func (ls *loopState) refiller(ctx context.Context) {
	el := ls.el
	for {
		var m *pool.Member
		select {
		case <-ctx.Done():
			return
		case m = <-ls.refills:
		}
		if err := connectOnLoop(el, m, &spare{ls: ls, m: m}); err != nil {
			el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error { //nolint:errcheck
				ls.spareSet(m).dialing--
				return nil
			}))
		}
	}
}

// warmUp opens each member's min spares right after start, spread over the
// loops by the engine (round-robin), so spares exist before any request.
func (s *Server) warmUp(members []*pool.Member) {
	for _, m := range members {
		for range m.Params.Min {
			if s.isStopping() {
				return
			}
			nc, err := m.Dial(context.Background())
			if err != nil {
				s.cfg.Logger.Warn("warm spare", "backend", m.URL, "err", err)
				break
			}
			ctx := gnet.NewNetConnContext(gnet.NewContext(context.Background(), &spare{m: m, warm: true}), nc)
			ch, err := s.engine.Register(ctx)
			if err != nil {
				nc.Close() //nolint:errcheck
				break
			}
			<-ch
		}
	}
}

func (sp *spare) onOpen(c gnet.Conn, srv *Server) gnet.Action {
	if sp.ls == nil {
		sp.ls = srv.loopFor(c.EventLoop())
	}
	set := sp.ls.spareSet(sp.m)
	if !sp.warm {
		set.dialing--
	}
	if srv.isStopping() || len(set.idle) >= max(set.want, 1) {
		return gnet.Close
	}
	sp.c = c
	sp.born = time.Now()
	set.idle = append(set.idle, sp)
	return gnet.None
}

// onClose drops a spare its backend closed (or that we discarded).
func (sp *spare) onClose() {
	if sp.gone {
		return
	}
	sp.gone = true
	set := sp.ls.spareSet(sp.m)
	for i, s := range set.idle {
		if s == sp {
			set.idle = append(set.idle[:i], set.idle[i+1:]...)
			break
		}
	}
	sp.ls.refill(sp.m)
}

func (sp *spare) discard() {
	sp.gone = true
	if sp.c != nil {
		sp.c.Close() //nolint:errcheck
	}
}

// sweepSpares drops spares past their ttl and tops every set up.
func (ls *loopState) sweepSpares(now time.Time) {
	for m, set := range ls.spares {
		if m.Params.TTL > 0 {
			keep := set.idle[:0]
			for _, s := range set.idle {
				if now.Sub(s.born) > m.Params.TTL {
					s.discard()
					continue
				}
				keep = append(keep, s)
			}
			clear(set.idle[len(keep):])
			set.idle = keep
		}
		ls.refill(m)
	}
}
