package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// writeConf writes a config file and returns its path.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scgate.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func getBody(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestConfigSeedExamples runs the binary on the seed examples,
// verbatim but for the backend ports, behind real backends.
func TestConfigSeedExamples(t *testing.T) {
	a, b := startApp(t), startApp(t)
	files := map[string]string{
		"single": "ProxyPass /scgi-bin/ scgi://" + a + "/\nProxyPass /scgi-bin/private/ !\n",
		"balancer": "ProxyPass /scgi-bin/ balancer://somecluster/\n" +
			"<Proxy balancer://somecluster/>\n" +
			"    BalancerMember scgi://" + a + "/\n" +
			"    BalancerMember scgi://" + b + "/\n" +
			"</Proxy>\n",
		"redirect off": "ProxyPass /scgi-bin/ scgi://" + a + "/\nProxySCGIInternalRedirect Off\n",
	}
	for name, text := range files {
		t.Run(name, func(t *testing.T) {
			addr, _ := startGateway(t, "-f", writeConf(t, text))
			if code, body := getBody(t, "http://"+addr+"/scgi-bin/hello", ""); code != 200 || body != "Hello, world!\n" {
				t.Fatalf("hello: %d %q", code, body)
			}
			if name == "balancer" {
				seen := map[string]bool{}
				for range 6 {
					_, who := getBody(t, "http://"+addr+"/scgi-bin/whoami", "")
					seen[strings.TrimSpace(who)] = true
				}
				if !seen[a] || !seen[b] {
					t.Fatalf("balancer answers came from %v, want both %s and %s", seen, a, b)
				}
			}
			if name == "redirect off" {
				resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get("http://" + addr + "/scgi-bin/location?to=/scgi-bin/hello")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("Location") != "/scgi-bin/hello" {
					t.Fatalf("ProxySCGIInternalRedirect Off: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
				}
			}
		})
	}

	t.Run("sendfile On and a custom header", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("file body\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		text := "ProxyPass /scgi-bin/ scgi://" + a + "/\nSCGISendfileRoot " + dir + "\n" +
			"# Use the default header (X-Sendfile)\nProxySCGISendfile On\n"
		addr, _ := startGateway(t, "-f", writeConf(t, text))
		if code, body := getBody(t, "http://"+addr+"/scgi-bin/sendfile?path="+dir+"/f.txt", ""); code != 200 || body != "file body\n" {
			t.Fatalf("X-Sendfile: %d %q", code, body)
		}
		text = "ProxyPass /scgi-bin/ scgi://" + a + "/\nSCGISendfileRoot " + dir + "\n" +
			"# Use a different header\nProxySCGISendfile X-Send-Static\n"
		addr, _ = startGateway(t, "-f", writeConf(t, text))
		if code, body := getBody(t, "http://"+addr+"/scgi-bin/sendfile?header=X-Send-Static&path="+dir+"/f.txt", ""); code != 200 || body != "file body\n" {
			t.Fatalf("X-Send-Static: %d %q", code, body)
		}
	})

	t.Run("virtual hosts by Host", func(t *testing.T) {
		text := "<VirtualHost *:80>\n  ServerName one.example\n  ProxyPass /app/ scgi://" + a + "/\n</VirtualHost>\n" +
			"<VirtualHost *:80>\n  ServerName two.example\n  ServerAlias www.two.example\n  ProxyPass /app/ scgi://" + b + "/\n</VirtualHost>\n"
		addr, _ := startGateway(t, "-f", writeConf(t, text))
		for host, want := range map[string]string{"one.example": a, "www.two.example": b, "other": a} {
			if _, who := getBody(t, "http://"+addr+"/app/whoami", host); strings.TrimSpace(who) != want {
				t.Errorf("Host %s went to %q, want %s", host, who, want)
			}
		}
	})
}

func TestConfigTest(t *testing.T) {
	bin := buildGateway(t)
	good := writeConf(t, "Listen 127.0.0.1:8080\nProxyPass /scgi-bin/ scgi://localhost:4000/\nLoadModule proxy_module modules/mod_proxy.so\n")
	out, err := exec.Command(bin, "-t", "-f", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Syntax OK") {
		t.Fatalf("-t on a good file: %v\n%s", err, out)
	}
	bad := writeConf(t, "ProxyPass /scgi-bin/\nFrobnicate yes\n")
	out, err = exec.Command(bin, "-t", "-f", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("-t on a bad file exited 0:\n%s", out)
	}
	for _, want := range []string{bad + ":1:", bad + ":2:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("-t output lacks %q:\n%s", want, out)
		}
	}
}

