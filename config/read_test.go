package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		line string
		want []string
		err  string
	}{
		{"a b\tc", []string{"a", "b", "c"}, ""},
		{`LogFormat "%h \"%r\" %>s" x`, []string{"LogFormat", `%h "%r" %>s`, "x"}, ""},
		{`SetEnv A 'it\'s "fine"'`, []string{"SetEnv", "A", `it's "fine"`}, ""},
		{`SetEnv A ""`, []string{"SetEnv", "A", ""}, ""},
		{`a "b c"d`, []string{"a", "b c", "d"}, ""},  // as Apache: a quoted word ends at its quote
		{`a b"c d"`, []string{"a", `b"c`, `d"`}, ""}, // a quote inside a word is a character
		{`a "C:\dir\" b`, nil, `missing closing " in "C:\dir\" b`},
		{`a "b`, nil, `missing closing " in "b`},
		{`a 'b`, nil, `missing closing ' in 'b`},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.line)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("splitArgs(%q) error %v, want %s", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
}

func TestQuotingInFile(t *testing.T) {
	c := mustParse(t, `SetEnv GREETING "hello world"
SetEnv QUOTE "say \"hi\""
ProxyPass "/with space/" 'scgi://h:1/'
`)
	want := []EnvVar{{"GREETING", "hello world"}, {"QUOTE", `say "hi"`}}
	if !reflect.DeepEqual(c.Main.SetEnv, want) {
		t.Errorf("SetEnv = %q", c.Main.SetEnv)
	}
	if p := c.Main.Passes[0]; p.Path != "/with space/" || p.URL != "scgi://h:1/" {
		t.Errorf("pass %+v", p)
	}
	_, err := parseText(t, "SetEnv A \"open\nTimeout 5\n")
	if err == nil || err.Error() != `t.conf:1: missing closing " in "open` {
		t.Errorf("unterminated quote: %v", err)
	}
}

func TestContinuation(t *testing.T) {
	c := mustParse(t, "ProxyPass /a/ \\\n    scgi://h:1/ \\\n    timeout=5\nTime\\\nout 7\nServerName x\n")
	want := []Pass{{Path: "/a/", URL: "scgi://h:1/", Params: []string{"timeout=5"}, File: "t.conf", Line: 1}}
	if !reflect.DeepEqual(c.Main.Passes, want) {
		t.Errorf("Passes = %+v", c.Main.Passes)
	}
	if c.Timeout.Seconds() != 7 || c.Main.ServerName != "x" {
		t.Errorf("Timeout %v ServerName %q", c.Timeout, c.Main.ServerName)
	}
	// Line numbers after a continuation count physical lines.
	_, err := parseText(t, "ServerName a \\\n  b\nBogus\n")
	if err == nil || err.Error() != "t.conf:1: ServerName expects HOST[:PORT], got 2 arguments\nt.conf:3: unknown directive Bogus: scgate reads Apache's mod_proxy_scgi directives and a few core ones (see scgate.conf.example)" {
		t.Errorf("got %v", err)
	}
	// A comment continues too, as in Apache; a doubled backslash does not continue.
	c = mustParse(t, "# a comment \\\nTimeout 99\nSetEnv P C:\\\\\nTimeout 3\r\nServerName last\\")
	if c.Timeout.Seconds() != 3 || c.Main.SetEnv[0].Value != `C:\\` || c.Main.ServerName != "last" {
		t.Errorf("Timeout %v SetEnv %q ServerName %q", c.Timeout, c.Main.SetEnv, c.Main.ServerName)
	}
}

func TestComments(t *testing.T) {
	c := mustParse(t, "\ufeff# top\n   # indented\n\t#tab\n\n#ProxyPass /x/ scgi://h:1/\nServerName a\r\n  \r\n")
	if c.Main.ServerName != "a" || len(c.Main.Passes) != 0 {
		t.Errorf("got %+v", c.Main)
	}
	_, err := parseText(t, "Timeout 5 # five seconds\n")
	if err == nil || !strings.Contains(err.Error(), "(# starts a comment only at the start of a line)") {
		t.Errorf("trailing comment: %v", err)
	}
}

