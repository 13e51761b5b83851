package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func parseText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	return Parse("t.conf", strings.NewReader(text))
}

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := parseText(t, text)
	if err != nil {
		t.Fatalf("parse %q:\n%v", text, err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func TestSeedExamples(t *testing.T) {
	t.Run("single backend", func(t *testing.T) {
		c := mustParse(t, "ProxyPass /scgi-bin/ scgi://localhost:4000/\n")
		want := []Pass{{Path: "/scgi-bin/", URL: "scgi://localhost:4000/", File: "t.conf", Line: 1}}
		if !reflect.DeepEqual(c.Main.Passes, want) {
			t.Errorf("Passes = %+v, want %+v", c.Main.Passes, want)
		}
	})
	t.Run("balancer", func(t *testing.T) {
		c := mustParse(t, `ProxyPass /scgi-bin/ balancer://somecluster/
<Proxy balancer://somecluster/>
    BalancerMember scgi://localhost:4000/
    BalancerMember scgi://localhost:4001/
</Proxy>
`)
		wantPass := []Pass{{Path: "/scgi-bin/", URL: "balancer://somecluster/", File: "t.conf", Line: 1}}
		if !reflect.DeepEqual(c.Main.Passes, wantPass) {
			t.Errorf("Passes = %+v, want %+v", c.Main.Passes, wantPass)
		}
		want := []*Balancer{{Name: "somecluster", File: "t.conf", Line: 2, Members: []Member{
			{URL: "scgi://localhost:4000/", File: "t.conf", Line: 3},
			{URL: "scgi://localhost:4001/", File: "t.conf", Line: 4},
		}}}
		if !reflect.DeepEqual(c.Balancers, want) {
			t.Errorf("Balancers = %+v, want %+v", c.Balancers[0], want[0])
		}
	})
	t.Run("internal redirect off", func(t *testing.T) {
		c := mustParse(t, "ProxySCGIInternalRedirect Off\n")
		if c.Main.InternalRedirect != "Off" {
			t.Errorf("InternalRedirect = %q", c.Main.InternalRedirect)
		}
	})
	t.Run("sendfile", func(t *testing.T) {
		c := mustParse(t, "# Use the default header (X-Sendfile)\nProxySCGISendfile On\n")
		if c.Main.Sendfile != "On" {
			t.Errorf("Sendfile = %q", c.Main.Sendfile)
		}
		c = mustParse(t, "# Use a different header\nProxySCGISendfile X-Send-Static\n")
		if c.Main.Sendfile != "X-Send-Static" {
			t.Errorf("Sendfile = %q", c.Main.Sendfile)
		}
	})
	t.Run("all together", func(t *testing.T) {
		c := mustParse(t, `ProxyPass /scgi-bin/ scgi://localhost:4000/

ProxyPass /scgi-bin/ balancer://somecluster/
<Proxy balancer://somecluster/>
    BalancerMember scgi://localhost:4000/
    BalancerMember scgi://localhost:4001/
</Proxy>

ProxySCGIInternalRedirect Off

# Use the default header (X-Sendfile)
ProxySCGISendfile On
# Use a different header
ProxySCGISendfile X-Send-Static
`)
		if len(c.Main.Passes) != 2 || len(c.Balancers) != 1 || c.Main.InternalRedirect != "Off" || c.Main.Sendfile != "X-Send-Static" || len(c.Notices) != 0 {
			t.Errorf("got %+v, notices %q", c.Main, c.Notices)
		}
	})
}

// TestDirectives parses one good use of each directive and checks what it filled.
func TestDirectives(t *testing.T) {
	tests := []struct {
		conf string
		got  func(c *Config) any
		want any
	}{
		{"Listen 8080", func(c *Config) any { return c.Listen }, []Located[string]{{"8080", "t.conf", 1}}},
		{"Listen 127.0.0.1:8080\nListen [::1]:80 http", func(c *Config) any { return c.Listen },
			[]Located[string]{{"127.0.0.1:8080", "t.conf", 1}, {"[::1]:80", "t.conf", 2}}},
		{"PidFile /run/scgate.pid", func(c *Config) any { return c.PidFile }, "/run/scgate.pid"},
		{"ErrorLog logs/error.log", func(c *Config) any { return c.ErrorLog }, "logs/error.log"},
		{"LogLevel WARN", func(c *Config) any { return c.LogLevel }, "warn"},
		{"LogLevel trace8", func(c *Config) any { return c.LogLevel }, "trace8"},
		{"LogLevel info proxy:debug", func(c *Config) any { return c.LogLevel }, "info"},
		{"CustomLog logs/access.log common", func(c *Config) any { return c.CustomLogs },
			[]CustomLog{{"logs/access.log", `%h %l %u %t "%r" %>s %b`, "t.conf", 1}}},
		{"CustomLog a.log combined", func(c *Config) any { return c.CustomLogs[0].Format },
			`%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`},
		{`CustomLog a.log "%h %>s"`, func(c *Config) any { return c.CustomLogs[0].Format }, "%h %>s"},
		{"CustomLog a.log mine\nLogFormat \"%h \\\"%r\\\"\" mine", func(c *Config) any { return c.CustomLogs[0].Format }, `%h "%r"`},
		{"LogFormat \"%h\" common\nCustomLog a.log common", func(c *Config) any { return c.CustomLogs[0].Format }, "%h"},
		{"CustomLog a.log common env=!dontlog", func(c *Config) any { return len(c.CustomLogs) }, 1},
		{"Timeout 30", func(c *Config) any { return c.Timeout }, 30 * time.Second},
		{"ProxyTimeout 5", func(c *Config) any { return c.ProxyTimeout }, 5 * time.Second},
		{"RequestReadTimeout header=10 body=20", func(c *Config) any { return [2]time.Duration{c.HeaderTimeout, c.BodyTimeout} },
			[2]time.Duration{10 * time.Second, 20 * time.Second}},
		{"RequestReadTimeout header=20-40,MinRate=500 body=20,MinRate=500", func(c *Config) any { return [2]time.Duration{c.HeaderTimeout, c.BodyTimeout} },
			[2]time.Duration{20 * time.Second, 20 * time.Second}},
		{"KeepAlive Off", func(c *Config) any { return c.KeepAlive }, ptr(false)},
		{"keepalive on", func(c *Config) any { return c.KeepAlive }, ptr(true)},
		{"KeepAliveTimeout 5", func(c *Config) any { return c.KeepAliveTimeout }, 5 * time.Second},
		{"KeepAliveTimeout 250ms", func(c *Config) any { return c.KeepAliveTimeout }, 250 * time.Millisecond},
		{"MaxKeepAliveRequests 0", func(c *Config) any { return c.MaxKeepAliveRequests }, ptr(0)},
		{"MaxConnections 1000", func(c *Config) any { return c.MaxConnections }, ptr(1000)},
		{"LimitRequestBody 1048576", func(c *Config) any { return c.LimitRequestBody }, ptr(int64(1048576))},
		{"LimitRequestLine 4096", func(c *Config) any { return c.LimitRequestLine }, ptr(4096)},
		{"LimitRequestFieldSize 8190", func(c *Config) any { return c.LimitRequestFieldSize }, ptr(8190)},
		{"LimitRequestFields 50", func(c *Config) any { return c.LimitRequestFields }, ptr(50)},
		{"SCGISendfileRoot /srv/a\nSCGISendfileRoot /srv/b", func(c *Config) any { return c.SendfileRoots },
			[]Located[string]{{"/srv/a", "t.conf", 1}, {"/srv/b", "t.conf", 2}}},
		{"ServerName www.example.com:80", func(c *Config) any { return c.Main.ServerName }, "www.example.com:80"},
		{"ServerAdmin root@example.com", func(c *Config) any { return c.Main.ServerAdmin }, "root@example.com"},
		{"DocumentRoot /var/www", func(c *Config) any { return c.Main.DocumentRoot }, "/var/www"},
		{"ProxyPass /a/ scgi://h:1/ timeout=5 retry=0", func(c *Config) any { return c.Main.Passes },
			[]Pass{{Path: "/a/", URL: "scgi://h:1/", Params: []string{"timeout=5", "retry=0"}, File: "t.conf", Line: 1}}},
		{"ProxyPass /a/private/ !", func(c *Config) any { return c.Main.Passes },
			[]Pass{{Path: "/a/private/", URL: "!", File: "t.conf", Line: 1}}},
		{`ProxyPass /u/ "unix:/run/a.sock|scgi://localhost/"`, func(c *Config) any { return c.Main.Passes[0].URL }, "unix:/run/a.sock|scgi://localhost/"},
		{`ProxyPassMatch ^/(.*\.py)$ scgi://h:1/$1 timeout=3`, func(c *Config) any { return c.Main.Passes },
			[]Pass{{Path: `^/(.*\.py)$`, Regexp: true, URL: "scgi://h:1/$1", Params: []string{"timeout=3"}, File: "t.conf", Line: 1}}},
		{"ProxySCGIInternalRedirect X-Location", func(c *Config) any { return c.Main.InternalRedirect }, "X-Location"},
		{"proxyscgiinternalredirect ON", func(c *Config) any { return c.Main.InternalRedirect }, "On"},
		{"ProxySCGISendfile off", func(c *Config) any { return c.Main.Sendfile }, "Off"},
		{"SetEnv A 1\nSetEnv B\nSetEnv C \"two words\"", func(c *Config) any { return c.Main.SetEnv },
			[]EnvVar{{"A", "1"}, {"B", ""}, {"C", "two words"}}},
		{"CGIPassAuth On", func(c *Config) any { return c.Main.CGIPassAuth }, ptr(true)},
		{"<Proxy balancer://C>\nBalancerMember scgi://h:1/ loadfactor=2 route=a\nProxySet lbmethod=bybusyness\n</Proxy>",
			func(c *Config) any { return c.Balancers },
			[]*Balancer{{Name: "c", File: "t.conf", Line: 1,
				Members: []Member{{URL: "scgi://h:1/", Params: []string{"loadfactor=2", "route=a"}, File: "t.conf", Line: 2}},
				Params:  []Located[string]{{"lbmethod=bybusyness", "t.conf", 3}}}}},
		{"<Proxy balancer://c/>\nProxySet balancer://C/ stickysession=ID maxattempts=1\n</Proxy>",
			func(c *Config) any { return c.Balancers[0].Params },
			[]Located[string]{{"stickysession=ID", "t.conf", 2}, {"maxattempts=1", "t.conf", 2}}},
		{"ProxySet balancer://late hashkey=ip\nBalancerMember balancer://late scgi://h:1/\n<Proxy balancer://late>\nBalancerMember scgi://h:2/\n</Proxy>",
			func(c *Config) any {
				b := c.Balancers[0]
				return []any{len(c.Balancers), b.Name, b.Line, len(b.Members), b.Params[0].Value}
			},
			[]any{1, "late", 1, 2, "hashkey=ip"}},
		{"<Location /a/>\nSetHandler \"proxy:scgi://h:1/\"\nRequire all granted\nRequire ip 10.0.0.0/8\n</Location>",
			func(c *Config) any { return c.Main.Locations },
			[]*Location{{Path: "/a/", Handler: "proxy:scgi://h:1/", Require: []string{"all granted", "ip 10.0.0.0/8"}, File: "t.conf", Line: 1}}},
		{"<Location /a/>\nProxySCGIInternalRedirect Off\nProxySCGISendfile X-Accel\nSetEnv K v\nCGIPassAuth off\n</Location>",
			func(c *Config) any { return c.Main.Locations },
			[]*Location{{Path: "/a/", InternalRedirect: "Off", Sendfile: "X-Accel", SetEnv: []EnvVar{{"K", "v"}}, CGIPassAuth: ptr(false), File: "t.conf", Line: 1}}},
		{"<Location /app/>\n  ProxyPass scgi://h:1/ timeout=9\n</Location>\n<Location /app/static/>\n  ProxyPass !\n</Location>",
			func(c *Config) any { return c.Main.Passes },
			[]Pass{{Path: "/app/", URL: "scgi://h:1/", Params: []string{"timeout=9"}, File: "t.conf", Line: 2},
				{Path: "/app/static/", URL: "!", File: "t.conf", Line: 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.conf, func(t *testing.T) {
			c := mustParse(t, tt.conf)
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestDirectiveErrors checks the exact message for each kind of misuse.
func TestDirectiveErrors(t *testing.T) {
	tests := []struct{ conf, want string }{
		// unknown, and arguments
		{"Frobnicate yes", "t.conf:1: unknown directive Frobnicate: scgate reads Apache's mod_proxy_scgi directives and a few core ones (see scgate.conf.example)"},
		{"ProxyPass /scgi-bin/", "t.conf:1: ProxyPass expects PATH URL [key=value...] or PATH !, got 1 argument"},
		{"ProxyPass", "t.conf:1: ProxyPass expects PATH URL [key=value...] or PATH !, got no arguments"},
		{"Timeout 1 2", "t.conf:1: Timeout expects SECONDS, got 2 arguments"},
		{"PidFile", "t.conf:1: PidFile expects PATH, got no arguments"},
		{"SetEnv A b c", "t.conf:1: SetEnv expects NAME [VALUE], got 3 arguments"},
		{"KeepAlive On # keep it", "t.conf:1: KeepAlive expects On|Off, got 4 arguments (# starts a comment only at the start of a line)"},
		{"CustomLog a.log", "t.conf:1: CustomLog expects PATH FORMAT-OR-NICKNAME, got 1 argument"},
		{"CustomLog a.log common bogus", "t.conf:1: CustomLog expects PATH FORMAT-OR-NICKNAME [env=[!]VAR|expr=EXPR], got 3 arguments"},
		{"LogFormat a b c", `t.conf:1: LogFormat expects "FORMAT" NICKNAME, got 3 arguments`},
		{"<VirtualHost *:80>\nServerAlias\n</VirtualHost>", "t.conf:2: ServerAlias expects HOST..., got no arguments"},
		// numbers
		{"Timeout soon", `t.conf:1: Timeout expects a whole number of seconds from 1 to 2147483647, got "soon"`},
		{"ProxyTimeout 0", `t.conf:1: ProxyTimeout expects a whole number of seconds from 1 to 2147483647, got "0"`},
		{"Timeout -5", `t.conf:1: Timeout expects a whole number of seconds from 1 to 2147483647, got "-5"`},
		{"KeepAliveTimeout 1.5", `t.conf:1: KeepAliveTimeout expects a whole number of seconds (or milliseconds followed by ms) from 1, got "1.5" (use KeepAlive Off to turn keep-alive off)`},
		{"MaxKeepAliveRequests -1", `t.conf:1: MaxKeepAliveRequests expects a whole number from 0 to 2147483647, got "-1"`},
		{"LimitRequestLine 99999999999", `t.conf:1: LimitRequestLine expects a whole number from 0 to 2147483647, got "99999999999"`},
		{"LimitRequestFieldSize x", `t.conf:1: LimitRequestFieldSize expects a whole number from 0 to 2147483647, got "x"`},
		{"LimitRequestFields 1e3", `t.conf:1: LimitRequestFields expects a whole number from 0 to 2147483647, got "1e3"`},
		{"LimitRequestBody 1G", `t.conf:1: LimitRequestBody expects a whole number of bytes (0 = no limit), got "1G"`},
		{"RequestReadTimeout header=ten", "t.conf:1: RequestReadTimeout header=ten: want header=SECONDS, header=MIN-MAX or either followed by ,MinRate=BYTES-PER-SECOND"},
		{"RequestReadTimeout body=40-20", "t.conf:1: RequestReadTimeout body=40-20: want body=SECONDS, body=MIN-MAX or either followed by ,MinRate=BYTES-PER-SECOND"},
		{"RequestReadTimeout header=20,MaxRate=5", "t.conf:1: RequestReadTimeout header=20,MaxRate=5: want header=SECONDS, header=MIN-MAX or either followed by ,MinRate=BYTES-PER-SECOND"},
		{"RequestReadTimeout 20", `t.conf:1: RequestReadTimeout expects header=SECONDS and body=SECONDS (or N-M,MinRate=R), got "20"`},
		{"Listen http", `t.conf:1: Listen expects [IP:]PORT with a port from 1 to 65535, got "http"`},
		{"Listen 127.0.0.1:99999", `t.conf:1: Listen expects [IP:]PORT with a port from 1 to 65535, got "127.0.0.1:99999"`},
		{"Listen ::1:80", `t.conf:1: Listen expects [IP:]PORT (an IPv6 address in brackets: [::1]:80), got "::1:80"`},
		{"Listen 443 https", `t.conf:1: Listen: protocol "https" is not supported; scgate speaks http`},
		// On/Off and headers
		{"KeepAlive yes", `t.conf:1: KeepAlive expects On or Off, got "yes"`},
		{"CGIPassAuth 1", `t.conf:1: CGIPassAuth expects On or Off, got "1"`},
		{`ProxySCGISendfile "X Sendfile"`, `t.conf:1: ProxySCGISendfile expects On, Off or a header name, got "X Sendfile"`},
		{"ProxySCGIInternalRedirect Location:", `t.conf:1: ProxySCGIInternalRedirect expects On, Off or a header name, got "Location:"`},
		// other values
		{"LogLevel loud", `t.conf:1: LogLevel expects one of emerg, alert, crit, error, warn, notice, info, debug, trace1..trace8 (or MODULE:LEVEL), got "loud"`},
		{"LogLevel trace9", `t.conf:1: LogLevel expects one of emerg, alert, crit, error, warn, notice, info, debug, trace1..trace8 (or MODULE:LEVEL), got "trace9"`},
		{"CustomLog a.log nosuch", `t.conf:1: CustomLog: no LogFormat is named "nosuch" (define it with LogFormat "FORMAT" nosuch, or give the format itself)`},
		{"SCGISendfileRoot files", `t.conf:1: SCGISendfileRoot expects an absolute directory, got "files"`},
		{"ProxyPass scgi://h:1/ /a/", `t.conf:1: ProxyPass expects a URL path starting with / first, got "scgi://h:1/"`},
		{"ProxyPass /a/ localhost:4000", `t.conf:1: ProxyPass expects scgi://HOST:PORT/, unix:/PATH|scgi://localhost/, balancer://NAME/ or !, got "localhost:4000"`},
		{"ProxyPass /a/ scgi://h:1/ nocanon", `t.conf:1: ProxyPass expects key=value parameters, got "nocanon"`},
		{"ProxyPass /a/ scgi://h:1/ =5", `t.conf:1: ProxyPass expects key=value parameters, got "=5"`},
		{"ProxyPass /a/ ! timeout=5", `t.conf:1: ProxyPass with ! (an exclusion) takes no parameters, got "timeout=5"`},
		{"ProxyPass /a/ balancer://", `t.conf:1: ProxyPass: "balancer://" is not balancer://NAME/`},
		{"ProxyPassMatch ^/(a scgi://h:1/", "t.conf:1: ProxyPassMatch: error parsing regexp: missing closing ): `^/(a` (Go's regexp syntax, RE2)"},
		{"ProxyPassMatch ^/(?=a) scgi://h:1/", "t.conf:1: ProxyPassMatch: error parsing regexp: invalid or unsupported Perl syntax: `(?=` (Go's regexp syntax, RE2)"},
		{"ProxyPassMatch ^/a", "t.conf:1: ProxyPassMatch expects REGEX URL [key=value...] or REGEX !, got 1 argument"},
		{"<Location /a/>\nProxyPass /a/ scgi://h:1/\n</Location>", "t.conf:2: ProxyPass inside <Location> expects URL [key=value...] or !: the path is the Location's (/a/)"},
		{"<Proxy balancer://c>\nBalancerMember h:1\n</Proxy>", `t.conf:2: BalancerMember expects scgi://HOST:PORT/ or unix:/PATH|scgi://localhost/, got "h:1"`},
		{"<Proxy balancer://c>\nBalancerMember balancer://d scgi://h:1/\n</Proxy>", "t.conf:2: BalancerMember names balancer://d inside <Proxy balancer://c>"},
		{"<Proxy balancer://c>\nBalancerMember balancer://c/\n</Proxy>", "t.conf:2: BalancerMember expects URL [key=value...], got 1 argument"},
		{"<Proxy balancer://c>\nBalancerMember scgi://h:1/ loadfactor\n</Proxy>", `t.conf:2: BalancerMember expects key=value parameters, got "loadfactor"`},
		{"<Proxy balancer://c>\nProxySet lbmethod\n</Proxy>", `t.conf:2: ProxySet expects key=value parameters, got "lbmethod"`},
		{"<Proxy balancer://c>\nProxySet balancer://c\n</Proxy>", "t.conf:2: ProxySet expects [balancer://NAME] key=value..., got 1 argument"},
		{"<Proxy balancer://a/b>\n</Proxy>", `t.conf:1: <Proxy>: "balancer://a/b" is not balancer://NAME/`},
		// context
		{"BalancerMember scgi://localhost:4000/", "t.conf:1: BalancerMember outside <Proxy balancer://NAME> must name its balancer: BalancerMember balancer://NAME URL [key=value...]"},
		{"ProxySet lbmethod=byrequests", "t.conf:1: ProxySet outside <Proxy balancer://NAME> must name its balancer: ProxySet balancer://NAME key=value..."},
		{"ProxySet scgi://h:1/ timeout=5", "t.conf:1: ProxySet for a single backend (scgi://h:1/) is not supported: put its key=value parameters on its ProxyPass or BalancerMember line"},
		{"ServerAlias www.example.com", "t.conf:1: ServerAlias is not allowed at top level; it is allowed inside <VirtualHost>"},
		{"SetHandler proxy:scgi://h:1/", "t.conf:1: SetHandler is not allowed at top level; it is allowed inside <Location>"},
		{"Require all granted", "t.conf:1: Require is not allowed at top level; it is allowed inside <Location>, inside <Proxy balancer://NAME>"},
		{"<VirtualHost *:80>\nListen 80\n</VirtualHost>", "t.conf:2: Listen is not allowed inside <VirtualHost>; it is allowed at top level"},
		{"<VirtualHost *:80>\nTimeout 5\n</VirtualHost>", "t.conf:2: Timeout is not allowed inside <VirtualHost>; it is allowed at top level"},
		{"<Location /a/>\nDocumentRoot /x\n</Location>", "t.conf:2: DocumentRoot is not allowed inside <Location>; it is allowed at top level, inside <VirtualHost>"},
		{"<Location /a/>\nProxyPassMatch ^/a scgi://h:1/\n</Location>", "t.conf:2: ProxyPassMatch is not allowed inside <Location>; it is allowed at top level, inside <VirtualHost>"},
		{"<Proxy balancer://c>\nProxyPass /a/ scgi://h:1/\n</Proxy>", "t.conf:2: ProxyPass is not allowed inside <Proxy balancer://NAME>; it is allowed at top level, inside <VirtualHost>, inside <Location>"},
		{"<VirtualHost *:80>\n<VirtualHost *:81>\nServerName x\n</VirtualHost>\n</VirtualHost>", "t.conf:2: <VirtualHost> is not allowed inside <VirtualHost>; it is allowed at top level"},
		{"<Location /a/>\n<Proxy balancer://c>\nBalancerMember scgi://h:1/\n</Proxy>\n</Location>", "t.conf:2: <Proxy> is not allowed inside <Location>; it is allowed at top level, inside <VirtualHost>"},
		{"<Location /a/>\n<Location /b/>\n</Location>\n</Location>", "t.conf:2: <Location> is not allowed inside <Location>; it is allowed at top level, inside <VirtualHost>"},
		{"<Location>\n</Location>", "t.conf:1: <Location> expects PATH, got 0 arguments"},
		{"<Location ~ \"^/a\">\n</Location>", "t.conf:1: <Location> expects PATH, got 2 arguments"},
		{"<Location a/>\n</Location>", `t.conf:1: <Location> expects a URL path starting with /, got "a/" (regular-expression locations are not supported)`},
		{"<VirtualHost>\n</VirtualHost>", "t.conf:1: <VirtualHost> expects ADDR[:PORT]..., got no arguments"},
		{"<IfModule>\n</IfModule>", "t.conf:1: <IfModule> expects MODULE or !MODULE, got 0 arguments"},
		{"<LocationMatch ^/a>\nProxyPass scgi://h:1/\n</LocationMatch>", "t.conf:1: unknown block <LocationMatch>: scgate reads <VirtualHost>, <Location>, <Proxy balancer://NAME>, <IfModule> and <IfDefine>, and skips <Directory> and <Files>"},
	}
	for _, tt := range tests {
		t.Run(tt.conf, func(t *testing.T) {
			_, err := parseText(t, tt.conf)
			if err == nil {
				t.Fatalf("no error, want %s", tt.want)
			}
			if _, ok := err.(Errors); !ok {
				t.Errorf("error is %T, want Errors", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%s\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestNotices(t *testing.T) {
	c := mustParse(t, `LoadModule proxy_module modules/mod_proxy.so
user daemon
ServerTokens Prod
<VirtualHost *:80>
ErrorLog logs/vhost.log
LogLevel debug
</VirtualHost>
RequestReadTimeout header=20-40,MinRate=500 body=20,MinRate=500 handshake=5
RequestReadTimeout header=0
LogLevel info proxy_scgi:trace3
LogFormat "%h"
CustomLog a.log common env=!dontlog
<Proxy *>
Require all granted
</Proxy>
<Proxy balancer://c>
Require all granted
BalancerMember scgi://h:1/
</Proxy>
<Directory />
AllowOverride None
</Directory>
`)
	want := []string{
		"t.conf:1: LoadModule ignored: scgate's modules are built in",
		"t.conf:2: User ignored: scgate runs as the user that starts it",
		"t.conf:3: ServerTokens ignored: not configurable in scgate",
		"t.conf:5: ErrorLog ignored: scgate has one error log, set at top level",
		"t.conf:6: LogLevel ignored: scgate has one log level, set at top level, not inside <VirtualHost>",
		"t.conf:8: RequestReadTimeout header=20-40,MinRate=500: the range and MinRate ignored: scgate uses a fixed 20s",
		"t.conf:8: RequestReadTimeout body=20,MinRate=500: MinRate ignored: scgate uses a fixed 20s",
		"t.conf:8: RequestReadTimeout handshake=5 ignored: scgate speaks no TLS",
		"t.conf:9: RequestReadTimeout header=0 ignored: scgate always times out header reads, so its default stays",
		"t.conf:10: LogLevel proxy_scgi:trace3 ignored: scgate has one log level, not one per module (proxy_scgi)",
		"t.conf:11: LogFormat ignored: without a nickname it sets TransferLog's format, and scgate has no TransferLog",
		"t.conf:12: CustomLog condition env=!dontlog ignored: scgate logs every request",
		"t.conf:13: <Proxy *> ignored: only <Proxy balancer://NAME> blocks mean something to scgate; its contents were skipped",
		"t.conf:17: Require ignored: scgate does no access control inside <Proxy>",
		"t.conf:20: <Directory /> ignored: scgate serves no files of its own, so its contents were skipped",
	}
	if !reflect.DeepEqual(c.Notices, want) {
		t.Errorf("notices:\n%s\nwant\n%s", strings.Join(c.Notices, "\n"), strings.Join(want, "\n"))
	}
	if c.LogLevel != "info" || c.ErrorLog != "" || c.HeaderTimeout != 20*time.Second {
		t.Errorf("LogLevel %q ErrorLog %q HeaderTimeout %v", c.LogLevel, c.ErrorLog, c.HeaderTimeout)
	}
}

func TestVirtualHosts(t *testing.T) {
	c := mustParse(t, `ServerName main.example
ProxyPass /common/ scgi://h:9/
<VirtualHost *:80>
    ServerName one.example
    ProxyPass /app/ scgi://h:1/
</VirtualHost>
<virtualhost *:80 [::1]:8080>
    ServerName two.example
    ServerAlias www.two.example two.example.net
    ServerAlias *.two.example
    ServerAdmin ops@two.example
    DocumentRoot /srv/two
    ProxySCGISendfile On
    CGIPassAuth On
    SetEnv SITE two
    <Location /app/>
        ProxyPass balancer://two/
    </Location>
    <Proxy balancer://two>
        BalancerMember scgi://h:2/
    </Proxy>
</VIRTUALHOST>
`)
	if c.Main.ServerName != "main.example" || len(c.Main.Passes) != 1 || c.Main.Addrs != nil {
		t.Errorf("Main = %+v", c.Main)
	}
	if len(c.VirtualHosts) != 2 {
		t.Fatalf("%d virtual hosts", len(c.VirtualHosts))
	}
	one, two := c.VirtualHosts[0], c.VirtualHosts[1]
	want1 := &Server{Addrs: []string{"*:80"}, ServerName: "one.example", File: "t.conf", Line: 3,
		Passes: []Pass{{Path: "/app/", URL: "scgi://h:1/", File: "t.conf", Line: 5}}}
	if !reflect.DeepEqual(one, want1) {
		t.Errorf("first vhost %+v\nwant %+v", one, want1)
	}
	loc := &Location{Path: "/app/", File: "t.conf", Line: 16}
	want2 := &Server{Addrs: []string{"*:80", "[::1]:8080"}, ServerName: "two.example",
		ServerAliases: []string{"www.two.example", "two.example.net", "*.two.example"},
		ServerAdmin:   "ops@two.example", DocumentRoot: "/srv/two", Sendfile: "On", CGIPassAuth: ptr(true),
		SetEnv:    []EnvVar{{"SITE", "two"}},
		Passes:    []Pass{{Path: "/app/", URL: "balancer://two/", File: "t.conf", Line: 17}},
		Locations: []*Location{loc}, File: "t.conf", Line: 7}
	if !reflect.DeepEqual(two, want2) {
		t.Errorf("second vhost %+v\nwant %+v", two, want2)
	}
	if len(c.Balancers) != 1 || c.Balancers[0].Name != "two" || len(c.Balancers[0].Members) != 1 {
		t.Errorf("balancers %+v", c.Balancers)
	}
}

// TestDirectiveNamesASCII: names are matched case-insensitively in ASCII
// only, as Apache does; Unicode case folding would let "İnclude" be Include.
func TestDirectiveNamesASCII(t *testing.T) {
	if _, err := Parse("t.conf", strings.NewReader("keepalive off\n")); err != nil {
		t.Fatalf("lower-case name refused: %v", err)
	}
	if _, err := Parse("t.conf", strings.NewReader("\u0130nclude /etc/passwd\n")); err == nil || !strings.Contains(err.Error(), "t.conf:1") {
		t.Fatalf("dotted capital I taken for Include: err %v", err)
	}
}
