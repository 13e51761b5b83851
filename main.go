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
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/scgate/scgate/bench/backend/app"
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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

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
	if len(passes) == 0 {
		return errors.New("nothing to serve: give at least one -pass PREFIX=scgi://host:port/ (or -demo)")
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

	srv, err := loop.New(loop.Config{
		Listen:          *listen,
		Loops:           *loops,
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
	})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("listen %s: %v", *listen, err)
	}
	for _, m := range maps {
		for _, mem := range m.Balancer.Members {
			logger.Info("proxy", "prefix", m.Prefix, "balancer", m.Balancer.Name, "member", mem.URL)
		}
	}
	logger.Info("scgate listening", "addr", "http://"+*listen)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		logger.Info("stopping", "signal", s.String())
	case err := <-waitErr(srv):
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Stop(ctx)
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
