package config

import (
	"fmt"
	"math"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// where is a set of contexts a directive may appear in.
type where uint8

const (
	atTop where = 1 << iota
	inVHost
	inLocation
	inProxy

	inServer = atTop | inVHost
	anywhere = atTop | inVHost | inLocation | inProxy
)

// String names the contexts in w, as an error message says them.
func (w where) String() string {
	var names []string
	for _, c := range []struct {
		w    where
		name string
	}{
		{atTop, "at top level"},
		{inVHost, "inside <VirtualHost>"},
		{inLocation, "inside <Location>"},
		{inProxy, "inside <Proxy balancer://NAME>"},
	} {
		if w&c.w != 0 {
			names = append(names, c.name)
		}
	}
	return strings.Join(names, ", ")
}

func (p *parser) context() where {
	switch {
	case p.balancer != nil:
		return inProxy
	case p.location != nil:
		return inLocation
	case p.server != p.cfg.Main:
		return inVHost
	}
	return atTop
}

// directive describes one directive scgate reads.
type directive struct {
	name     string // canonical spelling
	min, max int    // argument counts; max -1 is no limit
	usage    string // the arguments, as "Timeout SECONDS" shows them
	where    where
	run      func(p *parser, c *call)
}

var directives = map[string]*directive{}

func init() {
	for _, d := range []*directive{
		{"Include", 1, 1, "PATH-OR-GLOB", anywhere, func(p *parser, c *call) { p.include(c, false) }},
		{"IncludeOptional", 1, 1, "PATH-OR-GLOB", anywhere, func(p *parser, c *call) { p.include(c, true) }},

		{"Listen", 1, 2, "[IP:]PORT [http]", atTop, (*parser).listen},
		{"PidFile", 1, 1, "PATH", atTop, func(p *parser, c *call) { p.cfg.PidFile = c.args[0] }},
		{"SCGISendfileRoot", 1, 1, "DIR", atTop, (*parser).sendfileRoot},
		{"Timeout", 1, 1, "SECONDS", atTop, func(p *parser, c *call) { p.seconds(c, &p.cfg.Timeout) }},
		{"ProxyTimeout", 1, 1, "SECONDS", atTop, func(p *parser, c *call) { p.seconds(c, &p.cfg.ProxyTimeout) }},
		{"RequestReadTimeout", 1, -1, "header=SECONDS body=SECONDS", atTop, (*parser).requestReadTimeout},
		{"KeepAlive", 1, 1, "On|Off", atTop, func(p *parser, c *call) { p.onOff(c, &p.cfg.KeepAlive) }},
		{"KeepAliveTimeout", 1, 1, "SECONDS (or MILLISECONDS followed by ms)", atTop, (*parser).keepAliveTimeout},
		{"MaxKeepAliveRequests", 1, 1, "N (0 = no limit)", atTop, func(p *parser, c *call) { p.count(c, &p.cfg.MaxKeepAliveRequests) }},
		{"MaxConnections", 1, 1, "N (client connections at once; default 65536)", atTop, func(p *parser, c *call) { p.count(c, &p.cfg.MaxConnections) }},
		{"LimitRequestBody", 1, 1, "BYTES (0 = no limit)", atTop, (*parser).limitRequestBody},
		{"LimitRequestLine", 1, 1, "BYTES", atTop, func(p *parser, c *call) { p.count(c, &p.cfg.LimitRequestLine) }},
		{"LimitRequestFieldSize", 1, 1, "BYTES", atTop, func(p *parser, c *call) { p.count(c, &p.cfg.LimitRequestFieldSize) }},
		{"LimitRequestFields", 1, 1, "N (0 = no limit)", atTop, func(p *parser, c *call) { p.count(c, &p.cfg.LimitRequestFields) }},
		{"ErrorLog", 1, 1, "PATH", inServer, (*parser).errorLog},
		{"LogLevel", 1, -1, "LEVEL (emerg, alert, crit, error, warn, notice, info, debug, trace1..trace8)", inServer | inLocation, (*parser).logLevel},
		{"LogFormat", 1, 2, `"FORMAT" NICKNAME`, inServer, (*parser).logFormat},
		{"CustomLog", 2, 3, "PATH FORMAT-OR-NICKNAME", inServer, (*parser).customLog},

		{"ServerName", 1, 1, "HOST[:PORT]", inServer, func(p *parser, c *call) { p.server.ServerName = c.args[0] }},
		{"ServerAlias", 1, -1, "HOST...", inVHost, func(p *parser, c *call) { p.server.ServerAliases = append(p.server.ServerAliases, c.args...) }},
		{"ServerAdmin", 1, 1, "EMAIL-OR-URL", inServer, func(p *parser, c *call) { p.server.ServerAdmin = c.args[0] }},
		{"DocumentRoot", 1, 1, "DIR", inServer, func(p *parser, c *call) { p.server.DocumentRoot = c.args[0] }},
		{"ProxyPass", 1, -1, "PATH URL [key=value...] or PATH !", inServer | inLocation, (*parser).proxyPass},
		{"ProxyPassMatch", 2, -1, "REGEX URL [key=value...] or REGEX !", inServer, (*parser).proxyPassMatch},
		{"BalancerMember", 1, -1, "URL [key=value...]", inServer | inProxy, (*parser).balancerMember},
		{"ProxySet", 1, -1, "[balancer://NAME] key=value...", inServer | inProxy, (*parser).proxySet},
		{"ProxySCGIInternalRedirect", 1, 1, "On|Off|HEADER", inServer | inLocation, func(p *parser, c *call) { p.onOffHeader(c, p.internalRedirect()) }},
		{"ProxySCGISendfile", 1, 1, "On|Off|HEADER", inServer | inLocation, func(p *parser, c *call) { p.onOffHeader(c, p.sendfile()) }},
		{"SetEnv", 1, 2, "NAME [VALUE]", inServer | inLocation, (*parser).setEnv},
		{"CGIPassAuth", 1, 1, "On|Off", inServer | inLocation, (*parser).cgiPassAuth},
		{"SetHandler", 1, 1, "HANDLER", inLocation, func(p *parser, c *call) { p.location.Handler = c.args[0] }},
		{"Require", 1, -1, "ENTITY...", inLocation | inProxy, (*parser).require},
	} {
		directives[strings.ToLower(d.name)] = d
	}
	for _, group := range ignoredDirectives {
		for _, name := range group.names {
			ignored[strings.ToLower(name)] = ignoredDirective{name, group.reason}
		}
	}
}

type ignoredDirective struct{ name, reason string }

var ignored = map[string]ignoredDirective{}

// ignoredDirectives are Apache's directives that mean nothing to scgate:
// accepted, with a notice, so an Apache configuration pastes as it is.
var ignoredDirectives = []struct {
	names  []string
	reason string
}{
	{[]string{"LoadModule", "LoadFile"}, "scgate's modules are built in"},
	{[]string{"User", "Group"}, "scgate runs as the user that starts it"},
	{[]string{"ServerRoot"}, "relative paths are taken from the working directory, Include paths from the including file"},
	{[]string{"ServerTokens", "ServerSignature", "TraceEnable", "UseCanonicalName", "HostnameLookups", "AcceptFilter"}, "not configurable in scgate"},
	{[]string{"Mutex", "DefaultRuntimeDir", "ScoreBoardFile", "CoreDumpDirectory"}, "scgate keeps no lock files, scoreboard or runtime directory"},
	{[]string{"AddDefaultCharset"}, "scgate passes the backend's Content-Type as it is"},
	{[]string{"EnableSendfile", "EnableMMAP"}, "scgate sends files with sendfile(2) where it can"},
	{[]string{"StartServers", "ServerLimit", "MaxRequestWorkers", "MaxClients", "MinSpareServers", "MaxSpareServers",
		"MinSpareThreads", "MaxSpareThreads", "ThreadsPerChild", "ThreadLimit", "ThreadStackSize",
		"MaxConnectionsPerChild", "MaxRequestsPerChild", "ListenBacklog", "GracefulShutdownTimeout", "AsyncRequestWorkerFactor"},
		"scgate runs one event loop per core, not an MPM"},
	{[]string{"ProxyRequests"}, "scgate is a reverse gateway, never a forward proxy"},
	{[]string{"ProxyVia", "ProxyPreserveHost", "ProxyAddHeaders", "ProxyPassReverse", "ProxyPassReverseCookieDomain",
		"ProxyPassReverseCookiePath", "ProxyIOBufferSize", "ProxyReceiveBufferSize"}, "it concerns HTTP backends; SCGI backends get the request in CGI variables"},
	{[]string{"Options", "AllowOverride", "AccessFileName", "DirectoryIndex", "TypesConfig", "AddType", "AddEncoding",
		"AddCharset", "AddLanguage", "AddHandler", "MIMEMagicFile", "FileETag", "IndexOptions"}, "scgate serves no files of its own"},
	{[]string{"ExtendedStatus", "BufferedLogs"}, "not configurable in scgate"},
}

// asciiLower lower-cases A-Z only: Apache matches directive names in ASCII,
// so "İnclude" (a dotted capital I) is not Include.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func (p *parser) directive(file string, line int, name string, args []string) {
	key := asciiLower(name)
	if ig, ok := ignored[key]; ok {
		p.noticef(file, line, "%s ignored: %s", ig.name, ig.reason)
		return
	}
	d, ok := directives[key]
	if !ok {
		p.errorf(file, line, "unknown directive %s: scgate reads Apache's mod_proxy_scgi directives and a few core ones (see scgate.conf.example)", name)
		return
	}
	c := &call{name: d.name, args: args, file: file, line: line}
	if here := p.context(); d.where&here == 0 {
		p.errorf(file, line, "%s is not allowed %s; it is allowed %s", d.name, here, d.where)
		return
	}
	if len(args) < d.min || (d.max >= 0 && len(args) > d.max) {
		p.usageError(c, d.usage)
		return
	}
	d.run(p, c)
}

