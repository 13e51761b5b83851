package loop

import (
	"context"
	"net"
	"os"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// gnet always reads a readable socket, so the only way to push back on a
// peer that sends faster than the other side takes is to take its socket
// away from gnet for a while: keep a duplicate of the descriptor, let gnet
// close its own, and enroll the duplicate again later. While parked nobody
// reads the socket, the kernel's window fills and TCP slows the sender.

type parkState uint8

const (
	parkNone        parkState = iota
	parkDetaching             // gnet's OnClose for our own detach is due
	parkDetached              // we hold the only descriptor
	parkReattaching           // Enroll in flight; OnOpen follows
)

// parking is one connection's parked state.
type parking struct {
	state parkState
	fd    int // the duplicate while parkDetaching or parkDetached
	stash []byte
	off   int
}

func (p *parking) detached() bool { return p.state == parkDetached }

func (p *parking) hasStash() bool { return p.off < len(p.stash) }

func (p *parking) dropStashIfDone() {
	if p.off >= len(p.stash) {
		p.stash, p.off = p.stash[:0], 0
	}
}

func (p *parking) dropStash() { p.stash, p.off = nil, 0 }

// detach saves c's unread input, duplicates its descriptor and marks it for
// the close the caller is about to return. c's output must be empty.
func (p *parking) detach(c gnet.Conn) bool {
	fd, err := c.Dup()
	if err != nil {
		return false
	}
	if buf, _ := c.Peek(-1); len(buf) > 0 {
		p.stash = append(p.stash, buf...)
		c.Discard(-1) //nolint:errcheck
	}
	p.fd = fd
	p.state = parkDetaching
	return true
}

// closed is called from OnClose; it reports whether the close was our detach.
func (p *parking) closed() bool {
	if p.state != parkDetaching {
		return false
	}
	p.state = parkDetached
	return true
}

// reattach enrolls the parked socket on ls's loop again with ctx as its
// context; OnOpen(ctx) follows. fail runs on the loop if that cannot happen.
func (p *parking) reattach(ls *loopState, ctx any, fail func()) {
	f := os.NewFile(uintptr(p.fd), "parked")
	nc, err := net.FileConn(f) // dups the descriptor
	f.Close()                  //nolint:errcheck
	p.fd = -1
	if err != nil {
		p.state = parkNone
		fail()
		return
	}
	p.state = parkReattaching
	el := ls.el
	go func() {
		ch, err := el.Enroll(gnet.NewContext(context.Background(), ctx), nc)
		if err == nil {
			if r := <-ch; r.Err != nil {
				err = r.Err
			}
		} else {
			nc.Close() //nolint:errcheck
		}
		if err != nil {
			el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error { //nolint:errcheck
				p.state = parkNone
				fail()
				return nil
			}))
		}
	}()
}

// opened is called from OnOpen of a reattached socket.
func (p *parking) opened() { p.state = parkNone }

// closeFd drops a parked socket; one still being enrolled is closed by its OnOpen.
func (p *parking) closeFd() {
	if p.state == parkDetached || p.state == parkDetaching {
		unix.Close(p.fd) //nolint:errcheck
		p.state = parkNone
	}
	p.fd = -1
}

// watchEvery is how often a parked connection checks whether to come back.
const watchEvery = 2 * time.Millisecond

// watch runs check on the loop every watchEvery until it returns false.
// gnet has no drain callback, so polling is the way to notice a drain.
func (ls *loopState) watch(check func() bool) {
	el := ls.el
	var run gnet.RunnableFunc
	run = func(context.Context) error {
		if check() {
			time.AfterFunc(watchEvery, func() { el.Execute(context.Background(), run) }) //nolint:errcheck
		}
		return nil
	}
	time.AfterFunc(watchEvery, func() { el.Execute(context.Background(), run) }) //nolint:errcheck
}