func TestBlocks(t *testing.T) {
	tests := []struct{ conf, want string }{
		{"<VirtualHost *:80>\nServerName a\n", "t.conf:1: <VirtualHost *:80> is not closed: add </VirtualHost> before the end of this file"},
		{"<VirtualHost *:80>\n<Location /a/>\n</VirtualHost>\n",
			"t.conf:3: </VirtualHost> comes before the </Location> that <Location /a/> (line 2) needs"},
		{"<Location /a/>\n</Locaton>\n",
			"t.conf:2: </Locaton> does not match the open <Location /a/> (line 1): close it with </Location>\n" +
				"t.conf:1: <Location /a/> is not closed: add </Location> before the end of this file"},
		{"</Proxy>\n", "t.conf:1: </Proxy> closes no open <Proxy> block in this file"},
		{"<VirtualHost *:80\n</VirtualHost>\n", "t.conf:1: <VirtualHost *:80 needs a closing > at the end of the line"},
		{"<VirtualHost *:80>\n</VirtualHost\n", "t.conf:2: </VirtualHost needs a closing > at the end of the line"},
		{"<VirtualHost *:80>\n</VirtualHost *:80>\n", "t.conf:2: </VirtualHost *:80> takes no arguments"},
		{"<>\n", "t.conf:1: a block needs a name: <Name argument>"},
		{`<Location "/a>` + "\n</Location>\n", `t.conf:1: missing closing " in "/a`},
		// Nesting is checked inside skipped blocks too.
		{"<IfModule mod_ssl.c>\n<VirtualHost *:443>\n</IfModule>\n", "t.conf:3: </IfModule> comes before the </VirtualHost> that <VirtualHost *:443> (line 2) needs"},
		{"<Directory /x>\n<Files a>\n", "t.conf:2: <Files a> is not closed: add </Files> before the end of this file\n" +
			"t.conf:1: <Directory /x> is not closed: add </Directory> before the end of this file"},
	}
	for _, tt := range tests {
		t.Run(tt.conf, func(t *testing.T) {
			_, err := parseText(t, tt.conf)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
	// Names are case-insensitive; the context returns after a block closes.
	c := mustParse(t, "<virtualhost *:80>\n<LOCATION /a/>\nSetEnv A 1\n</location>\nSetEnv B 2\n</VirtualHost>\nSetEnv C 3\n")
	v := c.VirtualHosts[0]
	if len(v.Locations) != 1 || len(v.Locations[0].SetEnv) != 1 || len(v.SetEnv) != 1 || c.Main.SetEnv[0].Name != "C" {
		t.Errorf("vhost %+v main %+v", v, c.Main)
	}
}

func TestIfModule(t *testing.T) {
	c := mustParse(t, `<IfModule mod_proxy.c>
    ProxyPass /a/ scgi://h:1/
    <IfModule proxy_scgi_module>
        ProxySCGISendfile On
    </IfModule>
</IfModule>
<IfModule !mod_proxy_scgi.c>
    ProxyPass /never/ scgi://h:1/
</IfModule>
<IfModule mod_ssl.c>
    SSLEngine on
    Include /nonexistent/*.conf
    ProxyPass /never/ scgi://h:1/
</IfModule>
<IfModule !mod_rewrite.c>
    ProxyPass /b/ scgi://h:2/
</IfModule>
<IfModule mod_lbmethod_bybusyness.c>
    ServerName lb
</IfModule>
<IfDefine SSL>
    Listen 443
</IfDefine>
<IfDefine !SSL>
    Listen 80
</IfDefine>
<VirtualHost *:80>
    <IfModule log_config_module>
        CustomLog v.log common
    </IfModule>
</VirtualHost>
`)
	var paths []string
	for _, p := range c.Main.Passes {
		paths = append(paths, p.Path)
	}
	if !reflect.DeepEqual(paths, []string{"/a/", "/b/"}) || c.Main.Sendfile != "On" || c.Main.ServerName != "lb" {
		t.Errorf("paths %q sendfile %q servername %q", paths, c.Main.Sendfile, c.Main.ServerName)
	}
	if len(c.Listen) != 1 || c.Listen[0].Value != "80" || len(c.CustomLogs) != 1 {
		t.Errorf("Listen %+v CustomLogs %+v", c.Listen, c.CustomLogs)
	}
	want := []string{
		"t.conf:7: <IfModule !mod_proxy_scgi.c> ignored: scgate does the work of mod_proxy_scgi.c, so its contents were skipped",
		"t.conf:10: <IfModule mod_ssl.c> ignored: scgate does no work of mod_ssl.c, so its contents were skipped",
		"t.conf:21: <IfDefine SSL> ignored: scgate defines no parameters, so its contents were skipped",
	}
	if !reflect.DeepEqual(c.Notices, want) {
		t.Errorf("notices:\n%s", strings.Join(c.Notices, "\n"))
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.conf":              "Include conf.d/*.conf\nIncludeOptional none.d/*.conf\nIncludeOptional missing.conf\n<VirtualHost *:80>\nInclude vhost.inc\n</VirtualHost>\nInclude sites\n",
		"conf.d/20-b.conf":       "ProxyPass /b/ scgi://h:2/\n",
		"conf.d/10-a.conf":       "ProxyPass /a/ scgi://h:1/\nInclude ../shared/env.inc\n",
		"conf.d/.10-a.conf.swp":  "garbage\n",
		"conf.d/notes.txt":       "garbage\n",
		"shared/env.inc":         "SetEnv FROM shared\n",
		"vhost.inc":              "ServerName v.example\nProxyPass /v/ scgi://h:3/\n",
		"sites/one.conf":         "ServerAdmin one@example\n",
		"sites/nested/two.conf":  "DocumentRoot /srv/two\n",
		"bad.d/x.conf":           "Timeout x\n",
		"unclosed.d/open.conf":   "<Location /a/>\n",
		"unclosed.d/close.conf":  "</Location>\n",
		"errors/main.conf":       "Include ../bad.d/*.conf\nInclude nothing/*.conf\nInclude ../unclosed.d/*.conf\nInclude [\nInclude gone.conf\n",
		"cycle/a.conf":           "Include b.conf\n",
		"cycle/b.conf":           "Include a.conf\n",
		"self/self.conf":         "Include *.conf\n",
		"deep/d.conf":            "Include d.conf\n",
		"blocks/open-in-include": "<Proxy balancer://c>\nBalancerMember scgi://h:1/\n</Proxy>\n",
	})
	c, err := ParseFile(filepath.Join(dir, "main.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.Main.Passes {
		got = append(got, fmt.Sprintf("%s %s:%d", p.Path, filepath.Base(p.File), p.Line))
	}
	if want := []string{"/a/ 10-a.conf:1", "/b/ 20-b.conf:1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("main passes %q, want %q", got, want)
	}
	if len(c.Main.SetEnv) != 1 || c.Main.ServerAdmin != "one@example" || c.Main.DocumentRoot != "/srv/two" {
		t.Errorf("main %+v", c.Main)
	}
	if v := c.VirtualHosts[0]; v.ServerName != "v.example" || len(v.Passes) != 1 || v.Passes[0].File != filepath.Join(dir, "vhost.inc") {
		t.Errorf("vhost %+v", v)
	}

	_, err = ParseFile(filepath.Join(dir, "errors", "main.conf"))
	e := filepath.Join(dir, "errors", "main.conf")
	want := strings.Join([]string{
		filepath.Join(dir, "bad.d", "x.conf") + `:1: Timeout expects a whole number of seconds from 1 to 2147483647, got "x"`,
		e + ":2: Include nothing/*.conf: no file matches " + filepath.Join(dir, "errors", "nothing", "*.conf") + " (IncludeOptional allows that)",
		filepath.Join(dir, "unclosed.d", "close.conf") + ":1: </Location> closes no open <Location> block in this file",
		filepath.Join(dir, "unclosed.d", "open.conf") + ":1: <Location /a/> is not closed: add </Location> before the end of this file",
		e + ":4: Include [: bad pattern: syntax error in pattern",
		e + ":5: Include gone.conf: no such file or directory",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("errors\n%v\nwant\n%s", err, want)
	}

	a, b := filepath.Join(dir, "cycle", "a.conf"), filepath.Join(dir, "cycle", "b.conf")
	_, err = ParseFile(a)
	if want := b + ":1: Include a.conf: include cycle: " + a + " -> " + b + " -> " + a; err == nil || err.Error() != want {
		t.Errorf("cycle: %v\nwant %s", err, want)
	}
	self := filepath.Join(dir, "self", "self.conf")
	_, err = ParseFile(self)
	if want := self + ":1: Include *.conf: include cycle: " + self + " -> " + self; err == nil || err.Error() != want {
		t.Errorf("self include: %v\nwant %s", err, want)
	}

	// Parse with a name: includes are relative to its directory.
	c, err = Parse(filepath.Join(dir, "virtual.conf"), strings.NewReader("Include blocks/open-in-include\n"))
	if err != nil || len(c.Balancers) != 1 || len(c.Balancers[0].Members) != 1 {
		t.Errorf("Parse with include: %v %+v", err, c)
	}
}

func TestIncludeDepth(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for i := range 20 {
		files[fmt.Sprintf("f%02d.conf", i)] = fmt.Sprintf("Include f%02d.conf\n", i+1)
	}
	files["f20.conf"] = "ServerName deep\n"
	writeFiles(t, dir, files)
	_, err := ParseFile(filepath.Join(dir, "f00.conf"))
	want := filepath.Join(dir, "f16.conf") + ":1: Include f17.conf: includes nest more than 16 deep"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	delete(files, "f20.conf")
	files["f16.conf"] = "ServerName deep\n"
	writeFiles(t, dir, files)
	if c, err := ParseFile(filepath.Join(dir, "f00.conf")); err != nil || c.Main.ServerName != "deep" {
		t.Errorf("16 levels: %v", err)
	}
}

func TestCollectsErrors(t *testing.T) {
	_, err := parseText(t, "ProxyPass /scgi-bin/\nFrobnicate yes\nKeepAlive maybe\nServerName ok\n")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 3 || errs[0].Line != 1 || errs[1].Line != 2 || errs[2].Line != 3 || errs[2].File != "t.conf" {
		t.Fatalf("errors: %#v", err)
	}
	_, err = parseText(t, strings.Repeat("Bogus\n", 200))
	errs = err.(Errors)
	if len(errs) != maxErrors+1 || errs[maxErrors].Error() != "t.conf:51: too many errors (50); stopped reading" {
		t.Errorf("%d errors, last %v", len(errs), errs[len(errs)-1])
	}
}

func TestParseFileMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.conf")
	_, err := ParseFile(p)
	if err == nil || err.Error() != p+": no such file or directory" {
		t.Errorf("got %v", err)
	}
	if _, ok := err.(Errors); !ok {
		t.Errorf("error is %T", err)
	}
}

func TestEmpty(t *testing.T) {
	c := mustParse(t, "")
	if c.Main == nil || c.Main.File != "t.conf" || len(c.VirtualHosts) != 0 || c.Notices != nil {
		t.Errorf("%+v", c)
	}
}

// TestExample parses the annotated example shipped with scgate.
func TestExample(t *testing.T) {
	c, err := ParseFile("../scgate.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Notices {
		t.Log(n)
	}
	seen := map[string]bool{}
	for name := range directives {
		seen[name] = false
	}
	data, err := os.ReadFile("../scgate.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimLeft(line, " \t#")
		if name, _, _ := strings.Cut(line, " "); name != "" {
			seen[strings.ToLower(name)] = true
		}
	}
	for name, ok := range seen {
		if !ok {
			t.Errorf("the example does not show %s", directives[name].name)
		}
	}
	if len(c.VirtualHosts) != 2 || len(c.Balancers) != 1 || len(c.Main.Locations) != 2 {
		t.Errorf("example: %d vhosts, %d balancers, %d locations", len(c.VirtualHosts), len(c.Balancers), len(c.Main.Locations))
	}
}