func (p *parser) usageError(c *call, usage string) {
	got := "no arguments"
	switch n := len(c.args); n {
	case 0:
	case 1:
		got = "1 argument"
	default:
		got = fmt.Sprintf("%d arguments", n)
	}
	hint := ""
	for _, a := range c.args {
		if strings.HasPrefix(a, "#") {
			hint = " (# starts a comment only at the start of a line)"
		}
	}
	p.errorf(c.file, c.line, "%s expects %s, got %s%s", c.name, usage, got, hint)
}

// block opens a <Block>: it sets the context for what follows, or marks its
// contents to be skipped.
func (p *parser) block(f *frame, args []string) {
	here := p.context()
	wrongPlace := func(allowed where) bool {
		if allowed&here != 0 {
			return false
		}
		p.errorf(f.file, f.line, "<%s> is not allowed %s; it is allowed %s", f.tag, here, allowed)
		return true
	}
	oneArg := func(usage string) bool {
		if len(args) == 1 {
			return true
		}
		p.errorf(f.file, f.line, "<%s> expects %s, got %d arguments", f.tag, usage, len(args))
		return false
	}
	skip := func() {
		f.skip = true
		p.push(f)
	}
	switch asciiLower(f.tag) {
	case "virtualhost":
		if wrongPlace(atTop) {
			skip()
			return
		}
		if len(args) == 0 {
			p.errorf(f.file, f.line, "<VirtualHost> expects ADDR[:PORT]..., got no arguments")
			skip()
			return
		}
		s := &Server{Addrs: args, File: f.file, Line: f.line}
		p.cfg.VirtualHosts = append(p.cfg.VirtualHosts, s)
		p.push(f)
		p.server = s
	case "location":
		if wrongPlace(inServer) || !oneArg("PATH") {
			skip()
			return
		}
		path := args[0]
		if path == "~" || !strings.HasPrefix(path, "/") {
			p.errorf(f.file, f.line, "<Location> expects a URL path starting with /, got %q (regular-expression locations are not supported)", path)
			skip()
			return
		}
		loc := &Location{Path: path, File: f.file, Line: f.line}
		p.server.Locations = append(p.server.Locations, loc)
		p.push(f)
		p.location = loc
	case "proxy":
		if wrongPlace(inServer) || !oneArg("balancer://NAME") {
			skip()
			return
		}
		name, isBalancer, err := balancerURL(args[0])
		if !isBalancer {
			p.noticef(f.file, f.line, "%s ignored: only <Proxy balancer://NAME> blocks mean something to scgate; its contents were skipped", f.display)
			skip()
			return
		}
		if err != nil {
			p.errorf(f.file, f.line, "<Proxy>: %v", err)
			skip()
			return
		}
		b := p.balancerNamed(name, f.file, f.line)
		p.push(f)
		p.balancer = b
	case "ifmodule":
		if !oneArg("MODULE or !MODULE") {
			skip()
			return
		}
		name, negated := strings.CutPrefix(args[0], "!")
		if scgateModule(name) != negated {
			p.push(f)
			return
		}
		why := "scgate does no work of " + name
		if negated {
			why = "scgate does the work of " + name
		}
		p.noticef(f.file, f.line, "%s ignored: %s, so its contents were skipped", f.display, why)
		skip()
	case "ifdefine":
		if !oneArg("NAME or !NAME") {
			skip()
			return
		}
		if strings.HasPrefix(args[0], "!") {
			p.push(f)
			return
		}
		p.noticef(f.file, f.line, "%s ignored: scgate defines no parameters, so its contents were skipped", f.display)
		skip()
	case "directory", "directorymatch", "files", "filesmatch":
		p.noticef(f.file, f.line, "%s ignored: scgate serves no files of its own, so its contents were skipped", f.display)
		skip()
	default:
		p.errorf(f.file, f.line, "unknown block <%s>: scgate reads <VirtualHost>, <Location>, <Proxy balancer://NAME>, <IfModule> and <IfDefine>, and skips <Directory> and <Files>", f.tag)
		skip()
	}
}

