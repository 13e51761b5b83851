// Package loop is scgate's gnet event handler: it reads HTTP/1.1 requests,
// sends them to SCGI backends and relays the answers, every connection of a
// request living on one event loop.
package loop

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/scgate/scgate/codec"
	"github.com/scgate/scgate/pool"
)

// Mapping sends every request whose decoded path starts with Prefix to
// Balancer (or, as a shorthand for a one-member balancer, to Backend).
type Mapping struct {
	Prefix   string
	Balancer *pool.Balancer
	Backend  *pool.Backend
	// SplitPathInfo sends SCRIPT_NAME = Prefix without its trailing slash and
	// PATH_INFO = the rest, instead of Apache's whole-path SCRIPT_NAME.
	SplitPathInfo bool
	// PassAuth exports the Authorization header (Apache's CGIPassAuth).
	PassAuth bool
	// InternalRedirect is ProxySCGIInternalRedirect: "" or "On" (the
	// Location header), "Off", or the name of the header to follow.
	InternalRedirect string
	// Sendfile is ProxySCGISendfile: "" or "Off", "On" (X-Sendfile), or the
	// name of the header that names the file.
	Sendfile string
	// Exclude is ProxyPass PATH !: requests under Prefix are not proxied (404).
	Exclude bool
	// Match, when set, routes by regular expression on the decoded path
	// instead of Prefix (ProxyPassMatch); $1... in ScriptTemplate take its
	// groups to make SCRIPT_FILENAME, e.g. "proxy:scgi://host/$1".
	Match          *regexp.Regexp
	ScriptTemplate string
	// Status serves the status page under Prefix (SetHandler scgate-status),
	// to clients in Allow (Require ip; empty: everyone).
	Status bool
	Allow  []netip.Prefix
	// Env are extra variables sent to the backend (SetEnv).
	Env []EnvVar
}

// EnvVar is one SetEnv variable.
type EnvVar struct{ Name, Value string }

// Limits are the request head limits (Apache's LimitRequestLine,
// LimitRequestFieldSize, LimitRequestFields).
type Limits = codec.Limits

// DefaultLimits are Apache's defaults.
var DefaultLimits = codec.DefaultLimits

// ErrNoFastPath is what a FileSender returns when it cannot send on the
// loop at all; the whole file then goes through the hand-off goroutine.
var ErrNoFastPath = errors.New("sendfile: no on-loop fast path on this platform")

// onOffHeader reads an Apache On|Off|Headername setting.
func onOffHeader(v, onHeader string) string {
	switch strings.ToLower(v) {
	case "on":
		return onHeader
	case "off", "":
		return ""
	}
	return v
}

// FileSender pushes a file region to a socket; main supplies the platform's.
// It is wired now and used by X-Sendfile.
type FileSender interface {
	// SendFile writes up to n bytes of f from offset off to the socket fd
	// without blocking, returning how many went out.
	SendFile(sock int, f *os.File, off, n int64) (int64, error)
}

// Config is everything the loop needs; zero fields take the defaults below.
type Config struct {
	Listen     string   // host:port
	MoreListen []string // further host:port addresses (several Listen lines)
	Loops      int      // event loops; default GOMAXPROCS
	// MaxConnections bounds the client connections held at once; a new one
	// over it is answered 503 and closed at once (0: DefaultMaxConnections).
	MaxConnections int
	Mappings       []Mapping
	// VirtualHosts are name-based virtual hosts chosen by the Host header; the
	// first is the default. Each also gets Mappings. Empty: one server.
	VirtualHosts []VirtualHost
	// DisableKeepAlive is Apache's KeepAlive Off; MaxKeepAliveRequests closes
	// a connection after that many requests (0: no limit).
	DisableKeepAlive     bool
	MaxKeepAliveRequests int

	ServerName, ServerAdmin, DocumentRoot string
	ServerSoftware                        string

	HeaderTimeout   time.Duration // request head: 60 s, then 408
	BodyTimeout     time.Duration // silence while reading a request body: HeaderTimeout, then 408
	IdleTimeout     time.Duration // keep-alive idle: 5 s
	ResponseTimeout time.Duration // backend silence: 60 s, then 504
	SendTimeout     time.Duration // a client that stops reading: 60 s

	MaxBody        int64 // Content-Length limit: 1 GiB (413 above)
	MaxChunkedBody int64 // buffered chunked body limit: 64 MiB (413 above)
	Limits         codec.Limits

	// SendfileRoots are the directories X-Sendfile files may come from
	// (SCGISendfileRoot); required when any mapping turns Sendfile on.
	SendfileRoots []string

	Sender FileSender
	Logger *slog.Logger
	// AccessLog, when set, gets one line per request.
	AccessLog *AccessLog
}

