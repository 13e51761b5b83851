package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scgate/scgate/bench/backend/app"
	"github.com/scgate/scgate/bench/internal/run"
)

const (
	sendfileSize = 256 << 10
	wrkTimeout   = 10 * time.Second
)

// Preferred loopback ports, below the usual ephemeral range so that no
// client socket takes a killed member's port while it is down (and a
// connect to it cannot meet itself); the next free one is taken when busy.
var preferredPorts = map[string]int{"fixed": 4100, "m1": 4101, "m2": 4102, "scgate": 18090}

type soak struct {
	opts options
	ctx  context.Context

	repo, tmp string
	started   time.Time
	procs     run.Set
	bins      map[string]string
	ports     map[string]int
	sched     schedule

	mu      sync.Mutex
	members map[string]*run.Proc // m1, m2: the running process
	windows []window

	gw        *run.Proc
	sm        *sampler
	specs     []pathSpec
	wantFiles map[string]string
	wants     map[string][]byte
	luaPath   string
	loadStart time.Time
	loadEnd   time.Time
	loadEnds  []time.Time
	results   map[string][]pathResult // by phase
	baseline  sample
	cold      sample
	final     sample
	checks    []check
}

func (s *soak) run() (bool, error) {
	s.started = time.Now()
	o := s.opts
	s.sched = killSchedule(o.duration)
	repo, err := run.FindRepo("soak")
	if err != nil {
		return false, err
	}
	s.repo = repo
	warm := "no warm-up"
	if o.warmup > 0 {
		warm = fmt.Sprintf("warm-up %s", o.warmup)
	}
	logf("load %s with a member killed at %s (down %s each), %s, settle %s: about %s in all (plus builds)",
		o.duration, fmtOffsets(s.sched.kills), s.sched.down, warm, o.settle,
		(3*time.Second + o.warmup + o.settle + o.duration + o.settle + 10*time.Second).Round(time.Second))
	if err := s.ensureTools(); err != nil {
		return false, err
	}
	if s.tmp, err = os.MkdirTemp("", "scgate-soak-"); err != nil {
		return false, err
	}
	logf("temporary directory %s", s.tmp)
	if err := s.build(); err != nil {
		return false, err
	}
	if err := s.prepareFiles(); err != nil {
		return false, err
	}
	if err := s.pickPorts(); err != nil {
		return false, err
	}
	s.members = map[string]*run.Proc{}
	for _, name := range []string{"fixed", "m1", "m2"} {
		p, err := s.startBackend(name)
		if err != nil {
			return false, err
		}
		if name != "fixed" {
			s.members[name] = p
		}
	}
	if err := s.startGateway(); err != nil {
		return false, err
	}
	if err := s.checkPaths(); err != nil {
		return false, err
	}

	// Sampling, from now until the end.
	sctx, stopSampling := context.WithCancel(s.ctx)
	defer stopSampling()
	s.sm = newSampler(s.gw.PID, s.url("/scgate-status?json"), time.Now())
	s.sm.setPhase("idle")
	s.sm.take()
	samplingDone := make(chan struct{})
	go func() {
		s.sm.run(sctx)
		close(samplingDone)
	}()
	s.results = map[string][]pathResult{}
	if err := s.sleep(3 * time.Second); err != nil {
		return false, err
	}
	s.cold = s.last()
	s.baseline = s.cold
	if o.warmup > 0 {
		if err := s.load("warmup", o.warmup, false); err != nil {
			return false, err
		}
		if err := s.settle("settle-warmup"); err != nil {
			return false, err
		}
		s.baseline = s.last()
	}
	logf("baseline: RSS %s, %d fds, %d goroutines", fmtKiB(s.baseline.RSSKiB), s.baseline.FDs, s.baseline.Goroutines)
	if err := s.load("load", o.duration, true); err != nil {
		return false, err
	}
	if err := s.settle("settle"); err != nil {
		return false, err
	}
	s.final = s.last()
	stopSampling()
	<-samplingDone
	if s.gw.Exited() {
		return false, fmt.Errorf("scgate exited (%v):\n%s", s.gw.Err(), run.Tail(s.gw.LogPath, 10))
	}
	passed := s.judge()
	return passed, s.report(passed)
}

// cleanup stops everything started here and removes the temporary
// directory unless it is wanted (failure, -keep).
func (s *soak) cleanup(failed bool) {
	run.Cleanup(&s.procs, s.tmp, failed || s.opts.keep, logf)
}