// TestSIGHUPReload changes a mapping under load: no request fails, new
// requests reach the new backend, and a broken file is refused.
func TestSIGHUPReload(t *testing.T) {
	a, b := startApp(t), startApp(t)
	conf := writeConf(t, "ProxyPass /app/ scgi://"+a+"/\n")
	addr, cmd := startGateway(t, "-f", conf)
	client := &http.Client{Timeout: 10 * time.Second}
	var failures, seenB atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("http://" + addr + "/app/whoami")
				if err != nil {
					failures.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch who := strings.TrimSpace(string(body)); {
				case resp.StatusCode != 200:
					failures.Add(1)
				case who == b:
					seenB.Add(1)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := os.WriteFile(conf, []byte("ProxyPass /app/ scgi://"+b+"/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for seenB.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// A broken file is refused; the running configuration stays.
	if err := os.WriteFile(conf, []byte("ProxyPass /app/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d requests failed across the reloads", failures.Load())
	}
	if seenB.Load() < 50 {
		t.Fatalf("only %d answers from the new backend after SIGHUP", seenB.Load())
	}
	if _, who := getBody(t, "http://"+addr+"/app/whoami", ""); strings.TrimSpace(who) != b {
		t.Fatalf("after a refused reload the gateway answers from %q, want %s", who, b)
	}
}

// TestSIGUSR1ReopensLogs rotates the access log as logrotate does.
func TestSIGUSR1ReopensLogs(t *testing.T) {
	a := startApp(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	addr, cmd := startGateway(t, "-access-log", logPath, "-pass", "/app/=scgi://"+a+"/")
	waitFor := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), want) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		b, _ := os.ReadFile(path)
		t.Fatalf("%s never got %q; it holds:\n%s", path, want, b)
	}
	getBody(t, "http://"+addr+"/app/hello?first", "")
	waitFor(logPath, "/app/hello?first")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(logPath); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	getBody(t, "http://"+addr+"/app/hello?second", "")
	waitFor(logPath, "/app/hello?second")
	if b, _ := os.ReadFile(logPath + ".1"); strings.Contains(string(b), "second") {
		t.Fatalf("the rotated file still gets lines:\n%s", b)
	}
}

func TestStatusPage(t *testing.T) {
	a, b := startApp(t), startApp(t)
	text := "ProxyPass /app/ balancer://pair/\n<Proxy balancer://pair/>\n  BalancerMember scgi://" + a + "/\n  BalancerMember scgi://" + b + "/\n</Proxy>\n" +
		"<Location /scgate-status>\n  SetHandler scgate-status\n  Require ip 127.0.0.1 ::1\n</Location>\n" +
		"<Location /closed-status>\n  SetHandler scgate-status\n  Require ip 10.1.2.3\n</Location>\n" +
		"ProxyPass /dead/ scgi://" + freeAddr(t) + "/\n"
	addr, _ := startGateway(t, "-f", writeConf(t, text))
	if code, _ := getBody(t, "http://"+addr+"/dead/hello", ""); code != 503 {
		t.Fatalf("a dead backend: %d, want 503", code)
	}
	for range 10 {
		if code, _ := getBody(t, "http://"+addr+"/app/hello", ""); code != 200 {
			t.Fatalf("hello: %d", code)
		}
	}
	code, body := getBody(t, "http://"+addr+"/scgate-status?json", "")
	if code != 200 {
		t.Fatalf("status json: %d %q", code, body)
	}
	var st struct {
		Goroutines int
		Balancers  []struct {
			Name    string
			Members []struct {
				URL       string
				State     string
				Requests  uint64
				BytesIn   uint64 `json:"bytes_in"`
				LastError string `json:"last_error"`
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("status json does not parse: %v\n%s", err, body)
	}
	if len(st.Balancers) != 2 || st.Balancers[0].Name != "pair" || len(st.Balancers[0].Members) != 2 {
		t.Fatalf("status json: %+v", st)
	}
	if st.Goroutines <= 0 {
		t.Errorf("status json: goroutines %d, want the gateway's goroutine count", st.Goroutines)
	}
	if dead := st.Balancers[1]; dead.Members[0].State != "error" || !strings.Contains(dead.Members[0].LastError, "connect") {
		t.Errorf("the dead member's status: %+v", dead)
	}
	st.Balancers = st.Balancers[:1]
	var total uint64
	for _, m := range st.Balancers[0].Members {
		total += m.Requests
		if m.State != "ok" || m.Requests != 5 || m.BytesIn == 0 {
			t.Errorf("member %+v, want ok with 5 requests and bytes in", m)
		}
	}
	if total != 10 {
		t.Errorf("members counted %d requests, 10 were sent", total)
	}

	code, body = getBody(t, "http://"+addr+"/scgate-status?metrics", "")
	sample := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? -?[0-9.eE+-]+$`)
	typed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		switch {
		case strings.HasPrefix(line, "# TYPE "):
			typed[strings.Fields(line)[2]] = true
		case strings.HasPrefix(line, "# HELP "):
		case !sample.MatchString(line):
			t.Errorf("not Prometheus exposition format: %q", line)
		case !typed[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]]:
			t.Errorf("sample before its # TYPE: %q", line)
		}
	}
	if code != 200 || !strings.Contains(body, `scgate_member_requests_total{balancer="pair",member="scgi://`+a+`/"} 5`) {
		t.Errorf("metrics %d:\n%s", code, body)
	}
	if code, body := getBody(t, "http://"+addr+"/scgate-status", ""); code != 200 || !strings.Contains(body, "scgate status") {
		t.Errorf("status html: %d %q", code, body)
	}
	if code, _ := getBody(t, "http://"+addr+"/closed-status?json", ""); code != 403 {
		t.Errorf("status for another address: %d, want 403", code)
	}
}

func TestProxyPassMatch(t *testing.T) {
	a := startApp(t)
	text := "ProxyPass /m/plain/ scgi://" + a + "/\n" +
		`ProxyPassMatch "^/m/(\w+)/env$" scgi://` + a + "/r/$1\n"
	addr, _ := startGateway(t, "-f", writeConf(t, text))
	code, body := getBody(t, "http://"+addr+"/m/abc/env", "")
	if code != 200 || !strings.Contains(body, `["SCRIPT_FILENAME","proxy:scgi://`+a+`/r/abc"]`) {
		t.Fatalf("ProxyPassMatch: %d %s", code, body)
	}
	if code, body := getBody(t, "http://"+addr+"/m/plain/hello", ""); code != 200 || body != "Hello, world!\n" {
		t.Fatalf("prefix mapping beside it: %d %q", code, body)
	}
	if code, _ := getBody(t, "http://"+addr+"/m/a-b/env", ""); code != 404 {
		t.Fatalf("a path the expression does not match: %d, want 404", code)
	}
}

func TestSeveralListen(t *testing.T) {
	a := startApp(t)
	second := freeAddr(t)
	first := freeAddr(t)
	text := "Listen " + first + "\nListen " + second + "\nProxyPass /app/ scgi://" + a + "/\n"
	bin := buildGateway(t)
	cmd := exec.Command(bin, "-f", writeConf(t, text))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck
		cmd.Wait()         //nolint:errcheck
	})
	for _, addr := range []string{first, second} {
		waitListening(t, addr)
		if code, body := getBody(t, "http://"+addr+"/app/hello", ""); code != 200 || body != "Hello, world!\n" {
			t.Fatalf("Listen %s: %d %q", addr, code, body)
		}
	}
}
