// Command scgate is an HTTP/1.1 to SCGI gateway: Apache mod_proxy_scgi's job
// as one small event-driven program.
//
//	scgate -listen 127.0.0.1:8080 -pass /scgi-bin/=scgi://127.0.0.1:4000/
//	scgate -demo   # the sample SCGI app on 127.0.0.1:4000 behind /scgi-bin/
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scgate/scgate/bench/backend/app"
	"github.com/scgate/scgate/config"
	"github.com/scgate/scgate/loop"
	"github.com/scgate/scgate/pool"
)

// passFlags collects repeated -pass values.
type passFlags []string

func (p *passFlags) String() string     { return strings.Join(*p, " ") }
func (p *passFlags) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "scgate:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("scgate", flag.ContinueOnError)
	var passes, balancerSpecs, sendfileRoots passFlags
	fs.Var(&passes, "pass", "`PREFIX=URL [key=value...]`: send requests under PREFIX to the SCGI backend URL\n"+
		"(scgi://host:port/ or unix:/path.sock|scgi://localhost/); repeatable, longest prefix wins.\n"+
		"keys: pathinfo=On (SCRIPT_NAME=prefix, PATH_INFO=rest), cgipassauth=On, connectiontimeout=SECONDS")
	fs.Var(&balancerSpecs, "balancer", "`NAME=URL [key=value...],URL [key=value...]`: a balancer of SCGI members, used as\n"+
		"-pass PREFIX=balancer://NAME/ [lbmethod=byrequests|bybusyness|hash hashkey=ip|header:H|cookie:C|uri stickysession=NAME ...];\n"+
		"member keys as Apache's BalancerMember: loadfactor, retry, status=+H|+D, route, timeout, max, acquire, min, ttl, hcmethod=tcp|scgi, hcuri, ...")
	fs.Var(&sendfileRoots, "sendfile-root", "`DIR` X-Sendfile files may come from (SCGISendfileRoot); repeatable")
	listen := fs.String("listen", "127.0.0.1:8080", "`host:port` to serve HTTP on")
	loops := fs.Int("loops", 0, "event loops (default GOMAXPROCS)")
	maxConns := fs.Int("max-connections", loop.DefaultMaxConnections, "client connections held at once; over it a new one gets 503 and is closed (MaxConnections)")
	demo := fs.Bool("demo", false, "also run the sample SCGI app on -demo-backend and map /scgi-bin/ to it when no -pass is given")
	demoAddr := fs.String("demo-backend", "127.0.0.1:4000", "`address` of the sample app started by -demo")
	headerTimeout := fs.Duration("header-timeout", 60*time.Second, "time to receive a request head (then 408)")
	idleTimeout := fs.Duration("keepalive-timeout", 5*time.Second, "keep-alive idle time between requests")
	connectTimeout := fs.Duration("connect-timeout", pool.DefaultConnectTimeout, "backend connect timeout (then 503)")
	responseTimeout := fs.Duration("response-timeout", 60*time.Second, "backend silence allowed (then 504)")
	maxBody := fs.Int64("max-body", 1<<30, "largest request body in bytes (then 413)")
	maxChunked := fs.Int64("max-chunked-body", 64<<20, "largest chunked request body, buffered in memory (then 413)")
	serverName := fs.String("server-name", "", "SERVER_NAME when the request has no Host")
	serverAdmin := fs.String("server-admin", "webmaster@localhost", "SERVER_ADMIN")
	docRoot := fs.String("document-root", "/var/www/html", "DOCUMENT_ROOT")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `file` until the gateway stops")
	accessLog := fs.String("access-log", "", "write an access log in Apache's combined format to `PATH` (- for stdout)")
	grace := fs.Duration("grace", 30*time.Second, "on SIGTERM/SIGINT, how long requests in flight may take to finish")
	confFile := fs.String("f", "", "read Apache-style directives from `FILE` (flags given as well add to it or override it)")
	configTest := fs.Bool("t", false, "check the configuration (with -f) and print Syntax OK or the errors, then exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var reopeners []func() error // SIGUSR1
	setFlags := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = true })
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %v", err)
	}
	logOut := io.Writer(os.Stderr)
	var file *fileSettings
	if *confFile != "" {
		var err error
		file, err = loadConfigFile(*confFile, *connectTimeout)
		if err != nil {
			if *configTest {
				fmt.Fprintln(os.Stderr, err)
			}
			return err
		}
		if file.logLevel != nil && !setFlags["log-level"] {
			level = *file.logLevel
		}
		if file.errorLog != "" && !*configTest {
			errLog, err := openLog(file.errorLog)
			if err != nil {
				return fmt.Errorf("ErrorLog: %v", err)
			}
			defer errLog.Close()
			logOut = errLog
			reopeners = append(reopeners, errLog.reopen)
		}
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	if file != nil {
		for _, n := range file.notices {
			logger.Info(n)
		}
	}

	if *demo {
		ln, err := app.Listen(*demoAddr)
		if err != nil {
			return fmt.Errorf("-demo: sample app: %v", err)
		}
		go app.Serve(ln) //nolint:errcheck
		if len(passes) == 0 {
			passes = append(passes, "/scgi-bin/=scgi://"+*demoAddr+"/")
			if strings.HasPrefix(*demoAddr, "unix:") {
				passes[0] = "/scgi-bin/=" + *demoAddr + "|scgi://localhost/"
			}
		}
		logger.Info("sample SCGI app", "listen", *demoAddr)
	}
	if len(passes) == 0 && file == nil {
		return errors.New("nothing to serve: give at least one -pass PREFIX=scgi://host:port/, a config file with -f, or -demo")
	}
	balancers := map[string]*pool.Balancer{}
	for _, spec := range balancerSpecs {
		b, err := parseBalancer(spec, *connectTimeout)
		if err != nil {
			return err
		}
		if balancers[b.Name] != nil {
			return fmt.Errorf("-balancer %s given twice", b.Name)
		}
		balancers[b.Name] = b
	}
	var maps []loop.Mapping
	for _, p := range passes {
		m, err := parsePass(p, balancers, *connectTimeout)
		if err != nil {
			return err
		}
		maps = append(maps, m)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	// A loop keeps its P through its system calls. With no P to spare, the
	// runtime's monitor takes Ps back from every call longer than 20 us and
	// wakes that often itself (measured: 25x the nanosleeps, 20% more context
	// switches, 12% fewer requests). Spare Ps let it rest; they cost nothing.
	if *loops <= 0 {
		*loops = runtime.GOMAXPROCS(0)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2 * *loops)
	}

	makeConfig := func(file *fileSettings) loop.Config {
		lc := loop.Config{
			Listen:          *listen,
			Loops:           *loops,
			MaxConnections:  *maxConns,
			Mappings:        maps,
			ServerName:      *serverName,
			ServerAdmin:     *serverAdmin,
			DocumentRoot:    *docRoot,
			HeaderTimeout:   *headerTimeout,
			IdleTimeout:     *idleTimeout,
			ResponseTimeout: *responseTimeout,
			MaxBody:         *maxBody,
			MaxChunkedBody:  *maxChunked,
			SendfileRoots:   sendfileRoots,
			Sender:          fileSender,
			Logger:          logger,
		}
		if file != nil {
			file.apply(&lc, setFlags)
		}
		return lc
	}
	lc := makeConfig(file)
	logPath, logFormat := *accessLog, loop.Combined
	if file != nil && len(file.cfg.CustomLogs) > 0 && !setFlags["access-log"] {
		logPath, logFormat = file.cfg.CustomLogs[0].Path, file.cfg.CustomLogs[0].Format
	}
	if logPath != "" && !*configTest {
		w := io.Writer(os.Stdout)
		if logPath != "-" {
			f, err := openLog(logPath)
			if err != nil {
				return fmt.Errorf("access log: %v", err)
			}
			defer f.Close()
			w = f
			reopeners = append(reopeners, f.reopen)
		}
		al, err := loop.NewAccessLog(w, logFormat)
		if err != nil {
			return err
		}
		defer al.Close()
		lc.AccessLog = al
	}
	srv, err := loop.New(lc)
	if err != nil {
		if *configTest {
			fmt.Fprintln(os.Stderr, err)
		}
		return err
	}
	if *configTest {
		fmt.Println("Syntax OK")
		return nil
	}
	if file != nil && file.pidFile != "" {
		if err := os.WriteFile(file.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("PidFile: %v", err)
		}
		defer os.Remove(file.pidFile)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("listen %s: %v", lc.Listen, err)
	}
	for _, m := range lc.Mappings {
		if m.Balancer == nil { // ProxyPass ! and the status page
			continue
		}
		for _, mem := range m.Balancer.Members {
			logger.Info("proxy", "prefix", m.Prefix, "balancer", m.Balancer.Name, "member", mem.URL)
		}
	}
	logger.Info("scgate listening", "addr", "http://"+lc.Listen)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	stopped := waitErr(srv)
wait:
	for {
		select {
		case s := <-sig:
			switch s {
			case syscall.SIGHUP:
				reload(*confFile, *connectTimeout, makeConfig, srv, logger)
				continue
			case syscall.SIGUSR1:
				for _, reopen := range reopeners {
					if err := reopen(); err != nil {
						logger.Error("SIGUSR1: reopening a log file", "err", err)
					}
				}
				continue
			}
			logger.Info("stopping", "signal", s.String())
			break wait
		case err := <-stopped:
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	return srv.Shutdown(ctx, 10*time.Second)
}

// logFile is a log file that SIGUSR1 reopens under the same name, for
// logrotate: writes go to whichever file is current.
type logFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func openLog(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &logFile{path: path, f: f}, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// reopen switches to a new file of the same name and closes the old one.
func (l *logFile) reopen() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Close closes the current file.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// reload reads the config file again and, if it checks out, switches new
// requests to it; a broken file is refused with its errors and the running
// configuration stays.
func reload(path string, connectTimeout time.Duration, makeConfig func(*fileSettings) loop.Config, srv *loop.Server, logger *slog.Logger) {
	if path == "" {
		logger.Warn("SIGHUP: no config file to reload (start with -f FILE)")
		return
	}
	file, err := loadConfigFile(path, connectTimeout)
	if err == nil {
		err = srv.Reload(makeConfig(file))
	}
	if err != nil {
		logger.Error("SIGHUP: new configuration refused; the running one stays", "file", path, "errors", err.Error())
		return
	}
	for _, n := range file.notices {
		logger.Info(n)
	}
	logger.Info("SIGHUP: configuration reloaded", "file", path)
}

func waitErr(srv *loop.Server) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- srv.Wait() }()
	return ch
}

// passKeys are the -pass keys that belong to the mapping, not to the backend.
const passKeys = "pathinfo, cgipassauth, internalredirect, sendfile"

// parsePass reads "PREFIX=URL [key=value ...]". URL is an SCGI backend,
// whose keys are BalancerMember parameters, or balancer://NAME/ (declared
// with -balancer), whose keys are balancer parameters as on Apache's
// ProxyPass line.
func parsePass(v string, balancers map[string]*pool.Balancer, connectTimeout time.Duration) (loop.Mapping, error) {
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return loop.Mapping{}, errors.New("-pass: empty value")
	}
	prefix, url, ok := strings.Cut(fields[0], "=")
	if !ok || !strings.HasPrefix(prefix, "/") || url == "" {
		return loop.Mapping{}, fmt.Errorf("-pass %q: want PREFIX=URL, e.g. /scgi-bin/=scgi://127.0.0.1:4000/", v)
	}
	m := loop.Mapping{Prefix: prefix}
	var rest []string
	for _, kv := range fields[1:] {
		k, val, _ := strings.Cut(kv, "=")
		var err error
		switch strings.ToLower(k) {
		case "pathinfo":
			m.SplitPathInfo, err = onOff(val)
		case "cgipassauth":
			m.PassAuth, err = onOff(val)
		case "internalredirect", "proxyscgiinternalredirect":
			m.InternalRedirect, err = onOffHeader(k, val)
		case "sendfile", "proxyscgisendfile":
			m.Sendfile, err = onOffHeader(k, val)
		default:
			rest = append(rest, kv)
		}
		if err != nil {
			return loop.Mapping{}, fmt.Errorf("-pass %q: %v", v, err)
		}
	}

	if name, ok := balancerName(url); ok {
		b := balancers[name]
		if b == nil {
			return loop.Mapping{}, fmt.Errorf("-pass %q: no balancer %q: declare it with -balancer %s=scgi://host:port/,...", v, name, name)
		}
		for _, kv := range rest {
			k, val, _ := strings.Cut(kv, "=")
			if err := pool.SetBalancerParam(&b.Params, k, val); err != nil {
				return loop.Mapping{}, fmt.Errorf("-pass %q: %v (mapping keys: %s)", v, err, passKeys)
			}
		}
		m.Balancer = b
		return m, nil
	}
	member, err := newMember(url, rest, connectTimeout)
	if err != nil {
		return loop.Mapping{}, fmt.Errorf("-pass %q: %v (mapping keys: %s)", v, err, passKeys)
	}
	m.Balancer = pool.Single(member)
	return m, nil
}

