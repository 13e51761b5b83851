//go:build linux

package loop

import (
	"net"
	"net/netip"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/scgate/scgate/pool"
)

// SCGI opens a connection per request, so the connect path is the gateway's
// hottest. gnet v2.9.7 attaches an outside connection only through Enroll:
// a net.Conn dialed by a goroutine, handed to gnet's worker pool, dup'ed,
// then queued to the loop, which costs about 20 syscalls and several
// goroutine hand-offs per request (gnet-notes.md 9). nginx does the same job
// in socket, connect, epoll_ctl. This file does it nginx's way: a
// non-blocking socket is created and connected on the loop itself and given
// to gnet synchronously, with the two unexported gnet functions its own
// Enroll ends in. They are bound by name, so this depends on gnet's insides:
// connect_linux_test.go pins the gnet version it was checked against, and
// any failure here falls back to the Enroll path.

//go:linkname gnetNewStreamConn github.com/panjf2000/gnet/v2.newStreamConn
func gnetNewStreamConn(proto string, fd int, el unsafe.Pointer, sa unix.Sockaddr, localAddr, remoteAddr net.Addr) unsafe.Pointer

//go:linkname gnetRegister0 github.com/panjf2000/gnet/v2.(*eventloop).register0
func gnetRegister0(el unsafe.Pointer, c unsafe.Pointer) error

// iface is the memory layout of a non-empty interface value.
type iface struct {
	tab  unsafe.Pointer
	data unsafe.Pointer
}

// rawDialer is one loop's state for connecting on the loop.
type rawDialer struct {
	connTab unsafe.Pointer               // gnet.Conn's method table for gnet's conn type
	addrs   map[*pool.Backend]*rawTarget // per loop: unix.Connect writes into the Sockaddr
}

type rawTarget struct {
	family int
	sa     unix.Sockaddr
	remote net.Addr
}

// learn records the method table of a connection gnet made, so that a
// gnet.Conn can be formed around a conn registered here.
func (d *rawDialer) learn(c gnet.Conn) {
	if d.connTab == nil {
		d.connTab = (*iface)(unsafe.Pointer(&c)).tab
	}
}

// target is where b is reached, or nil while its host name is unresolved
// (the first dial of a name goes the slow way, which resolves it).
func (d *rawDialer) target(b *pool.Backend) *rawTarget {
	if t := d.addrs[b]; t != nil {
		return t
	}
	var t *rawTarget
	if b.Network == "unix" {
		t = &rawTarget{family: unix.AF_UNIX, sa: &unix.SockaddrUnix{Name: b.Address}, remote: &net.UnixAddr{Name: b.Address, Net: "unix"}}
	} else {
		ap, ok := b.Resolved()
		if !ok {
			return nil
		}
		t = tcpTarget(ap)
	}
	if d.addrs == nil {
		d.addrs = make(map[*pool.Backend]*rawTarget)
	}
	d.addrs[b] = t
	return t
}

func tcpTarget(ap netip.AddrPort) *rawTarget {
	remote := net.TCPAddrFromAddrPort(ap)
	if a := ap.Addr().Unmap(); a.Is4() {
		return &rawTarget{family: unix.AF_INET, sa: &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, remote: remote}
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	return &rawTarget{family: unix.AF_INET6, sa: sa, remote: remote}
}

// connectRaw connects to b on the loop and registers the socket with ctx as
// its context; OnOpen(ctx) has run when it returns no error. inProgress reports a
// TCP connect still under way. errSlowPath asks the caller to dial the
// Enroll way; any other error is the backend's refusal.
func (ls *loopState) connectRaw(b *pool.Backend, ctx any, nodelay bool) (c gnet.Conn, inProgress bool, err error) {
	d := &ls.raw
	t := d.target(b)
	if t == nil || d.connTab == nil {
		return nil, false, errSlowPath
	}
	fd, err := unix.Socket(t.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, false, err
	}
	if nodelay && t.family != unix.AF_UNIX {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) //nolint:errcheck
	}
	switch err = unix.Connect(fd, t.sa); err {
	case nil:
	case unix.EINPROGRESS:
		inProgress = true
	case unix.EAGAIN:
		// A unix socket whose listen queue is full: the blocking dialer waits.
		unix.Close(fd) //nolint:errcheck
		return nil, false, errSlowPath
	default:
		unix.Close(fd) //nolint:errcheck
		return nil, false, &net.OpError{Op: "dial", Net: b.Network, Addr: t.remote, Err: err}
	}
	proto := "tcp"
	if t.family == unix.AF_UNIX {
		proto = "unix"
	}
	el := (*iface)(unsafe.Pointer(&ls.el)).data
	p := gnetNewStreamConn(proto, fd, el, t.sa, nil, t.remote)
	var gc gnet.Conn
	*(*iface)(unsafe.Pointer(&gc)) = iface{tab: d.connTab, data: p}
	gc.SetContext(ctx)
	if err := gnetRegister0(el, p); err != nil {
		// register0 has closed the descriptor.
		return nil, false, errSlowPath
	}
	return gc, inProgress, nil
}

// connectPending reports whether a TCP connect on fd is still under way.
func connectPending(fd int) bool {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	return err == nil && info.State == tcpSynSent
}

// tcpSynSent is the kernel's TCP_SYN_SENT state in tcp_info.
const tcpSynSent = 2

// abortOnClose makes the coming close of fd send a reset instead of a FIN:
// once the backend's answer is complete, the orderly FIN exchange (and the
// backend's TIME_WAIT) is work for nothing.
func abortOnClose(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &lingerZero) //nolint:errcheck
}

var lingerZero = unix.Linger{Onoff: 1, Linger: 0}