func (c *Config) setDefaults() {
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.Loops <= 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	if c.ServerSoftware == "" {
		c.ServerSoftware = "scgate"
	}
	if c.ServerAdmin == "" {
		c.ServerAdmin = "webmaster@localhost"
	}
	if c.DocumentRoot == "" {
		c.DocumentRoot = "/var/www/html"
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 60 * time.Second
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = c.HeaderTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Second
	}
	if c.ResponseTimeout <= 0 {
		c.ResponseTimeout = 60 * time.Second
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 60 * time.Second
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 30
	}
	if c.MaxChunkedBody <= 0 {
		c.MaxChunkedBody = 64 << 20
	}
	if c.Limits == (codec.Limits{}) {
		c.Limits = codec.DefaultLimits
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// mapping is a Mapping with the bytes the encoder wants prepared once.
type mapping struct {
	Mapping
	bal            *pool.Balancer
	prefix         []byte
	scriptBase     []byte
	redirectHeader string // "" when internal redirects are off
	sendfileHeader string // "" when X-Sendfile is off
	env            []codec.Header
}

// Server is a running gateway.
type Server struct {
	cfg        Config
	routing    atomic.Pointer[routing]
	software   []byte
	server     []byte
	docRoot    []byte
	admin      []byte
	scheme     []byte
	serverName []byte
	date       codec.DateCache

	booted   chan error
	ready    chan struct{} // closed by the first tick: every loop is running
	readyOn  sync.Once
	bgCtx    context.Context // ends at Stop: health checks, refillers
	bgStop   context.CancelFunc
	engine   gnet.Engine
	done     chan struct{} // closed when the engine has stopped
	runErr   error
	loopsMu  sync.Mutex
	loops    map[gnet.EventLoop]*loopState
	stopped  atomic.Bool
	inflight atomic.Int64  // requests between their head and their last byte
	conns    atomic.Int64  // client connections held
	refused  atomic.Uint64 // connections refused over MaxConnections

	// connect replaces connectRaw in the handler benchmark, which has no sockets.
	connect func(ls *loopState, b *pool.Backend, ctx any, nodelay bool) (gnet.Conn, bool, error)
}

// New checks cfg and prepares a server; Start runs it.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.Listen == "" {
		return nil, errors.New("loop: no listen address")
	}
	s := &Server{
		cfg:        cfg,
		software:   []byte(cfg.ServerSoftware),
		server:     []byte(cfg.ServerSoftware),
		docRoot:    []byte(cfg.DocumentRoot),
		admin:      []byte(cfg.ServerAdmin),
		scheme:     []byte("http"),
		serverName: []byte(cfg.ServerName),
		loops:      make(map[gnet.EventLoop]*loopState),
	}
	rt, err := s.buildRouting(&cfg)
	if err != nil {
		return nil, err
	}
	s.routing.Store(rt)
	if s.cfg.Sender == nil {
		s.cfg.Sender = copyOnlySender{}
	}
	s.date.Update(time.Now())
	return s, nil
}

