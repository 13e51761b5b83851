package loop

import (
	"context"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/scgate/scgate/pool"
)

// timerKind names a timeout class. Each class has one fixed duration, so a
// FIFO list per class is also a deadline-ordered list: arming is an append,
// and a sweep pops expired heads. No timer per request.
type timerKind uint8

const (
	tNone    timerKind = iota
	tHead              // reading a request head
	tBody              // reading a request body
	tIdle              // keep-alive: waiting for the next request
	tSend              // waiting for a client to take what we wrote
	tLinger            // after our FIN, discarding what the client still sends
	tBackend           // waiting for the backend
	nTimerKinds
)

// lingerTimeout bounds the discard phase of a close (Apache uses 2 s).
const lingerTimeout = 2 * time.Second

// expirer is a connection that can time out.
type expirer interface {
	expire(kind timerKind)
}

// timerNode is embedded in each connection; it sits in at most one list.
type timerNode struct {
	prev, next *timerNode
	kind       timerKind
	list       *timerList
	deadline   time.Time
	owner      expirer
}

type timerList struct {
	head, tail *timerNode
	kind       timerKind
	d          time.Duration
}

// loopState is what one event loop owns besides its connections. Only that
// loop's goroutine touches it.
type loopState struct {
	srv    *Server
	el     gnet.EventLoop
	timers [nTimerKinds]timerList
	// backend timeouts set per member (BalancerMember timeout=N), one list per duration
	memberTimers map[time.Duration]*timerList
	draining     []*client // closing once their output is sent
	pickers      map[*pool.Balancer]*pool.Picker
	spares       map[*pool.Member]*spareSet
	refills      chan *pool.Member // to this loop's refiller goroutine
	sweeper      gnet.Runnable
	scratch      []byte
	raw          rawDialer   // connecting on the loop (connect_linux.go)
	iov          [5][]byte   // scratch for one Writev
	freeUps      []*upstream // for reuse (upstream.recycle)
}

func newLoopState(s *Server, el gnet.EventLoop) *loopState {
	ls := &loopState{srv: s, el: el}
	for k := range ls.timers {
		ls.timers[k].kind = timerKind(k)
	}
	ls.timers[tHead].d = s.cfg.HeaderTimeout
	ls.timers[tBody].d = s.cfg.BodyTimeout
	ls.timers[tIdle].d = s.cfg.IdleTimeout
	ls.timers[tSend].d = s.cfg.SendTimeout
	ls.timers[tLinger].d = lingerTimeout
	ls.timers[tBackend].d = s.cfg.ResponseTimeout
	ls.refills = make(chan *pool.Member, 256)
	go ls.refiller(s.bgCtx)
	ls.sweeper = gnet.RunnableFunc(func(context.Context) error {
		ls.sweep(time.Now())
		return nil
	})
	return ls
}

// arm (re)starts n's timeout of class k from now.
func (ls *loopState) arm(n *timerNode, k timerKind) {
	ls.armList(n, &ls.timers[k])
}

// armBackend starts a backend timeout of d, or of the default when d is 0.
func (ls *loopState) armBackend(n *timerNode, d time.Duration) {
	if d <= 0 || d == ls.timers[tBackend].d {
		ls.armList(n, &ls.timers[tBackend])
		return
	}
	l := ls.memberTimers[d]
	if l == nil {
		if ls.memberTimers == nil {
			ls.memberTimers = make(map[time.Duration]*timerList)
		}
		l = &timerList{kind: tBackend, d: d}
		ls.memberTimers[d] = l
	}
	ls.armList(n, l)
}

func (ls *loopState) armList(n *timerNode, l *timerList) {
	ls.disarm(n)
	n.kind = l.kind
	n.list = l
	n.deadline = time.Now().Add(l.d)
	n.prev = l.tail
	if l.tail != nil {
		l.tail.next = n
	} else {
		l.head = n
	}
	l.tail = n
}

// armOnce starts class k unless n is already counting it.
func (ls *loopState) armOnce(n *timerNode, k timerKind) {
	if n.kind != k {
		ls.arm(n, k)
	}
}

func (ls *loopState) disarm(n *timerNode) {
	if n.kind == tNone {
		return
	}
	l := n.list
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next, n.kind, n.list = nil, nil, tNone, nil
}

func (ls *loopState) expireList(l *timerList, now time.Time) {
	for l.head != nil && !l.head.deadline.After(now) {
		n := l.head
		ls.disarm(n)
		n.owner.expire(l.kind)
	}
}

// sweep expires timeouts and finishes closes whose output has drained.
func (ls *loopState) sweep(now time.Time) {
	for k := tHead; k < nTimerKinds; k++ {
		ls.expireList(&ls.timers[k], now)
	}
	for _, l := range ls.memberTimers {
		ls.expireList(l, now)
	}
	ls.sweepSpares(now)
	if len(ls.draining) > 0 {
		keep := ls.draining[:0]
		for _, cl := range ls.draining {
			if cl.state == csClosing && !cl.gone && !cl.finishClose() {
				keep = append(keep, cl)
			}
		}
		clear(ls.draining[len(keep):])
		ls.draining = keep
	}
}
