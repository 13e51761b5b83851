package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scgate/scgate/bench/backend/app"
	"github.com/scgate/scgate/bench/internal/run"
)

const (
	apacheModules   = "/usr/lib/apache2/modules"
	nginxSCGIParams = "/etc/nginx/scgi_params"
	sendfileSize    = 1 << 20
	postSize        = 4096
	helloBody       = "Hello, world!\n"
)

// Preferred loopback ports; the next free one is taken when one is busy.
var (
	backendPorts = [2]int{4000, 4001}
	targetPorts  = map[string]int{"apache": 18081, "nginx": 18082, "scgate": 18083}
)

// postBody is the 4 KiB request body of post4k; post.lua sends the same.
var postBody = strings.Repeat("0123456789abcdef", postSize/16)

type target struct {
	name    string
	port    int
	proc    *run.Proc
	version string
}

// run records one timed wrk run.
type runResult struct {
	wrk      wrkResult
	cpuTicks int64
	file     string // wrk's output
}

type bench struct {
	opts options
	ctx  context.Context

	repo     string
	tmp      string
	started  time.Time
	procs    run.Set
	bins     map[string]string // apache2, nginx, wrk, go -> path
	clkTck   int64
	backends [2]int
	sock     string
	files    string
	sfData   []byte
	luaPath  string
	targets  []*target
	results  map[string]map[string][]runResult
}

func (b *bench) run() error {
	b.started = time.Now()
	if os.Geteuid() != 0 {
		return errors.New("run as root (apt-get, and Apache and nginx start as root to drop to www-data)")
	}
	repo, err := run.FindRepo("compare")
	if err != nil {
		return err
	}
	b.repo = repo
	o := b.opts
	logf("%d scenario(s) x %d target(s) x %d round(s), wrk -t%d -c%d -d%s, warm-up %s: measurements take about %s (plus builds and start-up)",
		len(o.scenarios), len(o.targets), o.rounds, o.threads, o.conns, wrkSeconds(o.duration), o.warmup, o.estimate().Round(time.Second))
	if err := b.ensureTools(); err != nil {
		return err
	}
	b.clkTck = clockTicks()
	if b.tmp, err = os.MkdirTemp("", "scgate-compare-"); err != nil {
		return err
	}
	// Apache's and nginx's workers (www-data) read the socket and the files in here.
	if err := os.Chmod(b.tmp, 0o755); err != nil {
		return err
	}
	logf("temporary directory %s", b.tmp)
	if err := b.build(); err != nil {
		return err
	}
	if err := b.prepareFiles(); err != nil {
		return err
	}
	if err := b.startBackends(); err != nil {
		return err
	}
	for _, name := range o.targets {
		if err := b.startTarget(name); err != nil {
			return err
		}
	}
	if err := b.checkAll(); err != nil {
		return err
	}
	if err := b.measure(); err != nil {
		return err
	}
	return b.report()
}

// cleanup stops everything started here and removes the temporary
// directory unless it is wanted (failure, -keep).
func (b *bench) cleanup(failed bool) {
	run.Cleanup(&b.procs, b.tmp, failed || b.opts.keep, logf)
}