// Start begins serving and returns once the listeners are open.
func (s *Server) Start() error {
	s.booted = make(chan error, 1)
	s.ready = make(chan struct{})
	s.done = make(chan struct{})
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	h := &handler{srv: s}
	go func() {
		addrs := []string{"tcp://" + s.cfg.Listen}
		for _, a := range s.cfg.MoreListen {
			addrs = append(addrs, "tcp://"+a)
		}
		err := gnet.Rotate(h, addrs,
			gnet.WithNumEventLoop(s.cfg.Loops),
			gnet.WithReusePort(true),
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithTicker(true),
			gnet.WithLogger(gnetLogger{s.cfg.Logger}),
		)
		s.runErr = err
		select {
		case s.booted <- err:
		default:
		}
		close(s.done)
	}()
	if err := <-s.booted; err != nil {
		return err
	}
	// OnBoot runs before gnet creates its loops; the ticker starts after them.
	select {
	case <-s.ready:
	case <-s.done:
		return s.runErr
	}
	s.startBackground(true)
	return nil
}

// routing is what a reload replaces: the virtual hosts with their
// mappings and balancers, and the sendfile roots. Requests in flight keep
// the one they started with.
type routing struct {
	vhosts   []*vhost // the first is the default
	roots    sendfileRoots
	hcCancel context.CancelFunc // ends this generation's health checks
}

// buildRouting checks cfg's mappings and prepares them.
func (s *Server) buildRouting(cfg *Config) (*routing, error) {
	rt := &routing{}
	if len(cfg.SendfileRoots) > 0 {
		roots, err := newSendfileRoots(cfg.SendfileRoots)
		if err != nil {
			return nil, err
		}
		rt.roots = roots
	}
	if len(cfg.VirtualHosts) == 0 {
		vh, err := s.newVhost(VirtualHost{ServerName: cfg.ServerName, ServerAdmin: cfg.ServerAdmin, DocumentRoot: cfg.DocumentRoot, Mappings: cfg.Mappings}, rt.roots)
		if err != nil {
			return nil, err
		}
		rt.vhosts = append(rt.vhosts, vh)
	}
	for _, v := range cfg.VirtualHosts {
		// A virtual host inherits the main server's mappings, as Apache merges them.
		v.Mappings = append(append([]Mapping(nil), v.Mappings...), cfg.Mappings...)
		if v.ServerAdmin == "" {
			v.ServerAdmin = cfg.ServerAdmin
		}
		if v.DocumentRoot == "" {
			v.DocumentRoot = cfg.DocumentRoot
		}
		vh, err := s.newVhost(v, rt.roots)
		if err != nil {
			return nil, err
		}
		rt.vhosts = append(rt.vhosts, vh)
	}
	return rt, nil
}

// Reload replaces the mappings, virtual hosts, balancers and sendfile roots
// with cfg's. New requests use them at once; requests in flight finish on
// the old ones. Other settings (listen address, loops, timeouts, limits)
// keep their start-up values. A cfg that does not check out changes nothing.
func (s *Server) Reload(cfg Config) error {
	rt, err := s.buildRouting(&cfg)
	if err != nil {
		return err
	}
	old := s.routing.Swap(rt)
	s.startBackground(false) // new members' spares fill as they are used
	if old != nil && old.hcCancel != nil {
		old.hcCancel()
	}
	return nil
}

// allMappings lists the mappings of every virtual host in use.
func (s *Server) allMappings() []*mapping {
	var all []*mapping
	for _, vh := range s.routing.Load().vhosts {
		for i := range vh.mappings {
			all = append(all, &vh.mappings[i])
		}
	}
	return all
}

// startBackground starts the health checks and opens the warm spares.
func (s *Server) startBackground(warm bool) {
	hcCtx, cancel := context.WithCancel(s.bgCtx)
	s.routing.Load().hcCancel = cancel
	seen := map[*pool.Balancer]bool{}
	var spares []*pool.Member
	for _, m := range s.allMappings() {
		if m.bal == nil || seen[m.bal] {
			continue
		}
		seen[m.bal] = true
		m.bal.StartHealthChecks(hcCtx)
		for _, mem := range m.bal.Members {
			if mem.Params.Min > 0 && !mem.Params.Disabled {
				spares = append(spares, mem)
			}
		}
	}
	if warm && len(spares) > 0 {
		go s.warmUp(spares)
	}
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.cfg.Listen }

