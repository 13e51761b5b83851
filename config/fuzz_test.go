package config

import (
	"bytes"
	"path/filepath"
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
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		// Include would read whatever the input names on this machine.
		if bytes.Contains(bytes.ToLower(data), []byte("include")) {
			return
		}
		c, err := Parse(filepath.Join(dir, "fuzz.conf"), bytes.NewReader(data))
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
		}
	})
}
