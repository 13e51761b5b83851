package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"ProxyPass /scgi-bin/ scgi://localhost:4000/\n",
		"ProxyPass /scgi-bin/ balancer://somecluster/\n<Proxy balancer://somecluster/>\n    BalancerMember scgi://localhost:4000/\n</Proxy>\n",
		"<VirtualHost *:80>\nServerName a\n<Location /a/>\nProxyPass !\n</Location>\n</VirtualHost>\n",
		"<IfModule !mod_proxy.c>\n<Directory />\n</Directory>\n</IfModule>\n",
		"SetEnv A \"b \\\"c\\\"\" \\\n d\nRequestReadTimeout header=20-40,MinRate=500\n",
		"LogFormat \"%h\" x\nCustomLog a x\nKeepAliveTimeout 10ms\nListen [::1]:80\n",
		"</a>\n<b\n<>\n\"\n'\\\n",
		"Include a.conf\nIncludeOptional sites/*.conf\nInclude self.conf\n",
	} {
		f.Add([]byte(seed))
	}
	root := fuzzIncludeTree(f)
	sandboxIncludes(f, root)
	name := filepath.Join(root, "conf", "fuzz.conf")
	f.Fuzz(func(t *testing.T, data []byte) { checkFuzzParse(t, name, data) })
}

// checkFuzzParse is FuzzParse's property check, also run on inputs too big for a seed.
func checkFuzzParse(t *testing.T, name string, data []byte) (*Config, error) {
	t.Helper()
	c, err := Parse(name, bytes.NewReader(data))
	checkParsed(t, c, err)

	// CRLF line ends and a UTF-8 byte order mark change nothing.
	if bytes.IndexByte(data, '\r') < 0 && !bytes.HasPrefix(data, utf8BOM) {
		crlf := append(append([]byte{}, utf8BOM...), bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))...)
		c2, err2 := Parse(name, bytes.NewReader(crlf))
		if !reflect.DeepEqual(c, c2) || errorText(err) != errorText(err2) {
			t.Fatalf("with CRLF and a BOM:\n%v\n%v\nversus\n%v\n%v", c, err, c2, err2)
		}
	}
	return c, err
}

// TestFuzzParseLargeInputs runs FuzzParse's check on inputs kept out of the seed corpus
// because the fuzzer would spend its time minimizing what grows out of them.
func TestFuzzParseLargeInputs(t *testing.T) {
	root := fuzzIncludeTree(t)
	sandboxIncludes(t, root)
	name := filepath.Join(root, "conf", "fuzz.conf")
	example, err := os.ReadFile("../scgate.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkFuzzParse(t, name, example); err != nil {
		t.Errorf("scgate.conf.example: %v", err)
	}
	_, err = checkFuzzParse(t, name, []byte(strings.Repeat("Bogus\n", 60)))
	if errs, _ := err.(Errors); len(errs) != maxErrors+1 {
		t.Errorf("60 bad lines: %d errors", len(errs))
	}
	long := "ServerName " + strings.Repeat("a", 100000) + " \\\n" + strings.Repeat(" b \\\n", 1000) + "\n"
	if _, err := checkFuzzParse(t, name, []byte(long)); err == nil {
		t.Error("ServerName with 1001 arguments accepted")
	}
}

