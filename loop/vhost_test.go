package loop_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/scgate/scgate/loop"
)

func TestVirtualHostsExclusionsAndSetEnv(t *testing.T) {
	a := startApp(t, "127.0.0.1:0").Addr().String()
	b := startApp(t, "127.0.0.1:0").Addr().String()
	gw := startGateway(t, loop.Config{
		// The main server's mappings are inherited by every virtual host.
		Mappings: []loop.Mapping{{Prefix: "/common/", Backend: mustBackend(t, "scgi://"+b+"/")}},
		VirtualHosts: []loop.VirtualHost{
			{ServerName: "one.example", Names: []string{"www.one.example"}, ServerAdmin: "one@example", Mappings: []loop.Mapping{
				{Prefix: "/app/", Backend: mustBackend(t, "scgi://"+a+"/"), Env: []loop.EnvVar{{Name: "APP_ENV", Value: "one"}}},
				{Prefix: "/app/static/", Exclude: true},
			}},
			{ServerName: "two.example", Names: []string{"*.two.example"}, Mappings: []loop.Mapping{
				{Prefix: "/app/", Backend: mustBackend(t, "scgi://"+b+"/")},
			}},
		},
	})
	c := newClient(t)
	get := func(host, path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+gw+path, nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct{ host, path, want string }{
		{"one.example", "/app/whoami", a + "\n"},
		{"WWW.one.example:8080", "/app/whoami", a + "\n"},
		{"two.example", "/app/whoami", b + "\n"},
		{"x.two.example", "/app/whoami", b + "\n"},
		{"unknown.example", "/app/whoami", a + "\n"}, // the first virtual host is the default
		{"two.example", "/common/whoami", b + "\n"},
	} {
		if code, body := get(tc.host, tc.path); code != 200 || body != tc.want {
			t.Errorf("Host %s %s: %d %q, want %q", tc.host, tc.path, code, body, tc.want)
		}
	}
	if code, _ := get("one.example", "/app/static/x"); code != 404 {
		t.Errorf("ProxyPass ! exclusion: %d, want 404", code)
	}
	req, _ := http.NewRequest("GET", "http://"+gw+"/app/env", nil)
	req.Host = "one.example"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e := parseEnv(t, resp, body)
	if v, _ := e.get("APP_ENV"); v != "one" {
		t.Errorf("SetEnv APP_ENV = %q", v)
	}
	if v, _ := e.get("SERVER_ADMIN"); v != "one@example" {
		t.Errorf("SERVER_ADMIN = %q, want the virtual host's", v)
	}
}

func TestKeepAliveLimits(t *testing.T) {
	be := startApp(t, "127.0.0.1:0").Addr().String()
	for _, tc := range []struct {
		name string
		cfg  loop.Config
		want int // requests answered on one connection before it closes
	}{
		{"KeepAlive Off", loop.Config{DisableKeepAlive: true}, 1},
		{"MaxKeepAliveRequests 3", loop.Config{MaxKeepAliveRequests: 3}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Mappings = []loop.Mapping{{Prefix: "/scgi-bin/", Backend: mustBackend(t, "scgi://"+be+"/")}}
			gw := startGateway(t, tc.cfg)
			rc := dialRaw(t, gw)
			for range 5 {
				rc.send("GET /scgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n")
			}
			got := 0
			for got < 5 {
				resp, err := http.ReadResponse(rc.br, nil)
				if err != nil {
					break
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck
				resp.Body.Close()
				got++
				if resp.Close {
					break
				}
			}
			if got != tc.want {
				t.Fatalf("%d responses before the close, want %d", got, tc.want)
			}
		})
	}
}

func TestBodyTimeoutApart(t *testing.T) {
	be := startApp(t, "127.0.0.1:0").Addr().String()
	gw := startGateway(t, loop.Config{
		HeaderTimeout: 30 * time.Second,
		BodyTimeout:   300 * time.Millisecond,
		Mappings:      []loop.Mapping{{Prefix: "/scgi-bin/", Backend: mustBackend(t, "scgi://"+be+"/")}},
	})
	rc := dialRaw(t, gw)
	rc.send("POST /scgi-bin/sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part of it")
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 408 {
		t.Fatalf("a body that stops coming: %d, want 408 after the body timeout", resp.StatusCode)
	}
}