// sleep waits d unless interrupted, failing early when the gateway exits.
func (s *soak) sleep(d time.Duration) error {
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		select {
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-s.gw.Done():
			return fmt.Errorf("scgate exited (%v):\n%s", s.gw.Err(), run.Tail(s.gw.LogPath, 10))
		case <-time.After(min(left, 500*time.Millisecond)):
		}
	}
}

// settle waits with no load, then until the next sample has been taken.
func (s *soak) settle(phase string) error {
	s.sm.setPhase(phase)
	if err := s.sleep(s.opts.settle); err != nil {
		return err
	}
	n := len(s.sm.all())
	for end := time.Now().Add(3 * time.Second); len(s.sm.all()) == n; {
		if time.Now().After(end) {
			return errors.New("the sampler stopped taking samples")
		}
		if err := s.sleep(100 * time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// last is the latest sample; a sample without the status page's part is
// an error at the baseline and at the end.
func (s *soak) last() sample {
	all := s.sm.all()
	return all[len(all)-1]
}

// lookPath finds a program in PATH, in Go's usual directory or in the sbin
// directories that a non-login root shell may lack in its PATH.
func lookPath(name string) string {
	return run.LookPath(name, []string{"/usr/local/go/bin", "/usr/sbin", "/sbin"})
}

// ensureTools finds go and wrk, installing wrk with apt-get (as root) when
// it is missing.
func (s *soak) ensureTools() error {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return errors.New("no /proc: the soak reads the gateway's RSS and fds there (Linux only)")
	}
	s.bins = map[string]string{"go": lookPath("go"), "wrk": lookPath("wrk")}
	if s.bins["go"] == "" {
		return errors.New("go not found in PATH or /usr/local/go/bin")
	}
	if s.bins["wrk"] == "" {
		if os.Geteuid() != 0 || lookPath("apt-get") == "" {
			return errors.New("wrk not found (apt-get install wrk)")
		}
		if err := run.AptInstall(s.ctx, logf, "wrk"); err != nil {
			return err
		}
		if s.bins["wrk"] = lookPath("wrk"); s.bins["wrk"] == "" {
			return errors.New("wrk not found after installing it")
		}
	}
	return nil
}

// build compiles scgate and the backend into the temporary directory.
func (s *soak) build() error {
	return run.Build(s.ctx, logf, s.bins["go"], s.repo, s.tmp, run.Scgate, run.Backend)
}

// prepareFiles writes the X-Sendfile file, the expected body of every path
// (soak.lua compares each 2xx body with its file) and the Lua script.
func (s *soak) prepareFiles() error {
	files := filepath.Join(s.tmp, "files")
	if err := os.Mkdir(files, 0o755); err != nil {
		return err
	}
	sf := make([]byte, sendfileSize)
	rand.Read(sf)
	sfPath := filepath.Join(files, "256k.bin")
	if err := os.WriteFile(sfPath, sf, 0o644); err != nil {
		return err
	}
	post := bytes.Repeat([]byte("0123456789abcdef"), 16384/16)
	sum := sha256.Sum256(post)
	pattern := func(n int64) []byte {
		b, _ := io.ReadAll(app.PatternReader(n))
		return b
	}
	s.wants = map[string][]byte{
		"hello":    []byte("Hello, world!\n"),
		"64k":      pattern(65536),
		"stream":   pattern(1 << 20),
		"post":     []byte(fmt.Sprintf("%d %x\n", len(post), sum)),
		"sendfile": sf,
	}
	s.wantFiles = map[string]string{}
	s.specs = nil
	for _, p := range workload {
		if p.Name == "sendfile" {
			p.Path += url.QueryEscape(sfPath)
		}
		if p.BodyBytes%16 != 0 {
			return fmt.Errorf("%s: the body must be a multiple of 16 bytes", p.Name)
		}
		s.specs = append(s.specs, p)
		f := filepath.Join(s.tmp, "want-"+p.Name)
		if err := os.WriteFile(f, s.wants[p.Name], 0o644); err != nil {
			return err
		}
		s.wantFiles[p.Name] = f
	}
	s.luaPath = filepath.Join(s.tmp, "soak.lua")
	return os.WriteFile(s.luaPath, luaScript, 0o644)
}

// ephemeralRange is the kernel's range of local ports for outgoing
// connections.
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if a, err := strconv.Atoi(f[0]); err == nil {
				lo = a
			}
			if b, err := strconv.Atoi(f[1]); err == nil {
				hi = b
			}
		}
	}
	return lo, hi
}