// lookPath finds a program in PATH or in the sbin directories that a
// non-login root shell may lack in its PATH.
func lookPath(name string) string {
	return run.LookPath(name, []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/local/go/bin"})
}

// ensureTools installs with apt-get what the chosen targets need.
func (b *bench) ensureTools() error {
	b.bins = map[string]string{}
	need := map[string]string{"wrk": "wrk"} // program -> Debian package
	for _, t := range b.opts.targets {
		switch t {
		case "apache":
			need["apache2"] = "apache2"
		case "nginx":
			need["nginx"] = "nginx"
		}
	}
	var missing []string
	for prog, pkg := range need {
		if lookPath(prog) == "" {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		if lookPath("apt-get") == "" {
			return fmt.Errorf("missing %s and no apt-get to install them", strings.Join(missing, ", "))
		}
		if err := run.AptInstall(b.ctx, logf, missing...); err != nil {
			return err
		}
	}
	for prog := range need {
		if b.bins[prog] = lookPath(prog); b.bins[prog] == "" {
			return fmt.Errorf("%s not found after installing it", prog)
		}
	}
	if b.bins["go"] = lookPath("go"); b.bins["go"] == "" {
		return errors.New("go not found in PATH or /usr/local/go/bin")
	}
	if need["apache2"] != "" {
		for _, m := range []string{"mod_mpm_event", "mod_authz_core", "mod_proxy", "mod_proxy_scgi",
			"mod_slotmem_shm", "mod_proxy_balancer", "mod_lbmethod_byrequests"} {
			if _, err := os.Stat(filepath.Join(apacheModules, m+".so")); err != nil {
				return fmt.Errorf("Apache module missing: %v", err)
			}
		}
	}
	if need["nginx"] != "" {
		if _, err := os.Stat(nginxSCGIParams); err != nil {
			return fmt.Errorf("nginx is installed without its scgi_params: %v", err)
		}
	}
	return nil
}

// build compiles scgate (when it is a target) and the backend into the
// temporary directory.
func (b *bench) build() error {
	var bins []run.Binary
	if slices.Contains(b.opts.targets, "scgate") {
		bins = append(bins, run.Scgate)
	}
	return run.Build(b.ctx, logf, b.bins["go"], b.repo, b.tmp, append(bins, run.Backend)...)
}

// prepareFiles writes the 1 MiB X-Sendfile file (readable by www-data) and
// wrk's Lua script for post4k.
func (b *bench) prepareFiles() error {
	b.files = filepath.Join(b.tmp, "files")
	if err := os.Mkdir(b.files, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(b.files, 0o755); err != nil {
		return err
	}
	b.sfData = make([]byte, sendfileSize)
	rand.Read(b.sfData)
	f := filepath.Join(b.files, "1m.bin")
	if err := os.WriteFile(f, b.sfData, 0o644); err != nil {
		return err
	}
	if err := os.Chmod(f, 0o644); err != nil {
		return err
	}
	b.luaPath = filepath.Join(b.tmp, "post.lua")
	lua := fmt.Sprintf(`-- post4k: POST /scgi-bin/echo with a %d-byte body (written by bench/compare)
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", %d)
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Content-Length"] = "%d"
`, postSize, postSize/16, postSize)
	return os.WriteFile(b.luaPath, []byte(lua), 0o644)
}

// freePort returns the first port from preferred on (100 tries) that
// 127.0.0.1 can listen on and that is not in taken.
func freePort(preferred int, taken map[int]bool) (int, error) {
	for p := preferred; p < preferred+100; p++ {
		if taken[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		taken[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port on 127.0.0.1 in %d-%d", preferred, preferred+99)
}

var takenPorts = map[int]bool{}

func (b *bench) startBackends() error {
	b.sock = filepath.Join(b.tmp, "app.sock")
	for i, pref := range backendPorts {
		p, err := freePort(pref, takenPorts)
		if err != nil {
			return err
		}
		if p != pref {
			logf("backend%d: 127.0.0.1:%d is in use, so it listens on 127.0.0.1:%d (filled into every config)", i+1, pref, p)
		}
		b.backends[i] = p
		argv := []string{filepath.Join(b.tmp, "backend"), "-listen", fmt.Sprintf("127.0.0.1:%d", p)}
		if i == 0 {
			argv = append(argv, "-listen", "unix:"+b.sock)
		}
		name := fmt.Sprintf("backend%d", i+1)
		pr, err := b.procs.Start(name, filepath.Join(b.tmp, name+".log"), "", argv)
		if err != nil {
			return err
		}
		if err := b.waitListening(pr, p); err != nil {
			return err
		}
		logf("%s: %s (PID %d)", name, strings.Join(argv[1:], " "), pr.PID)
	}
	// Apache's and nginx's workers connect as www-data: the socket must be
	// writable for them.
	for end := time.Now().Add(5 * time.Second); ; {
		if _, err := os.Stat(b.sock); err == nil {
			break
		}
		if time.Now().After(end) {
			return fmt.Errorf("backend1 made no unix socket %s", b.sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return os.Chmod(b.sock, 0o666)
}

// waitListening waits up to 15 s until 127.0.0.1:port accepts a connection,
// failing early when the process exits.
func (b *bench) waitListening(p *run.Proc, port int) error {
	return run.WaitListening(b.ctx, p, fmt.Sprintf("127.0.0.1:%d", port), 50*time.Millisecond)
}

// fillTemplate reads a config template of the repository and fills in its
// @@PLACEHOLDERS@@.
func (b *bench) fillTemplate(rel string, port int) ([]byte, error) {
	tpl, err := os.ReadFile(filepath.Join(b.repo, rel))
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer(
		"@@TMP@@", b.tmp,
		"@@PORT@@", strconv.Itoa(port),
		"@@BACKEND1@@", fmt.Sprintf("127.0.0.1:%d", b.backends[0]),
		"@@BACKEND2@@", fmt.Sprintf("127.0.0.1:%d", b.backends[1]),
		"@@SOCK@@", b.sock,
		"@@FILES@@", b.files,
		"@@MODDIR@@", apacheModules,
	)
	out := r.Replace(string(tpl))
	if i := strings.Index(out, "@@"); i >= 0 {
		end := min(len(out), i+30)
		return nil, fmt.Errorf("%s: unknown placeholder at %q", rel, out[i:end])
	}
	return []byte(out), nil
}

// startTarget writes a gateway's config, has the gateway check it, starts
// it in the foreground and waits until it listens.
func (b *bench) startTarget(name string) error {
	port, err := freePort(targetPorts[name], takenPorts)
	if err != nil {
		return err
	}
	var tplPath, conf string
	var testArgv, argv []string
	switch name {
	case "apache":
		tplPath, conf = "bench/apache/compare.conf", filepath.Join(b.tmp, "apache.conf")
		for _, d := range []string{"run", "htdocs"} {
			if err := os.MkdirAll(filepath.Join(b.tmp, d), 0o755); err != nil {
				return err
			}
		}
		testArgv = []string{b.bins["apache2"], "-t", "-f", conf}
		argv = []string{b.bins["apache2"], "-f", conf, "-DFOREGROUND"}
	case "nginx":
		tplPath, conf = "bench/nginx/compare.conf", filepath.Join(b.tmp, "nginx.conf")
		if err := os.MkdirAll(filepath.Join(b.tmp, "nginx"), 0o755); err != nil {
			return err
		}
		errLog := filepath.Join(b.tmp, "nginx-error.log")
		testArgv = []string{b.bins["nginx"], "-t", "-q", "-c", conf, "-e", errLog, "-g", "daemon off;"}
		argv = []string{b.bins["nginx"], "-c", conf, "-e", errLog, "-g", "daemon off;"}
	case "scgate":
		tplPath, conf = "bench/scgate/compare.conf", filepath.Join(b.tmp, "scgate.conf")
		bin := filepath.Join(b.tmp, "scgate")
		testArgv = []string{bin, "-t", "-f", conf}
		argv = []string{bin, "-f", conf}
	}
	data, err := b.fillTemplate(tplPath, port)
	if err != nil {
		return err
	}
	if err := os.WriteFile(conf, data, 0o644); err != nil {
		return err
	}
	if out, err := exec.CommandContext(b.ctx, testArgv[0], testArgv[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s config test (%s) failed: %v\n%s", name, strings.Join(testArgv, " "), err, out)
	}
	p, err := b.procs.Start(name, filepath.Join(b.tmp, name+".log"), "", argv)
	if err != nil {
		return err
	}
	if err := b.waitListening(p, port); err != nil {
		return err
	}
	t := &target{name: name, port: port, proc: p}
	b.targets = append(b.targets, t)
	logf("%s on 127.0.0.1:%d (process group %d): %s", name, port, p.PID, strings.Join(argv, " "))
	return nil
}

// path is the URL path and query of a scenario on a target.
func (b *bench) path(scenario, target string) string {
	switch scenario {
	case "hello":
		return "/scgi-bin/hello"
	case "64k":
		return "/scgi-bin/bytes?n=65536"
	case "post4k":
		return "/scgi-bin/echo"
	case "balancer":
		return "/bal/hello"
	case "unix":
		return "/unix/hello"
	case "sendfile":
		if target == "nginx" {
			return "/sf/sendfile?header=X-Accel-Redirect&path=" + url.QueryEscape("/_files/1m.bin")
		}
		return "/sf/sendfile?path=" + url.QueryEscape(filepath.Join(b.files, "1m.bin"))
	}
	panic("unknown scenario " + scenario)
}

func (b *bench) url(scenario string, t *target) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", t.port, b.path(scenario, t.name))
}

// want is the exact body a scenario must answer.
func (b *bench) want(scenario string) []byte {
	switch scenario {
	case "64k":
		data, _ := io.ReadAll(app.PatternReader(65536))
		return data
	case "post4k":
		return []byte(postBody)
	case "sendfile":
		return b.sfData
	}
	return []byte(helloBody)
}

var checkClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

// checkAll sends one request per scenario to every target and wants status
// 200 and exactly the expected body; then checks that the balancers reach
// both backends.
func (b *bench) checkAll() error {
	var failed []string
	for _, t := range b.targets {
		for _, s := range b.opts.scenarios {
			if err := b.check(s, t); err != nil {
				failed = append(failed, fmt.Sprintf("%s %s: %v", t.name, s, err))
				continue
			}
		}
		if slices.Contains(b.opts.scenarios, "balancer") {
			b.checkSpread(t)
		}
	}
	if len(failed) > 0 {
		for _, t := range b.targets {
			failed = append(failed, fmt.Sprintf("%s's log (%s):\n%s", t.name, t.proc.LogPath, run.Tail(t.proc.LogPath, 5)))
			for _, l := range []string{"apache-error.log", "nginx-error.log", "scgate-error.log"} {
				if strings.HasPrefix(l, t.name) {
					p := filepath.Join(b.tmp, l)
					failed = append(failed, fmt.Sprintf("%s:\n%s", p, run.Tail(p, 5)))
				}
			}
		}
		return fmt.Errorf("wrong answers before timing:\n  %s", strings.Join(failed, "\n  "))
	}
	logf("every target answers %s correctly (status 200, exact body)", strings.Join(b.opts.scenarios, ", "))
	return nil
}

func (b *bench) check(scenario string, t *target) error {
	u := b.url(scenario, t)
	method, body := http.MethodGet, io.Reader(nil)
	if scenario == "post4k" {
		method, body = http.MethodPost, strings.NewReader(postBody)
	}
	req, err := http.NewRequestWithContext(b.ctx, method, u, body)
	if err != nil {
		return err
	}
	if scenario == "post4k" {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := checkClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the body: %v", method, u, err)
	}
	want := b.want(scenario)
	if resp.StatusCode != 200 || !bytes.Equal(got, want) {
		return fmt.Errorf("%s %s: status %d, %d-byte body %q, want status 200 and the expected %d bytes",
			method, u, resp.StatusCode, len(got), clip(got, 80), len(want))
	}
	return nil
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// checkSpread warns when 6 GET /bal/whoami all reach the same backend.
func (b *bench) checkSpread(t *target) {
	seen := map[string]bool{}
	for range 6 {
		resp, err := checkClient.Get(fmt.Sprintf("http://127.0.0.1:%d/bal/whoami", t.port))
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		resp.Body.Close()
		if resp.StatusCode == 200 {
			seen[strings.TrimSpace(string(body))] = true
		}
	}
	if len(seen) < 2 {
		logf("WARNING: %s sent 6 GET /bal/whoami to %d backend(s) only: %v", t.name, len(seen), seen)
	}
}

func wrkSeconds(d time.Duration) string {
	return fmt.Sprintf("%ds", int(d/time.Second))
}

// wrkArgs is the wrk command line of a scenario.
func (b *bench) wrkArgs(scenario string, t *target, d time.Duration) []string {
	args := []string{fmt.Sprintf("-t%d", b.opts.threads), fmt.Sprintf("-c%d", b.opts.conns), "-d" + wrkSeconds(d), "--latency"}
	if scenario == "post4k" {
		args = append(args, "-s", b.luaPath)
	}
	return append(args, b.url(scenario, t))
}

// wrk runs wrk once and returns its output.
func (b *bench) wrk(scenario string, t *target, d time.Duration, outFile string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, d+30*time.Second)
	defer cancel()
	args := b.wrkArgs(scenario, t, d)
	out, err := exec.CommandContext(ctx, b.bins["wrk"], args...).CombinedOutput()
	if outFile != "" {
		os.WriteFile(outFile, out, 0o644)
	}
	if err != nil {
		if b.ctx.Err() != nil {
			return "", b.ctx.Err()
		}
		return "", fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// measure runs the rounds: in each, every scenario against every target in
// turn, the targets' order rotated by one each round. A target's first run
// of a scenario is preceded by an untimed warm-up.
func (b *bench) measure() error {
	b.results = map[string]map[string][]runResult{}
	for _, s := range b.opts.scenarios {
		b.results[s] = map[string][]runResult{}
	}
	n := len(b.targets)
	for r := range b.opts.rounds {
		for _, s := range b.opts.scenarios {
			for i := range n {
				t := b.targets[(i+r)%n]
				if r == 0 && b.opts.warmup > 0 {
					if _, err := b.wrk(s, t, b.opts.warmup, ""); err != nil {
						return fmt.Errorf("warm-up: %v", err)
					}
				}
				res, err := b.timedRun(s, t, r)
				if err != nil {
					return err
				}
				b.results[s][t.name] = append(b.results[s][t.name], res)
				w := res.wrk
				logf("round %d/%d %-8s %-6s %10.0f req/s  p50 %8s  p99 %8s  CPU %7.1f µs/req%s",
					r+1, b.opts.rounds, s, t.name, w.ReqPerSec, fmtMs(w.P50), fmtMs(w.P99),
					res.cpuPerReq(b.clkTck), errNote(w))
			}
		}
	}
	return nil
}

func errNote(w wrkResult) string {
	if w.Errors() == 0 {
		return ""
	}
	return fmt.Sprintf("  ERRORS: %d socket, %d non-2xx", w.SocketErrors, w.Non2xx)
}

// timedRun measures one wrk run and the CPU time the target's process
// group spent meanwhile.
func (b *bench) timedRun(s string, t *target, round int) (runResult, error) {
	if t.proc.Exited() {
		return runResult{}, fmt.Errorf("%s exited (%v):\n%s", t.name, t.proc.Err(), run.Tail(t.proc.LogPath, 10))
	}
	file := filepath.Join(b.tmp, fmt.Sprintf("wrk-%s-%s-%d.txt", s, t.name, round+1))
	before, _, err := groupCPUTicks(t.proc.PID)
	if err != nil {
		return runResult{}, err
	}
	out, err := b.wrk(s, t, b.opts.duration, file)
	if err != nil {
		return runResult{}, err
	}
	after, nprocs, err := groupCPUTicks(t.proc.PID)
	if err != nil {
		return runResult{}, err
	}
	if nprocs == 0 {
		return runResult{}, fmt.Errorf("%s: no process left in process group %d", t.name, t.proc.PID)
	}
	w, err := parseWrk(out)
	if err != nil {
		return runResult{}, fmt.Errorf("%s %s: %v (output in %s)", s, t.name, err, file)
	}
	if w.Requests == 0 {
		return runResult{}, fmt.Errorf("%s %s: wrk made no request (output in %s)", s, t.name, file)
	}
	return runResult{wrk: w, cpuTicks: after - before, file: file}, nil
}

// cpuPerReq is the gateway's CPU time per request, in microseconds.
func (r runResult) cpuPerReq(clkTck int64) float64 {
	if r.wrk.Requests == 0 {
		return 0
	}
	return float64(r.cpuTicks) / float64(clkTck) * 1e6 / float64(r.wrk.Requests)
}