// Stop closes the listeners and every connection.
func (s *Server) Stop(ctx context.Context) error {
	s.stopped.Store(true)
	s.bgStop()
	if err := s.engine.Stop(ctx); err != nil {
		return err
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown stops gracefully: answers from now on close their connections,
// requests in flight may finish until ctx ends, then everything stops.
func (s *Server) Shutdown(ctx context.Context, stopTimeout time.Duration) error {
	s.stopped.Store(true)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			s.cfg.Logger.Warn("grace period over; cutting requests in flight", "requests", s.inflight.Load())
		case <-tick.C:
			continue
		}
		break
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	return s.Stop(stopCtx)
}

// InFlight is the number of requests being served.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// isStopping reports whether Stop was called; answers then close their connections.
func (s *Server) isStopping() bool {
	return s.stopped.Load()
}

// Wait blocks until the engine stops and returns its error.
func (s *Server) Wait() error {
	<-s.done
	return s.runErr
}

// loopFor returns the state of the loop el, creating it on first sight.
func (s *Server) loopFor(el gnet.EventLoop) *loopState {
	s.loopsMu.Lock()
	ls := s.loops[el]
	if ls == nil {
		ls = newLoopState(s, el)
		s.loops[el] = ls
	}
	s.loopsMu.Unlock()
	return ls
}

// handler is the gnet.EventHandler; it dispatches on the connection's context.
type handler struct {
	gnet.BuiltinEventEngine
	srv *Server
}

func (h *handler) OnBoot(e gnet.Engine) gnet.Action {
	h.srv.engine = e
	select {
	case h.srv.booted <- nil:
	default:
	}
	return gnet.None
}

// tickEvery is how often timeouts are swept; expiry is accurate to it.
const tickEvery = 100 * time.Millisecond

func (h *handler) OnTick() (time.Duration, gnet.Action) {
	s := h.srv
	s.readyOn.Do(func() { close(s.ready) })
	now := time.Now()
	s.date.Update(now)
	s.loopsMu.Lock()
	for el, ls := range s.loops {
		el.Execute(context.Background(), ls.sweeper) //nolint:errcheck
	}
	s.loopsMu.Unlock()
	return tickEvery, gnet.None
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	switch x := c.Context().(type) {
	case *upstream:
		return nil, x.onOpen(c)
	case *client:
		return nil, x.onReattach(c)
	case *spare:
		return nil, x.onOpen(c, h.srv)
	default:
		s := h.srv
		if s.conns.Add(1) > int64(s.cfg.MaxConnections) {
			// Full: a quick answer and a close cost less than serving everyone slower.
			s.conns.Add(-1)
			if s.refused.Add(1)&1023 == 1 {
				s.cfg.Logger.Warn("MaxConnections reached; refusing new connections", "max", s.cfg.MaxConnections, "refused", s.refused.Load())
			}
			return tooManyConns, gnet.Close
		}
		ls := s.loopFor(c.EventLoop())
		cl := newClient(ls, c)
		c.SetContext(cl)
		ls.raw.learn(c)
		return nil, gnet.None
	}
}

// DefaultMaxConnections is MaxConnections when unset.
const DefaultMaxConnections = 65536

var tooManyConns = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\nRetry-After: 1\r\n\r\nToo many connections; try again\n")

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *client:
		return x.onTraffic()
	case *upstream:
		return x.onTraffic()
	}
	// A spare has nothing to say before its request: whatever it is, drop it.
	c.Discard(-1) //nolint:errcheck
	return gnet.Close
}

func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	switch x := c.Context().(type) {
	case *client:
		x.onClose(c, err)
	case *upstream:
		x.onClose(c, err)
		if x.c == c || x.c == nil {
			x.recycle()
		}
	case *spare:
		x.onClose()
	}
	return gnet.None
}

// localAddrParts splits a net.Addr into IP and port text.
func addrParts(a net.Addr) (ip, port string) {
	if a == nil {
		return "", ""
	}
	host, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), ""
	}
	return host, p
}
