package loop_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/loop"
	"github.com/scgate/scgate/pool"
)

// ---- balancer fixtures ----

// mustMember builds a member for the backend at addr with params.
func mustMember(t *testing.T, addr string, params ...string) *pool.Member {
	t.Helper()
	m, err := pool.NewMember("scgi://"+addr+"/", params...)
	if err != nil {
		t.Fatalf("NewMember(%s): %v", addr, err)
	}
	return m
}

func mustBalancer(t *testing.T, params []string, members ...*pool.Member) *pool.Balancer {
	t.Helper()
	bp := pool.DefaultBalancerParams()
	for _, kv := range params {
		k, v, _ := strings.Cut(kv, "=")
		if err := pool.SetBalancerParam(&bp, k, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := pool.NewBalancer("cluster", bp, members)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// balancerGateway maps /app/ to b.
func balancerGateway(t *testing.T, b *pool.Balancer, tweak func(*loop.Config)) string {
	cfg := loop.Config{Mappings: []loop.Mapping{{Prefix: "/app/", Balancer: b}}}
	if tweak != nil {
		tweak(&cfg)
	}
	return startGateway(t, cfg)
}

// whoami asks the gateway which backend answered; it returns the backend's
// address, or "status NNN" for a gateway answer.
func whoami(t *testing.T, c *http.Client, gw string, setup func(*http.Request)) string {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+gw+"/app/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Sprintf("status %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(body))
}

// ---- policies, end to end ----

func TestBalancerByRequestsLoadFactor(t *testing.T) {
	a := startApp(t, "127.0.0.1:0").Addr().String()
	b := startApp(t, "127.0.0.1:0").Addr().String()
	bal := mustBalancer(t, nil, mustMember(t, a, "loadfactor=1"), mustMember(t, b, "loadfactor=3"))
	gw := balancerGateway(t, bal, nil)
	c := newClient(t)
	counts := map[string]int{}
	const n = 4000
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 4 {
				who := whoami(t, c, gw, nil)
				mu.Lock()
				counts[who]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	shareA := float64(counts[a]) * 100 / n
	shareB := float64(counts[b]) * 100 / n
	if counts[a]+counts[b] != n || shareA < 23 || shareA > 27 || shareB < 73 || shareB > 77 {
		t.Fatalf("shares %v (a %.1f%%, b %.1f%%), want 25/75 within 2 points", counts, shareA, shareB)
	}
}

func TestBalancerByBusyness(t *testing.T) {
	a := startApp(t, "127.0.0.1:0").Addr().String()
	b := startApp(t, "127.0.0.1:0").Addr().String()
	ma, mb := mustMember(t, a), mustMember(t, b)
	bal := mustBalancer(t, []string{"lbmethod=bybusyness"}, ma, mb)
	gw := balancerGateway(t, bal, nil)
	c := newClient(t)

	// Three slow requests split 2/1 over the members; every quick request
	// after them must go to the member holding fewer.
	var slow sync.WaitGroup
	for range 3 {
		slow.Add(1)
		go func() {
			defer slow.Done()
			resp, err := c.Get("http://" + gw + "/app/slow?ms=1500")
			if err == nil {
				io.Copy(io.Discard, resp.Body) //nolint:errcheck
				resp.Body.Close()
			}
		}()
	}
	// Wait until the three slow requests are in flight.
	deadline := time.Now().Add(10 * time.Second)
	for ma.Stats().InFlight+mb.Stats().InFlight < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	busy, idleAddr := ma, b
	if mb.Stats().InFlight > ma.Stats().InFlight {
		busy, idleAddr = mb, a
	}
	if busy.Stats().InFlight < 2 {
		t.Fatalf("in flight a=%d b=%d", ma.Stats().InFlight, mb.Stats().InFlight)
	}
	for i := range 20 {
		if who := whoami(t, c, gw, nil); who != idleAddr {
			t.Fatalf("quick request %d went to %s while %s holds %d slow ones", i, who, busy.URL, busy.Stats().InFlight)
		}
	}
	slow.Wait()
}

func TestBalancerHash(t *testing.T) {
	var addrs []string
	var lns []net.Listener
	var members []*pool.Member
	for range 3 {
		ln := startApp(t, "127.0.0.1:0")
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
		members = append(members, mustMember(t, ln.Addr().String(), "retry=60"))
	}
	bal := mustBalancer(t, []string{"lbmethod=hash", "hashkey=header:X-User"}, members...)
	gw := balancerGateway(t, bal, nil)
	c := newClient(t)
	user := func(k string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-User", k) }
	}

	first := whoami(t, c, gw, user("alice"))
	for i := range 1000 {
		if who := whoami(t, c, gw, user("alice")); who != first {
			t.Fatalf("request %d for alice went to %s, earlier ones to %s", i, who, first)
		}
	}

	const keys = 3000
	before := make([]string, keys)
	for k := range keys {
		before[k] = whoami(t, c, gw, user(fmt.Sprint("user", k)))
	}
	lns[2].Close() // the third member goes down
	moved, lost := 0, 0
	for k := range keys {
		after := whoami(t, c, gw, user(fmt.Sprint("user", k)))
		switch {
		case strings.HasPrefix(after, "status"):
			lost++
		case before[k] == addrs[2]:
			if after == addrs[2] {
				t.Fatalf("key %d still answered by the closed member", k)
			}
		case after != before[k]:
			moved++
		}
	}
	if moved != 0 || lost != 0 {
		t.Fatalf("taking one member down moved %d keys of the others and failed %d requests", moved, lost)
	}

	// No key: falls back to round-robin over the live members.
	seen := map[string]bool{}
	for range 10 {
		seen[whoami(t, c, gw, nil)] = true
	}
	if len(seen) != 2 {
		t.Fatalf("keyless requests went to %v, want both live members", seen)
	}
}

func TestBalancerStickySession(t *testing.T) {
	a := startApp(t, "127.0.0.1:0").Addr().String()
	b := startApp(t, "127.0.0.1:0").Addr().String()
	bal := mustBalancer(t, []string{"stickysession=JSESSIONID|jsessionid"},
		mustMember(t, a, "route=node1"), mustMember(t, b, "route=node2"))
	gw := balancerGateway(t, bal, nil)
	c := newClient(t)
	cookie := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Cookie", "other=1; JSESSIONID="+v) }
	}
	for range 10 {
		if who := whoami(t, c, gw, cookie("abc.node2")); who != b {
			t.Fatalf("cookie route node2 went to %s", who)
		}
		if who := whoami(t, c, gw, cookie("xyz.node1")); who != a {
			t.Fatalf("cookie route node1 went to %s", who)
		}
	}
	for range 10 {
		req, _ := http.NewRequest("GET", "http://"+gw+"/app/whoami?x=1&jsessionid=q.node1", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(body)) != a {
			t.Fatalf("URL route node1 went to %q", body)
		}
	}
	seen := map[string]bool{}
	for range 10 {
		seen[whoami(t, c, gw, cookie("abc.node9"))] = true
	}
	if len(seen) != 2 {
		t.Fatalf("an unknown route went to %v, want the balancer's round-robin", seen)
	}
}

// ---- failover ----

func TestBalancerFailoverUnderLoad(t *testing.T) {
	a := startApp(t, "127.0.0.1:0").Addr().String()
	lnB := startApp(t, "127.0.0.1:0")
	b := lnB.Addr().String()
	mb := mustMember(t, b, "retry=1")
	bal := mustBalancer(t, nil, mustMember(t, a, "retry=1"), mb)
	gw := balancerGateway(t, bal, nil)
	c := newClient(t)

	var failed, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				total.Add(1)
				if who := whoami(t, c, gw, nil); strings.HasPrefix(who, "status") {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	lnB.Close() // member b dies mid-run
	time.Sleep(500 * time.Millisecond)
	served := mb.Stats().Requests
	// Bring b back on the same address; after retry (1 s) it gets traffic again.
	startApp(t, b)
	deadline := time.Now().Add(15 * time.Second)
	for mb.Stats().Requests <= served+10 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed while a member died", failed.Load(), total.Load())
	}
	if mb.Stats().Requests <= served+10 {
		t.Fatalf("the member that came back got no traffic (%d requests before, %d after)", served, mb.Stats().Requests)
	}
}

func TestBalancerAllDownAndHotStandby(t *testing.T) {
	deadA, deadB := freeAddr(t), freeAddr(t)
	bal := mustBalancer(t, nil, mustMember(t, deadA), mustMember(t, deadB))
	gw := balancerGateway(t, bal, nil)
	c := newClient(t)
	for range 3 {
		if who := whoami(t, c, gw, nil); who != "status 503" {
			t.Fatalf("all members down: got %s, want status 503", who)
		}
	}

	spare := startApp(t, "127.0.0.1:0").Addr().String()
	live := startApp(t, "127.0.0.1:0").Addr().String()
	bal2 := mustBalancer(t, nil, mustMember(t, freeAddr(t)), mustMember(t, spare, "status=+H"))
	gw2 := balancerGateway(t, bal2, nil)
	for range 5 {
		if who := whoami(t, c, gw2, nil); who != spare {
			t.Fatalf("with the only regular member down, got %s, want the hot standby %s", who, spare)
		}
	}
	bal3 := mustBalancer(t, nil, mustMember(t, live), mustMember(t, spare, "status=+H"))
	gw3 := balancerGateway(t, bal3, nil)
	for range 5 {
		if who := whoami(t, c, gw3, nil); who != live {
			t.Fatalf("with a regular member up, got %s, want %s (standby unused)", who, live)
		}
	}
}

func TestBalancerMaxAndAcquire(t *testing.T) {
	a := startApp(t, "127.0.0.1:0").Addr().String()
	m := mustMember(t, a, "max=1", "acquire=5000")
	bal := mustBalancer(t, nil, m)
	gw := balancerGateway(t, bal, nil)
	c := newClient(t)
	var wg sync.WaitGroup
	codes := make(chan int, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get("http://" + gw + "/app/slow?ms=200")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Fatalf("with max=1 and acquire 5 s, a waiting request got %d", code)
		}
	}

	m2 := mustMember(t, a, "max=1")
	gw2 := balancerGateway(t, mustBalancer(t, nil, m2), nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := c.Get("http://" + gw2 + "/app/slow?ms=1500")
		if err == nil {
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for m2.Stats().InFlight < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if who := whoami(t, c, gw2, nil); who != "status 503" {
		t.Fatalf("a full member without acquire: got %s, want status 503", who)
	}
	<-done
}

// ---- warm spares ----

// idleKiller is an SCGI backend that answers whoami. A connection silent
// for idle is closed unused; one whose request comes after stale is closed
// unanswered, as if the backend had dropped it just as the request was sent.
func idleKiller(t *testing.T, idle, stale time.Duration) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			born := time.Now()
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(idle)) //nolint:errcheck
				br := bufio.NewReader(c)
				lenText, err := br.ReadString(':')
				if err != nil || time.Since(born) > stale {
					return
				}
				c.SetReadDeadline(time.Now().Add(ioTimeout)) //nolint:errcheck
				var n int
				fmt.Sscanf(lenText, "%d:", &n)
				if _, err := io.ReadFull(br, make([]byte, n+1)); err != nil {
					return
				}
				fmt.Fprintf(c, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n%s\n", c.LocalAddr())
			}()
		}
	}()
	return ln.Addr().String(), accepted
}