// pickPorts takes, for each process, the first port from its preferred one
// on that 127.0.0.1 can listen on, refusing ports in the ephemeral range.
func (s *soak) pickPorts() error {
	lo, hi := ephemeralRange()
	s.ports = map[string]int{}
	taken := map[int]bool{}
	for _, name := range []string{"fixed", "m1", "m2", "scgate"} {
		pref := preferredPorts[name]
		found := false
		for p := pref; p < pref+200 && !found; p++ {
			if taken[p] || (p >= lo && p <= hi) {
				continue
			}
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				continue
			}
			ln.Close()
			taken[p], s.ports[name], found = true, p, true
		}
		if !found {
			return fmt.Errorf("%s: no free port on 127.0.0.1 in %d-%d outside the ephemeral range %d-%d", name, pref, pref+199, lo, hi)
		}
	}
	return nil
}

func (s *soak) addr(name string) string {
	return fmt.Sprintf("127.0.0.1:%d", s.ports[name])
}

func (s *soak) url(path string) string {
	return "http://" + s.addr("scgate") + path
}

// memberURL is a backend's URL as the gateway's status page shows it.
func (s *soak) memberURL(name string) string {
	return "scgi://" + s.addr(name) + "/"
}

// startBackend starts (or restarts) a backend on its port and waits until
// it listens.
func (s *soak) startBackend(name string) (*run.Proc, error) {
	argv := []string{filepath.Join(s.tmp, "backend"), "-listen", s.addr(name)}
	p, err := s.procs.Start("backend "+name, filepath.Join(s.tmp, "backend-"+name+".log"), "", argv)
	if err != nil {
		return nil, err
	}
	if err := s.waitListening(p, s.addr(name)); err != nil {
		return nil, err
	}
	return p, nil
}

// waitListening waits up to 15 s until addr accepts a connection, failing
// early when the process exits.
func (s *soak) waitListening(p *run.Proc, addr string) error {
	return run.WaitListening(s.ctx, p, addr, 20*time.Millisecond)
}

// gatewayConf is scgate's configuration for the soak, in Apache's syntax.
func gatewayConf(tmp string, ports map[string]int) string {
	a := func(name string) string { return fmt.Sprintf("127.0.0.1:%d", ports[name]) }
	return fmt.Sprintf(`# written by bench/soak (go run ./bench/soak)
Listen %[1]s
PidFile %[2]s/scgate.pid
ErrorLog %[2]s/scgate-error.log
LogLevel warn

# Client connections: a kept-alive connection idle %[6]d s is closed, and
# one is closed after 100 requests (new connections all along the run).
KeepAlive On
KeepAliveTimeout %[6]d
MaxKeepAliveRequests 100

# The two members bench/soak kills in turn; retry=1: a failed member rests
# one second, then is tried again, so a restarted one comes back.
<Proxy balancer://two/>
    BalancerMember scgi://%[3]s/ retry=1
    BalancerMember scgi://%[4]s/ retry=1
</Proxy>
ProxyPass /bal/ balancer://two/

# The backend that is never killed: a streamed body and X-Sendfile.
ProxyPass /scgi-bin/ scgi://%[5]s/
SCGISendfileRoot %[2]s/files
<Location /sf/>
    ProxySCGISendfile On
</Location>
ProxyPass /sf/ scgi://%[5]s/

<Location /scgate-status>
    SetHandler scgate-status
    Require ip 127.0.0.1
</Location>
`, a("scgate"), tmp, a("m1"), a("m2"), a("fixed"), int(keepAliveTimeout/time.Second))
}

// startGateway writes the config, has scgate check it, starts it and waits
// until it listens.
func (s *soak) startGateway() error {
	conf := filepath.Join(s.tmp, "scgate.conf")
	if err := os.WriteFile(conf, []byte(gatewayConf(s.tmp, s.ports)), 0o644); err != nil {
		return err
	}
	bin := filepath.Join(s.tmp, "scgate")
	if out, err := exec.CommandContext(s.ctx, bin, "-t", "-f", conf).CombinedOutput(); err != nil {
		return fmt.Errorf("scgate -t -f %s: %v\n%s", conf, err, out)
	}
	p, err := s.procs.Start("scgate", filepath.Join(s.tmp, "scgate.log"), "", []string{bin, "-f", conf})
	if err != nil {
		return err
	}
	if err := s.waitListening(p, s.addr("scgate")); err != nil {
		return err
	}
	s.gw = p
	logf("scgate on %s (PID %d); backends: m1 %s (PID %d), m2 %s (PID %d), fixed %s",
		s.addr("scgate"), p.PID, s.addr("m1"), s.members["m1"].PID, s.addr("m2"), s.members["m2"].PID, s.addr("fixed"))
	return nil
}

var checkClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

// checkPaths sends every path once and wants status 200 with exactly the
// expected body, then reads the status page once.
func (s *soak) checkPaths() error {
	for _, p := range s.specs {
		var body io.Reader
		if p.BodyBytes > 0 {
			body = bytes.NewReader(bytes.Repeat([]byte("0123456789abcdef"), p.BodyBytes/16))
		}
		req, err := http.NewRequestWithContext(s.ctx, p.Method, s.url(p.Path), body)
		if err != nil {
			return err
		}
		resp, err := checkClient.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %v", p.Method, p.Path, err)
		}
		got, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: reading the body: %v", p.Method, p.Path, err)
		}
		if resp.StatusCode != 200 || !bytes.Equal(got, s.wants[p.Name]) {
			return fmt.Errorf("%s %s: status %d, %d-byte body, want 200 and the expected %d bytes:\n%s",
				p.Method, p.Path, resp.StatusCode, len(got), len(s.wants[p.Name]), run.Tail(filepath.Join(s.tmp, "scgate-error.log"), 5))
		}
	}
	resp, err := checkClient.Get(s.url("/scgate-status?json"))
	if err != nil {
		return fmt.Errorf("status page: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var smp sample
	if err := parseStatus(data, &smp); err != nil {
		return err
	}
	for _, m := range []string{"m1", "m2", "fixed"} {
		if _, ok := smp.Members[s.memberURL(m)]; !ok {
			return fmt.Errorf("the status page does not show %s (%s):\n%s", m, s.memberURL(m), data)
		}
	}
	logf("every path answers 200 with the expected body; the status page shows the three backends")
	return nil
}

// load runs the five wrk processes for d, killing and restarting members
// when kills is set, and keeps their results.
func (s *soak) load(phase string, d time.Duration, kills bool) error {
	s.sm.setPhase(phase)
	start := time.Now()
	s.sm.event(start, phase+" starts")
	logf("%s: %d wrk processes for %s (%s)", phase, len(s.specs), d, s.wrkSummary())
	var ps []*run.Proc
	outs := map[string]string{}
	for _, p := range s.specs {
		out := filepath.Join(s.tmp, fmt.Sprintf("wrk-%s-%s.out", phase, p.Name))
		argv := []string{s.bins["wrk"], "-t1", fmt.Sprintf("-c%d", p.Conns), fmt.Sprintf("-d%ds", int(d/time.Second)),
			"--latency", fmt.Sprintf("--timeout=%ds", int(wrkTimeout/time.Second)), "-s", s.luaPath, s.url(p.Path), "--",
			p.Name, p.Method, p.Path, s.wantFiles[p.Name], strconv.Itoa(p.BodyBytes), strconv.Itoa(p.Conns)}
		pr, err := s.procs.Start("wrk "+p.Name, filepath.Join(s.tmp, fmt.Sprintf("wrk-%s-%s.log", phase, p.Name)), out, argv)
		if err != nil {
			return err
		}
		ps = append(ps, pr)
		outs[p.Name] = out
	}
	if phase == "load" {
		s.loadStart = start
	}
	killErr := make(chan error, 1)
	kctx, stopKills := context.WithCancel(s.ctx)
	defer stopKills()
	if kills {
		go func() { killErr <- s.killer(kctx, start) }()
	} else {
		killErr <- nil
	}
	wrkDone := make(chan struct{})
	go func() {
		for _, p := range ps {
			<-p.Done()
		}
		close(wrkDone)
	}()
	deadline := time.After(d + 30*time.Second)
	killerDone := false
	for waiting := true; waiting; {
		select {
		case <-wrkDone:
			waiting = false
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-s.gw.Done():
			return fmt.Errorf("scgate exited during the %s (%v):\n%s", phase, s.gw.Err(), run.Tail(s.gw.LogPath, 10))
		case err := <-killErr:
			if err != nil {
				return err
			}
			killerDone, killErr = true, nil
		case <-deadline:
			return fmt.Errorf("wrk still running 30 s after its -d%ds", int(d/time.Second))
		}
	}
	end := time.Now()
	s.sm.event(end, phase+" ends")
	s.loadEnds = append(s.loadEnds, end)
	if phase == "load" {
		s.loadEnd = end
	}
	stopKills()
	if !killerDone {
		if err := <-killErr; err != nil {
			return err
		}
	}
	for i, p := range s.specs {
		if ps[i].Err() != nil {
			return fmt.Errorf("wrk %s: %v:\n%s", p.Name, ps[i].Err(), run.Tail(ps[i].LogPath, 10))
		}
		data, err := os.ReadFile(outs[p.Name])
		if err != nil {
			return err
		}
		r, err := parseResult(string(data))
		if err != nil {
			return fmt.Errorf("wrk %s (%s): %v\n%s", p.Name, outs[p.Name], err, run.Tail(ps[i].LogPath, 10))
		}
		if r.Name != p.Name {
			return fmt.Errorf("wrk %s reported as %q", p.Name, r.Name)
		}
		s.results[phase] = append(s.results[phase], r)
		logf("%s %-8s %8d sent %8d 2xx  p99 %9s  %s", phase, p.Name, r.Sent, r.ok2xx(), fmtUs(r.P99us), failNote(r))
	}
	return nil
}

func failNote(r pathResult) string {
	if len(r.Fails) == 0 && r.LostEnd == 0 && r.Read+r.Write+r.Connect+r.Timeout == 0 {
		return "no failure"
	}
	var parts []string
	for _, f := range r.Fails {
		parts = append(parts, fmt.Sprintf("%d %s at %s", f.Count, f.Kind, time.Unix(f.Unix, 0).Format("15:04:05")))
	}
	if r.Read+r.Write+r.Connect+r.Timeout > 0 {
		parts = append(parts, fmt.Sprintf("wrk socket errors: connect %d, read %d, write %d, timeout %d", r.Connect, r.Read, r.Write, r.Timeout))
	}
	return "failures: " + strings.Join(parts, ", ")
}

func (s *soak) wrkSummary() string {
	var parts []string
	total := 0
	for _, p := range s.specs {
		parts = append(parts, fmt.Sprintf("%s -c%d", p.Name, p.Conns))
		total += p.Conns
	}
	return fmt.Sprintf("%s; %d connections", strings.Join(parts, ", "), total)
}

// killer SIGKILLs a member at each scheduled time, alternately m1 and m2,
// and restarts it on the same port after the down time.
func (s *soak) killer(ctx context.Context, start time.Time) error {
	sleepUntil := func(t time.Time) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(t)):
			return nil
		}
	}
	for i, off := range s.sched.kills {
		name := memberOf(i)
		if err := sleepUntil(start.Add(off)); err != nil {
			return nil // the load ended or was interrupted
		}
		s.mu.Lock()
		p := s.members[name]
		s.mu.Unlock()
		if p.Exited() {
			return fmt.Errorf("%s (PID %d) exited by itself before its kill (%v):\n%s", name, p.PID, p.Err(), run.Tail(p.LogPath, 10))
		}
		from := time.Now()
		if err := killMember(p); err != nil {
			return err
		}
		s.sm.event(from, fmt.Sprintf("kill %s (PID %d)", name, p.PID))
		logf("SIGKILL %s (PID %d) at %.1fs of the load", name, p.PID, from.Sub(start).Seconds())
		if err := sleepUntil(from.Add(s.sched.down)); err != nil {
			return nil
		}
		np, err := s.startBackend(name)
		if err != nil {
			return fmt.Errorf("restarting %s: %v", name, err)
		}
		to := time.Now()
		s.sm.event(to, fmt.Sprintf("restart %s (PID %d)", name, np.PID))
		logf("restarted %s on %s (PID %d), down %.1fs", name, s.addr(name), np.PID, to.Sub(from).Seconds())
		s.mu.Lock()
		s.members[name] = np
		s.windows = append(s.windows, window{Member: name, PID: p.PID, From: from, To: to})
		s.mu.Unlock()
	}
	return nil
}

func fmtOffsets(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no time"
	}
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.String())
	}
	return strings.Join(parts, ", ")
}