// balancerName returns NAME of "balancer://NAME[/]".
func balancerName(url string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.ToLower(url), "balancer://")
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(rest, "/"), true
}

// newMember builds a member from its URL and key=value parameters.
func newMember(url string, params []string, connectTimeout time.Duration) (*pool.Member, error) {
	m, err := pool.NewMember(url, params...)
	if err != nil {
		return nil, err
	}
	m.ConnectTimeout = connectTimeout
	if m.Params.ConnectTimeout > 0 {
		m.ConnectTimeout = m.Params.ConnectTimeout
	}
	return m, nil
}

// parseBalancer reads "NAME=URL [key=value...],URL [key=value...]".
func parseBalancer(v string, connectTimeout time.Duration) (*pool.Balancer, error) {
	name, list, ok := strings.Cut(v, "=")
	name = strings.ToLower(strings.TrimSpace(name))
	if !ok || name == "" || strings.ContainsAny(name, "/: ") {
		return nil, fmt.Errorf("-balancer %q: want NAME=scgi://host:port/,scgi://host:port/", v)
	}
	var members []*pool.Member
	for _, spec := range strings.Split(list, ",") {
		fields := strings.Fields(spec)
		if len(fields) == 0 {
			return nil, fmt.Errorf("-balancer %q: empty member", v)
		}
		m, err := newMember(fields[0], fields[1:], connectTimeout)
		if err != nil {
			return nil, fmt.Errorf("-balancer %q: %v", v, err)
		}
		members = append(members, m)
	}
	b, err := pool.NewBalancer(name, pool.DefaultBalancerParams(), members)
	if err != nil {
		return nil, fmt.Errorf("-balancer %q: %v", v, err)
	}
	return b, nil
}