func TestWarmSpares(t *testing.T) {
	addr, accepted := idleKiller(t, time.Hour, time.Hour)
	m := mustMember(t, addr, "min=4")
	gw := balancerGateway(t, mustBalancer(t, nil, m), nil)
	deadline := time.Now().Add(10 * time.Second)
	for accepted.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if accepted.Load() < 4 {
		t.Fatalf("%d spare connections after start, want 4", accepted.Load())
	}
	c := newClient(t)
	for range 20 {
		if who := whoami(t, c, gw, nil); who != addr {
			t.Fatalf("got %s", who)
		}
	}
	// Spares are refilled: the 20 requests used spares, and new ones replace them.
	deadline = time.Now().Add(10 * time.Second)
	for accepted.Load() < 24 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if accepted.Load() < 24 {
		t.Fatalf("%d connections accepted after 20 requests with min=4, want at least 24 (spares refilled)", accepted.Load())
	}
}

func TestWarmSparesClosedByBackend(t *testing.T) {
	// Spares closed while idle are dropped and replaced.
	addr, accepted := idleKiller(t, 50*time.Millisecond, time.Hour)
	gw := balancerGateway(t, mustBalancer(t, nil, mustMember(t, addr, "min=4")), nil)
	c := newClient(t)
	for i := range 20 {
		if who := whoami(t, c, gw, nil); who != addr {
			t.Fatalf("request %d: got %s with a backend that closes idle spares", i, who)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if accepted.Load() < 8 {
		t.Fatalf("only %d connections: the spares were not used or not refilled", accepted.Load())
	}

	// A spare the backend drops just as the request arrives: the request is
	// sent again on a new connection, and the client never knows.
	addr2, _ := idleKiller(t, time.Hour, 30*time.Millisecond)
	gw2 := balancerGateway(t, mustBalancer(t, nil, mustMember(t, addr2, "min=2")), nil)
	for i := range 10 {
		time.Sleep(50 * time.Millisecond) // every spare is stale by now
		if who := whoami(t, c, gw2, nil); who != addr2 {
			t.Fatalf("request %d on a stale spare: got %s", i, who)
		}
	}
}

func TestBalancerResendsOnlySafeMethods(t *testing.T) {
	// Member a accepts every connection and drops it unanswered, as a
	// backend that dies under its requests does.
	dropper, _ := idleKiller(t, time.Hour, 0)
	live := startApp(t, "127.0.0.1:0").Addr().String()
	bal := mustBalancer(t, nil, mustMember(t, dropper, "retry=0"), mustMember(t, live, "retry=0"))
	gw := balancerGateway(t, bal, nil)
	c := newClient(t)
	for i := range 20 {
		if who := whoami(t, c, gw, nil); who != live {
			t.Fatalf("GET %d: got %s, want it resent to %s", i, who, live)
		}
	}
	got502 := 0
	for range 20 {
		resp, err := c.Post("http://"+gw+"/app/whoami", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
		case 502:
			got502++
		default:
			t.Fatalf("POST: status %d", resp.StatusCode)
		}
	}
	if got502 == 0 {
		t.Fatal("no POST reached the dropping member, or one was resent: a POST must not be sent twice")
	}
}

func TestBalancerHealthChecks(t *testing.T) {
	sick := startApp(t, "127.0.0.1:0").Addr().String()
	well := startApp(t, "127.0.0.1:0").Addr().String()
	// The sick member answers its health URI with 500; both serve whoami.
	ms := mustMember(t, sick, "hcmethod=scgi", "hcuri=/status?code=500", "hcinterval=20ms", "hcfails=2")
	mw := mustMember(t, well, "hcmethod=scgi", "hcuri=/hello", "hcinterval=20ms")
	gw := balancerGateway(t, mustBalancer(t, nil, ms, mw), nil)
	deadline := time.Now().Add(10 * time.Second)
	for ms.Stats().State != "hc-down" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := ms.Stats().State; st != "hc-down" {
		t.Fatalf("member failing its scgi health check is %q", st)
	}
	c := newClient(t)
	for i := range 20 {
		if who := whoami(t, c, gw, nil); who != well {
			t.Fatalf("request %d went to %s, a member down by health check", i, who)
		}
	}
	if st := mw.Stats().State; st != "ok" {
		t.Fatalf("healthy member is %q", st)
	}
}

// TestConnectTimeout: a member whose connect never completes (its accept
// queue is full) is given up after its connectiontimeout; the request goes
// to the next member, and with no other member it gets 503, not 504.
func TestConnectTimeout(t *testing.T) {
	stalled := stalledListener(t).Addr().String()
	good := startApp(t, "127.0.0.1:0").Addr().String()
	b := mustBalancer(t, nil, mustMember(t, stalled, "connectiontimeout=300ms"), mustMember(t, good))
	alone := mustBackend(t, "scgi://"+stalled+"/")
	alone.ConnectTimeout = 300 * time.Millisecond
	gw := balancerGateway(t, b, func(cfg *loop.Config) {
		cfg.Loops = 1
		cfg.Mappings = append(cfg.Mappings, loop.Mapping{Prefix: "/alone/", Backend: alone})
	})
	c := newClient(t)
	for i := range 4 {
		start := time.Now()
		if got := whoami(t, c, gw, nil); got != good {
			t.Errorf("request %d answered by %q, want %s", i, got, good)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("request %d took %v", i, d)
		}
	}
	if st := b.Members[0].Stats(); st.Failures == 0 {
		t.Errorf("stalled member: %+v, want a failure counted", st)
	}
	resp, body := get(t, c, "http://"+gw+"/alone/hello")
	if resp.StatusCode != 503 {
		t.Errorf("single stalled backend: %q %q, want 503", resp.Status, body)
	}
}