func checkParsed(t *testing.T, c *Config, err error) {
	t.Helper()
	if (c == nil) == (err == nil) {
		t.Fatalf("config %v and error %v", c, err)
	}
	if err != nil {
		errs := err.(Errors)
		if len(errs) == 0 || len(errs) > maxErrors+1 {
			t.Fatalf("%d errors", len(errs))
		}
		for _, e := range errs {
			if !strings.HasPrefix(e.Error(), e.File+":") {
				t.Fatalf("error %q", e)
			}
		}
		return
	}
	if c.Main == nil {
		t.Fatal("no Main server")
	}
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// fuzzIncludeTree writes the files the fuzzer's Include lines can reach: nested
// blocks, an unclosed one, a hidden file, a cycle and a directory. The parsed
// file is conf/fuzz.conf, which does not exist itself.
func fuzzIncludeTree(tb testing.TB) string {
	root := tb.TempDir()
	for name, text := range map[string]string{
		"conf/a.conf":              "ServerName a.example\nListen 8080\n",
		"conf/sites/b.conf":        "<VirtualHost *:80>\nServerName b.example\nProxyPass / scgi://localhost:4000/\n</VirtualHost>\n",
		"conf/sites/c.conf":        "<Location /c/>\nProxyPass scgi://localhost:4001/\n",
		"conf/sites/.hidden.conf":  "Bogus directive\n",
		"conf/balancer.conf":       "<Proxy balancer://c/>\nBalancerMember scgi://localhost:4000/\n</Proxy>\n",
		"conf/close.conf":          "</VirtualHost>\n</Location>\n",
		"conf/self.conf":           "Include self.conf\n",
		"conf/loop/one.conf":       "Include two.conf\n",
		"conf/loop/two.conf":       "Include one.conf\n",
		"conf/empty.conf":          "",
		"top.conf":                 "Timeout 5\n",
		"conf/sites/nested/d.conf": "SetEnv D 1\n",
	} {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return root
}

// sandboxIncludes makes Include and IncludeOptional refuse any path or glob
// outside root until the test ends, so fuzz input never reads this machine's
// files. Filtering the input for "include" is not enough: a continuation line
// ("Incl\\\nude") or quotes spell the directive too. The refusal is an error,
// as an unreadable file would be.
func sandboxIncludes(tb testing.TB, root string) {
	for _, key := range []string{"include", "includeoptional"} {
		d := directives[key]
		sandboxed := *d
		sandboxed.run = func(p *parser, c *call) {
			// The path p.include resolves, the same way.
			pattern := c.args[0]
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(c.file), pattern)
			}
			if !within(root, pattern) {
				p.errorf(c.file, c.line, "%s %s: outside the fuzz sandbox", c.name, c.args[0])
				return
			}
			d.run(p, c)
		}
		directives[key] = &sandboxed
		tb.Cleanup(func() { directives[key] = d })
	}
}

// within reports whether path, cleaned, is root or under it. Glob
// metacharacters after root's prefix only match names inside it, and the
// tree under root holds no symbolic links.
func within(root, path string) bool {
	path = filepath.Clean(path)
	return path == root || strings.HasPrefix(path, root+string(filepath.Separator))
}

// TestFuzzParseSandbox checks the sandbox against the spellings of Include
// that get past a search of the input, with a file outside the tree.
func TestFuzzParseSandbox(t *testing.T) {
	root := fuzzIncludeTree(t)
	outside := filepath.Join(t.TempDir(), "outside.conf")
	if err := os.WriteFile(outside, []byte("ServerName leaked\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(root, "conf", "fuzz.conf")
	inputs := []string{
		"Include " + outside,
		"Incl\\\nude " + outside,
		"\"Include\" '" + outside + "'",
		"IncludeOptional ../../" + strings.Repeat("../", strings.Count(root, "/")) + outside,
		"IncludeOptional " + filepath.Dir(outside) + "/*.conf",
		"Include " + root + "/../" + filepath.Base(filepath.Dir(outside)),
	}

	// Without the sandbox, each of them does read the file.
	for _, in := range inputs {
		if c, err := Parse(name, strings.NewReader(in)); err != nil || c.Main.ServerName != "leaked" {
			t.Fatalf("%q without the sandbox: %v", in, err)
		}
	}
	t.Run("sandboxed", func(t *testing.T) {
		sandboxIncludes(t, root)
		for _, in := range inputs {
			_, err := Parse(name, strings.NewReader(in))
			if err == nil || !strings.Contains(err.Error(), "outside the fuzz sandbox") {
				t.Errorf("%q: %v", in, err)
			}
		}
		// Inside the tree, includes work as usual.
		_, err := Parse(name, strings.NewReader("Include a.conf\nInclude ../top.conf\nIncludeOptional sites/*.conf\n<VirtualHost *:81>\n</VirtualHost>\n"))
		if err == nil || !strings.Contains(err.Error(), "<Location /c/> is not closed") {
			t.Fatalf("includes in the tree: %v", err)
		}
		c, err := Parse(name, strings.NewReader("Include a.conf\nInclude ../top.conf\nInclude sites/b.conf\n"))
		if err != nil || c.Main.ServerName != "a.example" || c.Timeout.Seconds() != 5 || len(c.VirtualHosts) != 1 {
			t.Fatalf("includes in the tree: %+v %v", c, err)
		}
	})
	if c, err := Parse(name, strings.NewReader(inputs[0])); err != nil || c.Main.ServerName != "leaked" {
		t.Fatalf("the sandbox outlived its test: %v", err)
	}
}