// onOffHeader checks an Apache On|Off|Headername value.
func onOffHeader(key, v string) (string, error) {
	if v == "" || strings.ContainsAny(v, " :\r\n") {
		return "", fmt.Errorf("%s wants On, Off or a header name, not %q", key, v)
	}
	return v, nil
}

func onOff(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is neither On nor Off", v)
}

// fileSettings is a config file turned into the gateway's model.
type fileSettings struct {
	cfg       *config.Config
	mappings  []loop.Mapping
	vhosts    []loop.VirtualHost
	notices   []string
	logLevel  *slog.Level
	errorLog  string
	pidFile   string
	balancers map[string]*pool.Balancer
}

// loadConfigFile reads FILE and builds balancers, mappings and virtual
// hosts from it; every problem is reported as file:line.
func loadConfigFile(path string, connectTimeout time.Duration) (*fileSettings, error) {
	cfg, err := config.ParseFile(path)
	if err != nil {
		return nil, err
	}
	fsx := &fileSettings{cfg: cfg, notices: cfg.Notices, errorLog: cfg.ErrorLog, pidFile: cfg.PidFile, balancers: map[string]*pool.Balancer{}}
	var errs config.Errors
	fail := func(file string, line int, format string, args ...any) {
		errs = append(errs, &config.Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if cfg.LogLevel != "" {
		l := apacheLevel(cfg.LogLevel)
		fsx.logLevel = &l
	}
	for i, cl := range cfg.CustomLogs {
		if i > 0 {
			fsx.notices = append(fsx.notices, fmt.Sprintf("%s:%d: only the first CustomLog is written", cl.File, cl.Line))
			continue
		}
		if _, err := loop.NewAccessLog(io.Discard, cl.Format); err != nil {
			fail(cl.File, cl.Line, "CustomLog: %v", err)
		}
	}
	for _, b := range cfg.Balancers {
		var members []*pool.Member
		for _, m := range b.Members {
			mem, err := newMember(m.URL, m.Params, connectTimeout)
			if err != nil {
				fail(m.File, m.Line, "BalancerMember %s: %v", m.URL, err)
				continue
			}
			members = append(members, mem)
		}
		params := pool.DefaultBalancerParams()
		for _, kv := range b.Params {
			k, v, _ := strings.Cut(kv.Value, "=")
			if err := pool.SetBalancerParam(&params, k, v); err != nil {
				fail(kv.File, kv.Line, "ProxySet: %v", err)
			}
		}
		if len(members) == 0 {
			fail(b.File, b.Line, "balancer://%s has no usable BalancerMember", b.Name)
			continue
		}
		bal, err := pool.NewBalancer(b.Name, params, members)
		if err != nil {
			fail(b.File, b.Line, "balancer://%s: %v", b.Name, err)
			continue
		}
		fsx.balancers[b.Name] = bal
	}
	build := func(srv *config.Server, inherit *config.Server) []loop.Mapping {
		var maps, statusMaps []loop.Mapping
		passes := srv.Passes
		for _, loc := range srv.Locations {
			switch h := loc.Handler; {
			case h == "":
			case strings.HasPrefix(strings.ToLower(h), "proxy:"):
				// SetHandler proxy:scgi://... proxies the Location like a ProxyPass.
				passes = append(passes, config.Pass{Path: loc.Path, URL: h[len("proxy:"):], File: loc.File, Line: loc.Line})
			case strings.EqualFold(h, "scgate-status"):
				allow, err := requireIP(loc.Require)
				if err != nil {
					fail(loc.File, loc.Line, "<Location %s>: %v", loc.Path, err)
				}
				statusMaps = append(statusMaps, loop.Mapping{Prefix: loc.Path, Status: true, Allow: allow})
			default:
				fail(loc.File, loc.Line, "SetHandler %s: scgate knows proxy:scgi://... and scgate-status", h)
			}
		}
		for _, p := range passes {
			m := loop.Mapping{Prefix: p.Path}
			if p.Regexp {
				re, err := regexp.Compile(p.Path)
				if err != nil {
					fail(p.File, p.Line, "ProxyPassMatch %s: %v", p.Path, err)
					continue
				}
				m.Match = re
				// The URL, $1... filled in per request, is SCRIPT_FILENAME; the
				// member is the URL up to its path.
				_, after, isUnix := strings.Cut(p.URL, "|")
				m.ScriptTemplate = p.URL
				if isUnix {
					m.ScriptTemplate = after
				}
				if i := strings.Index(p.URL, "://"); i >= 0 {
					if j := strings.IndexByte(p.URL[i+3:], '/'); j >= 0 {
						p.URL = p.URL[:i+3+j+1]
					}
				}
			}
			applyScope(&m, inherit)
			applyScope(&m, srv)
			for _, loc := range srv.Locations {
				if strings.HasPrefix(p.Path, loc.Path) {
					applyLocation(&m, loc)
				}
			}
			switch name, isBal := balancerName(p.URL); {
			case p.URL == "!":
				m.Exclude = true
			case isBal:
				b := fsx.balancers[name]
				if b == nil {
					fail(p.File, p.Line, "ProxyPass %s: no <Proxy balancer://%s> is declared", p.Path, name)
					continue
				}
				for _, kv := range p.Params {
					k, v, _ := strings.Cut(kv, "=")
					if err := pool.SetBalancerParam(&b.Params, k, v); err != nil {
						fail(p.File, p.Line, "ProxyPass %s: %v", p.Path, err)
					}
				}
				m.Balancer = b
			default:
				mem, err := newMember(p.URL, p.Params, connectTimeout)
				if err != nil {
					fail(p.File, p.Line, "ProxyPass %s: %v", p.Path, err)
					continue
				}
				m.Balancer = pool.Single(mem)
			}
			maps = append(maps, m)
		}
		return append(maps, statusMaps...)
	}
	if cfg.Main != nil {
		fsx.mappings = build(cfg.Main, nil)
	}
	for _, v := range cfg.VirtualHosts {
		fsx.vhosts = append(fsx.vhosts, loop.VirtualHost{
			Names:        v.ServerAliases,
			ServerName:   v.ServerName,
			ServerAdmin:  v.ServerAdmin,
			DocumentRoot: v.DocumentRoot,
			Mappings:     build(v, cfg.Main),
		})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return fsx, nil
}

// requireIP reads a <Location>'s Require lines: "all granted", "all
// denied" and "ip ADDR|CIDR...". No line lets everyone in.
func requireIP(lines []string) ([]netip.Prefix, error) {
	var allow []netip.Prefix
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && strings.EqualFold(f[0], "all") && strings.EqualFold(f[1], "granted"):
			return nil, nil
		case len(f) == 2 && strings.EqualFold(f[0], "all") && strings.EqualFold(f[1], "denied"):
			return []netip.Prefix{{}}, nil // matches no address
		case len(f) >= 2 && strings.EqualFold(f[0], "ip"):
			for _, a := range f[1:] {
				p, err := netip.ParsePrefix(a)
				if err != nil {
					addr, err2 := netip.ParseAddr(a)
					if err2 != nil {
						return nil, fmt.Errorf("Require ip %s: not an address or CIDR", a)
					}
					p = netip.PrefixFrom(addr, addr.BitLen())
				}
				allow = append(allow, p)
			}
		default:
			return nil, fmt.Errorf("Require %s: scgate knows Require all granted|denied and Require ip ADDR...", line)
		}
	}
	return allow, nil
}

// applyScope applies a server's settings to a mapping.
func applyScope(m *loop.Mapping, srv *config.Server) {
	if srv != nil {
		applySettings(m, srv.InternalRedirect, srv.Sendfile, srv.CGIPassAuth, srv.SetEnv)
	}
}

// applyLocation applies a <Location> that covers the mapping's path.
func applyLocation(m *loop.Mapping, loc *config.Location) {
	applySettings(m, loc.InternalRedirect, loc.Sendfile, loc.CGIPassAuth, loc.SetEnv)
}

// applySettings sets what a scope sets; "" and nil leave the mapping alone.
func applySettings(m *loop.Mapping, redirect, sendfile string, passAuth *bool, env []config.EnvVar) {
	if redirect != "" {
		m.InternalRedirect = redirect
	}
	if sendfile != "" {
		m.Sendfile = sendfile
	}
	if passAuth != nil {
		m.PassAuth = *passAuth
	}
	for _, e := range env {
		m.Env = append(m.Env, loop.EnvVar{Name: e.Name, Value: e.Value})
	}
}

// apply fills lc from the file; flags given on the command line win.
func (fsx *fileSettings) apply(lc *loop.Config, setFlags map[string]bool) {
	c := fsx.cfg
	lc.Mappings = append(fsx.mappings, lc.Mappings...)
	lc.VirtualHosts = fsx.vhosts
	if len(c.Listen) > 0 && !setFlags["listen"] {
		lc.Listen = listenAddr(c.Listen[0].Value)
		for _, l := range c.Listen[1:] {
			lc.MoreListen = append(lc.MoreListen, listenAddr(l.Value))
		}
	}
	if m := c.Main; m != nil {
		if m.ServerName != "" && !setFlags["server-name"] {
			lc.ServerName = m.ServerName
		}
		if m.ServerAdmin != "" && !setFlags["server-admin"] {
			lc.ServerAdmin = m.ServerAdmin
		}
		if m.DocumentRoot != "" && !setFlags["document-root"] {
			lc.DocumentRoot = m.DocumentRoot
		}
	}
	if c.Timeout > 0 {
		lc.SendTimeout = c.Timeout
		if !setFlags["response-timeout"] {
			lc.ResponseTimeout = c.Timeout
		}
	}
	if c.ProxyTimeout > 0 && !setFlags["response-timeout"] {
		lc.ResponseTimeout = c.ProxyTimeout
	}
	if c.HeaderTimeout > 0 && !setFlags["header-timeout"] {
		lc.HeaderTimeout = c.HeaderTimeout
	}
	if c.BodyTimeout > 0 {
		lc.BodyTimeout = c.BodyTimeout
	}
	if c.KeepAlive != nil && !*c.KeepAlive {
		lc.DisableKeepAlive = true
	}
	if c.KeepAliveTimeout > 0 && !setFlags["keepalive-timeout"] {
		lc.IdleTimeout = c.KeepAliveTimeout
	}
	if c.MaxKeepAliveRequests != nil {
		lc.MaxKeepAliveRequests = *c.MaxKeepAliveRequests
	}
	if c.MaxConnections != nil && !setFlags["max-connections"] {
		lc.MaxConnections = *c.MaxConnections
	}
	if c.LimitRequestBody != nil && !setFlags["max-body"] {
		lc.MaxBody = *c.LimitRequestBody
		if lc.MaxBody == 0 {
			lc.MaxBody = 1 << 62 // Apache: 0 means unlimited
		}
	}
	if lc.Limits == (loop.Limits{}) {
		lc.Limits = loop.DefaultLimits
	}
	if c.LimitRequestLine != nil {
		lc.Limits.MaxLine = *c.LimitRequestLine
	}
	if c.LimitRequestFieldSize != nil {
		lc.Limits.MaxField = *c.LimitRequestFieldSize
	}
	if c.LimitRequestFields != nil {
		lc.Limits.MaxFields = *c.LimitRequestFields
	}
	for _, r := range c.SendfileRoots {
		lc.SendfileRoots = append(lc.SendfileRoots, r.Value)
	}
}

// listenAddr turns Apache's Listen value into host:port ("80" is every address).
func listenAddr(v string) string {
	if !strings.Contains(v, ":") {
		return "0.0.0.0:" + v
	}
	return v
}

// apacheLevel maps Apache's LogLevel words onto slog's levels.
func apacheLevel(v string) slog.Level {
	switch w, _, _ := strings.Cut(strings.ToLower(v), " "); {
	case w == "debug" || strings.HasPrefix(w, "trace"):
		return slog.LevelDebug
	case w == "info" || w == "notice":
		return slog.LevelInfo
	case w == "warn":
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}