// scgateModule reports whether an <IfModule> names one of the Apache
// modules whose job scgate does, by module name or source file name.
func scgateModule(name string) bool {
	n := strings.ToLower(name)
	n = strings.TrimPrefix(n, "mod_")
	n = strings.TrimSuffix(strings.TrimSuffix(n, ".c"), "_module")
	switch n {
	case "proxy", "proxy_scgi", "proxy_balancer", "reqtimeout", "log_config", "env", "slotmem_shm", "core", "http", "http_core", "so":
		return true
	}
	return strings.HasPrefix(n, "lbmethod_")
}

func (p *parser) listen(c *call) {
	addr := c.args[0]
	port := addr
	if strings.Contains(addr, ":") {
		var err error
		if _, port, err = net.SplitHostPort(addr); err != nil {
			p.errorf(c.file, c.line, "Listen expects [IP:]PORT (an IPv6 address in brackets: [::1]:80), got %q", addr)
			return
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		p.errorf(c.file, c.line, "Listen expects [IP:]PORT with a port from 1 to 65535, got %q", addr)
		return
	}
	if len(c.args) == 2 && !strings.EqualFold(c.args[1], "http") {
		p.errorf(c.file, c.line, "Listen: protocol %q is not supported; scgate speaks http", c.args[1])
		return
	}
	p.cfg.Listen = append(p.cfg.Listen, Located[string]{addr, c.file, c.line})
}

func (p *parser) sendfileRoot(c *call) {
	if !filepath.IsAbs(c.args[0]) {
		p.errorf(c.file, c.line, "SCGISendfileRoot expects an absolute directory, got %q", c.args[0])
		return
	}
	p.cfg.SendfileRoots = append(p.cfg.SendfileRoots, Located[string]{c.args[0], c.file, c.line})
}

// maxSeconds keeps a time.Duration of seconds far from overflow.
const maxSeconds = math.MaxInt32

func (p *parser) seconds(c *call, dst *time.Duration) {
	n, err := strconv.ParseInt(c.args[0], 10, 64)
	if err != nil || n < 1 || n > maxSeconds {
		p.errorf(c.file, c.line, "%s expects a whole number of seconds from 1 to %d, got %q", c.name, maxSeconds, c.args[0])
		return
	}
	*dst = time.Duration(n) * time.Second
}

func (p *parser) keepAliveTimeout(c *call) {
	v := c.args[0]
	unit := time.Second
	if s, ok := strings.CutSuffix(strings.ToLower(v), "ms"); ok {
		v, unit = s, time.Millisecond
	} else if s, ok := strings.CutSuffix(strings.ToLower(v), "s"); ok {
		v = s
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > maxSeconds {
		p.errorf(c.file, c.line, "KeepAliveTimeout expects a whole number of seconds (or milliseconds followed by ms) from 1, got %q (use KeepAlive Off to turn keep-alive off)", c.args[0])
		return
	}
	p.cfg.KeepAliveTimeout = time.Duration(n) * unit
}

// requestReadTimeout reads mod_reqtimeout's header= and body= settings.
// A range (header=20-40) takes its first number and MinRate is dropped,
// each with a notice: scgate's timeouts do not grow as data arrives.
func (p *parser) requestReadTimeout(c *call) {
	for _, arg := range c.args {
		key, value, ok := strings.Cut(arg, "=")
		var dst *time.Duration
		switch strings.ToLower(key) {
		case "header":
			dst = &p.cfg.HeaderTimeout
		case "body":
			dst = &p.cfg.BodyTimeout
		case "handshake":
			p.noticef(c.file, c.line, "RequestReadTimeout %s ignored: scgate speaks no TLS", arg)
			continue
		}
		if !ok || dst == nil {
			p.errorf(c.file, c.line, "RequestReadTimeout expects header=SECONDS and body=SECONDS (or N-M,MinRate=R), got %q", arg)
			continue
		}
		first, rest, _ := strings.Cut(value, ",")
		lo, hi, isRange := strings.Cut(first, "-")
		n, err := strconv.ParseInt(lo, 10, 64)
		bad := err != nil || n < 0 || n > maxSeconds
		if isRange {
			m, err := strconv.ParseInt(hi, 10, 64)
			bad = bad || err != nil || m < n || m > maxSeconds
		}
		minRate := false
		if rest != "" {
			k, v, _ := strings.Cut(rest, "=")
			r, err := strconv.ParseInt(v, 10, 64)
			bad = bad || !strings.EqualFold(k, "MinRate") || err != nil || r < 0
			minRate = true
		}
		if bad {
			p.errorf(c.file, c.line, "RequestReadTimeout %s: want %s=SECONDS, %s=MIN-MAX or either followed by ,MinRate=BYTES-PER-SECOND", arg, key, key)
			continue
		}
		if n == 0 {
			p.noticef(c.file, c.line, "RequestReadTimeout %s ignored: scgate always times out %s reads, so its default stays", arg, strings.ToLower(key))
			continue
		}
		var dropped []string
		if isRange {
			dropped = append(dropped, "the range")
		}
		if minRate {
			dropped = append(dropped, "MinRate")
		}
		if dropped != nil {
			p.noticef(c.file, c.line, "RequestReadTimeout %s: %s ignored: scgate uses a fixed %ds", arg, strings.Join(dropped, " and "), n)
		}
		*dst = time.Duration(n) * time.Second
	}
}

func (p *parser) count(c *call, dst **int) {
	n, err := strconv.ParseInt(c.args[0], 10, 64)
	if err != nil || n < 0 || n > math.MaxInt32 {
		p.errorf(c.file, c.line, "%s expects a whole number from 0 to %d, got %q", c.name, math.MaxInt32, c.args[0])
		return
	}
	v := int(n)
	*dst = &v
}

func (p *parser) limitRequestBody(c *call) {
	n, err := strconv.ParseInt(c.args[0], 10, 64)
	if err != nil || n < 0 {
		p.errorf(c.file, c.line, "LimitRequestBody expects a whole number of bytes (0 = no limit), got %q", c.args[0])
		return
	}
	p.cfg.LimitRequestBody = &n
}

func parseOnOff(v string) (on, ok bool) {
	switch strings.ToLower(v) {
	case "on":
		return true, true
	case "off":
		return false, true
	}
	return false, false
}

func (p *parser) onOff(c *call, dst **bool) {
	on, ok := parseOnOff(c.args[0])
	if !ok {
		p.errorf(c.file, c.line, "%s expects On or Off, got %q", c.name, c.args[0])
		return
	}
	*dst = &on
}

func (p *parser) cgiPassAuth(c *call) {
	if p.location != nil {
		p.onOff(c, &p.location.CGIPassAuth)
	} else {
		p.onOff(c, &p.server.CGIPassAuth)
	}
}

func (p *parser) internalRedirect() *string {
	if p.location != nil {
		return &p.location.InternalRedirect
	}
	return &p.server.InternalRedirect
}

func (p *parser) sendfile() *string {
	if p.location != nil {
		return &p.location.Sendfile
	}
	return &p.server.Sendfile
}

// onOffHeader reads On, Off (stored so spelled) or a header name (as written).
func (p *parser) onOffHeader(c *call, dst *string) {
	v := c.args[0]
	if on, ok := parseOnOff(v); ok {
		*dst = "Off"
		if on {
			*dst = "On"
		}
		return
	}
	if !isToken(v) {
		p.errorf(c.file, c.line, "%s expects On, Off or a header name, got %q", c.name, v)
		return
	}
	*dst = v
}

func (p *parser) setEnv(c *call) {
	e := EnvVar{Name: c.args[0]}
	if len(c.args) == 2 {
		e.Value = c.args[1]
	}
	if p.location != nil {
		p.location.SetEnv = append(p.location.SetEnv, e)
	} else {
		p.server.SetEnv = append(p.server.SetEnv, e)
	}
}

func (p *parser) require(c *call) {
	if p.balancer != nil {
		p.noticef(c.file, c.line, "Require ignored: scgate does no access control inside <Proxy>")
		return
	}
	p.location.Require = append(p.location.Require, strings.Join(c.args, " "))
}

func (p *parser) errorLog(c *call) {
	if p.server != p.cfg.Main {
		p.noticef(c.file, c.line, "ErrorLog ignored: scgate has one error log, set at top level")
		return
	}
	p.cfg.ErrorLog = c.args[0]
}

var logLevels = map[string]bool{
	"emerg": true, "alert": true, "crit": true, "error": true, "warn": true, "notice": true, "info": true, "debug": true,
	"trace1": true, "trace2": true, "trace3": true, "trace4": true, "trace5": true, "trace6": true, "trace7": true, "trace8": true,
}

// logLevel keeps the level word; per-module levels (proxy:debug) and
// levels inside a block are noted and dropped.
func (p *parser) logLevel(c *call) {
	level := ""
	for _, a := range c.args {
		module, l, perModule := strings.Cut(a, ":")
		if !perModule {
			l = a
		}
		if !logLevels[strings.ToLower(l)] {
			p.errorf(c.file, c.line, "LogLevel expects one of emerg, alert, crit, error, warn, notice, info, debug, trace1..trace8 (or MODULE:LEVEL), got %q", a)
			return
		}
		if perModule {
			p.noticef(c.file, c.line, "LogLevel %s ignored: scgate has one log level, not one per module (%s)", a, module)
		} else {
			level = strings.ToLower(l)
		}
	}
	if level == "" {
		return
	}
	if here := p.context(); here != atTop {
		p.noticef(c.file, c.line, "LogLevel ignored: scgate has one log level, set at top level, not %s", here)
		return
	}
	p.cfg.LogLevel = level
}

func (p *parser) logFormat(c *call) {
	if len(c.args) == 1 {
		p.noticef(c.file, c.line, "LogFormat ignored: without a nickname it sets TransferLog's format, and scgate has no TransferLog")
		return
	}
	p.logFormats[c.args[1]] = c.args[0]
}

// logRef is a CustomLog whose format is resolved once every LogFormat is read, as Apache does.
type logRef struct {
	index  int
	format string
}

func (p *parser) customLog(c *call) {
	if len(c.args) == 3 {
		cond := strings.ToLower(c.args[2])
		if !strings.HasPrefix(cond, "env=") && !strings.HasPrefix(cond, "expr=") {
			p.usageError(c, "PATH FORMAT-OR-NICKNAME [env=[!]VAR|expr=EXPR]")
			return
		}
		p.noticef(c.file, c.line, "CustomLog condition %s ignored: scgate logs every request", c.args[2])
	}
	p.logRefs = append(p.logRefs, logRef{len(p.cfg.CustomLogs), c.args[1]})
	p.cfg.CustomLogs = append(p.cfg.CustomLogs, CustomLog{Path: c.args[0], File: c.file, Line: c.line})
}

// resolveLogs gives each CustomLog its format: a nickname's, or the literal format.
func (p *parser) resolveLogs() {
	for _, r := range p.logRefs {
		cl := &p.cfg.CustomLogs[r.index]
		if f, ok := p.logFormats[r.format]; ok {
			cl.Format = f
		} else if strings.Contains(r.format, "%") {
			cl.Format = r.format
		} else {
			p.errorf(cl.File, cl.Line, "CustomLog: no LogFormat is named %q (define it with LogFormat \"FORMAT\" %s, or give the format itself)", r.format, r.format)
		}
	}
}

func (p *parser) proxyPass(c *call) {
	pass := Pass{File: c.file, Line: c.line}
	if p.location != nil {
		if len(c.args) >= 2 && strings.HasPrefix(c.args[0], "/") && !strings.Contains(c.args[0], "://") {
			p.errorf(c.file, c.line, "ProxyPass inside <Location> expects URL [key=value...] or !: the path is the Location's (%s)", p.location.Path)
			return
		}
		pass.Path, pass.URL, pass.Params = p.location.Path, c.args[0], tail(c.args, 1)
	} else {
		if len(c.args) < 2 {
			p.usageError(c, "PATH URL [key=value...] or PATH !")
			return
		}
		if !strings.HasPrefix(c.args[0], "/") {
			p.errorf(c.file, c.line, "ProxyPass expects a URL path starting with / first, got %q", c.args[0])
			return
		}
		pass.Path, pass.URL, pass.Params = c.args[0], c.args[1], tail(c.args, 2)
	}
	if p.checkTarget(c, pass.URL, pass.Params) {
		p.server.Passes = append(p.server.Passes, pass)
	}
}

func (p *parser) proxyPassMatch(c *call) {
	if _, err := regexp.Compile(c.args[0]); err != nil {
		p.errorf(c.file, c.line, "ProxyPassMatch: %v (Go's regexp syntax, RE2)", err)
		return
	}
	pass := Pass{Path: c.args[0], Regexp: true, URL: c.args[1], Params: tail(c.args, 2), File: c.file, Line: c.line}
	if p.checkTarget(c, pass.URL, pass.Params) {
		p.server.Passes = append(p.server.Passes, pass)
	}
}

// checkTarget checks a ProxyPass URL (or !) and the key=value parameters after it.
func (p *parser) checkTarget(c *call, url string, params []string) bool {
	if url == "!" {
		if len(params) > 0 {
			p.errorf(c.file, c.line, "%s with ! (an exclusion) takes no parameters, got %q", c.name, params[0])
			return false
		}
		return true
	}
	if !strings.Contains(url, "://") {
		p.errorf(c.file, c.line, "%s expects scgi://HOST:PORT/, unix:/PATH|scgi://localhost/, balancer://NAME/ or !, got %q", c.name, url)
		return false
	}
	if _, isBalancer, err := balancerURL(url); isBalancer && err != nil {
		p.errorf(c.file, c.line, "%s: %v", c.name, err)
		return false
	}
	return p.checkParams(c, params)
}

func (p *parser) checkParams(c *call, params []string) bool {
	for _, kv := range params {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			hint := ""
			if strings.HasPrefix(kv, "#") {
				hint = " (# starts a comment only at the start of a line)"
			}
			p.errorf(c.file, c.line, "%s expects key=value parameters, got %q%s", c.name, kv, hint)
			return false
		}
	}
	return true
}

// balancerURL reads balancer://NAME[/]: isBalancer tells whether url has the
// scheme at all, err whether the rest is a name.
func balancerURL(url string) (name string, isBalancer bool, err error) {
	if len(url) < len("balancer://") || !strings.EqualFold(url[:len("balancer://")], "balancer://") {
		return "", false, nil
	}
	name = strings.ToLower(strings.TrimSuffix(url[len("balancer://"):], "/"))
	if name == "" || strings.ContainsAny(name, "/ ") {
		return "", true, fmt.Errorf("%q is not balancer://NAME/", url)
	}
	return name, true, nil
}

// balancerNamed finds the balancer of that name, or declares it here.
func (p *parser) balancerNamed(name, file string, line int) *Balancer {
	for _, b := range p.cfg.Balancers {
		if b.Name == name {
			return b
		}
	}
	b := &Balancer{Name: name, File: file, Line: line}
	p.cfg.Balancers = append(p.cfg.Balancers, b)
	return b
}

// targetBalancer is the balancer a BalancerMember or ProxySet line is for: the
// enclosing <Proxy>, or the balancer:// URL it starts with. It returns the
// arguments after that URL.
func (p *parser) targetBalancer(c *call, usage string) (*Balancer, []string) {
	name, isBalancer, err := balancerURL(c.args[0])
	if err != nil {
		p.errorf(c.file, c.line, "%s: %v", c.name, err)
		return nil, nil
	}
	switch {
	case isBalancer && p.balancer != nil && name != p.balancer.Name:
		p.errorf(c.file, c.line, "%s names balancer://%s inside <Proxy balancer://%s>", c.name, name, p.balancer.Name)
		return nil, nil
	case isBalancer:
		return p.balancerNamed(name, c.file, c.line), c.args[1:]
	case p.balancer != nil:
		return p.balancer, c.args
	}
	p.errorf(c.file, c.line, "%s outside <Proxy balancer://NAME> must name its balancer: %s balancer://NAME %s", c.name, c.name, usage)
	return nil, nil
}

func (p *parser) balancerMember(c *call) {
	b, args := p.targetBalancer(c, "URL [key=value...]")
	if b == nil {
		return
	}
	if len(args) == 0 {
		p.usageError(c, "URL [key=value...]")
		return
	}
	if !strings.Contains(args[0], "://") || args[0] == "!" {
		p.errorf(c.file, c.line, "BalancerMember expects scgi://HOST:PORT/ or unix:/PATH|scgi://localhost/, got %q", args[0])
		return
	}
	if _, isBalancer, _ := balancerURL(args[0]); isBalancer {
		p.errorf(c.file, c.line, "BalancerMember expects a member URL, got the balancer %q", args[0])
		return
	}
	if !p.checkParams(c, args[1:]) {
		return
	}
	b.Members = append(b.Members, Member{URL: args[0], Params: tail(args, 1), File: c.file, Line: c.line})
}

func (p *parser) proxySet(c *call) {
	if _, isBalancer, _ := balancerURL(c.args[0]); !isBalancer && p.balancer == nil && strings.Contains(c.args[0], "://") {
		p.errorf(c.file, c.line, "ProxySet for a single backend (%s) is not supported: put its key=value parameters on its ProxyPass or BalancerMember line", c.args[0])
		return
	}
	b, args := p.targetBalancer(c, "key=value...")
	if b == nil {
		return
	}
	if len(args) == 0 {
		p.usageError(c, "[balancer://NAME] key=value...")
		return
	}
	if !p.checkParams(c, args) {
		return
	}
	for _, kv := range args {
		b.Params = append(b.Params, Located[string]{kv, c.file, c.line})
	}
}

// isToken reports whether s is an HTTP header name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// tail is args[i:], nil when empty.
func tail(args []string, i int) []string {
	if len(args) <= i {
		return nil
	}
	return args[i:]
}
