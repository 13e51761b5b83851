package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memberStat is one backend's counters on the status page.
type memberStat struct {
	State              string
	Requests, Failures uint64
}

// sample is one second's look at the gateway.
type sample struct {
	At          time.Time // when the sample began (/proc is read first)
	StatusAt    time.Time // when the status page's answer was in: its counters are from between At and this
	Phase       string
	RSSKiB      int64 // VmRSS
	FDs         int   // entries of /proc/PID/fd
	Goroutines  int   // from the status page; 0 when it did not answer
	Requests    uint64
	Connections int64
	InFlight    int64
	Members     map[string]memberStat // by member URL (summed over mappings)
	Events      []string              // what happened since the previous sample
	Err         string                // why a part of the sample is missing
}

// statusJSON is the part of the status page (?json) read here.
type statusJSON struct {
	InFlight    int64 `json:"in_flight"`
	Connections int64 `json:"connections"`
	Goroutines  int   `json:"goroutines"`
	Balancers   []struct {
		Name    string `json:"name"`
		Members []struct {
			URL      string `json:"url"`
			State    string `json:"state"`
			Requests uint64 `json:"requests"`
			Failures uint64 `json:"failures"`
		} `json:"members"`
	} `json:"balancers"`
}

// parseStatus reads the status page's JSON into a sample: goroutines,
// requests sent to backends so far (all members of all mappings),
// connections, requests in flight and the members' counters.
func parseStatus(data []byte, s *sample) error {
	var st statusJSON
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("status JSON: %v", err)
	}
	if st.Goroutines <= 0 {
		return fmt.Errorf("status JSON has no goroutines field (a gateway without it in loop/status.go?)")
	}
	s.Goroutines, s.Connections, s.InFlight = st.Goroutines, st.Connections, st.InFlight
	s.Members = map[string]memberStat{}
	for _, b := range st.Balancers {
		for _, m := range b.Members {
			ms := s.Members[m.URL]
			ms.Requests += m.Requests
			ms.Failures += m.Failures
			if ms.State == "" || m.State != "ok" {
				ms.State = m.State
			}
			s.Members[m.URL] = ms
			s.Requests += m.Requests
		}
	}
	return nil
}

// sampler takes a sample every second until stopped.
type sampler struct {
	pid       int
	statusURL string
	client    *http.Client
	start     time.Time

	mu      sync.Mutex
	phase   string
	pending []string
	samples []sample
}

func newSampler(pid int, statusURL string, start time.Time) *sampler {
	return &sampler{pid: pid, statusURL: statusURL, start: start, phase: "start",
		client: &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}}
}

func (sm *sampler) setPhase(p string) {
	sm.mu.Lock()
	sm.phase = p
	sm.mu.Unlock()
}

// event notes something (a kill, a restart, a phase) for the next sample.
func (sm *sampler) event(at time.Time, what string) {
	sm.mu.Lock()
	sm.pending = append(sm.pending, fmt.Sprintf("%s at %.1fs", what, at.Sub(sm.start).Seconds()))
	sm.mu.Unlock()
}

// take reads /proc first (so the status request's own connection is not
// among the fds), then the status page.
func (sm *sampler) take() sample {
	s := sample{At: time.Now()}
	var errs []string
	var err error
	if s.RSSKiB, err = vmRSS(sm.pid); err != nil {
		errs = append(errs, "rss: "+err.Error())
	}
	if s.FDs, err = openFDs(sm.pid); err != nil {
		errs = append(errs, "fds: "+err.Error())
	}
	if err := sm.status(&s); err != nil {
		errs = append(errs, "status: "+err.Error())
	}
	s.StatusAt = time.Now()
	s.Err = strings.Join(errs, "; ")
	sm.mu.Lock()
	s.Phase = sm.phase
	s.Events = sm.pending
	sm.pending = nil
	sm.samples = append(sm.samples, s)
	sm.mu.Unlock()
	return s
}

func (sm *sampler) status(s *sample) error {
	resp, err := sm.client.Get(sm.statusURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return parseStatus(data, s)
}

// run samples every second, on the second since start, until ctx ends.
func (sm *sampler) run(ctx context.Context) {
	for i := 1; ; i++ {
		next := sm.start.Add(time.Duration(i) * time.Second)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		sm.take()
	}
}

func (sm *sampler) all() []sample {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return append([]sample(nil), sm.samples...)
}

// csvMembers names the members of the CSV's columns, in order.
type csvMember struct{ Name, URL string }

// writeCSV writes one row per sample: seconds since start, Unix time in
// ms, phase, RSS in KiB, open fds, goroutines, requests sent to backends so
// far, client connections, requests in flight, each member's requests,
// failures and state, the events since the previous row, and what could
// not be read.
func writeCSV(w io.Writer, start time.Time, samples []sample, members []csvMember) error {
	cw := csv.NewWriter(w)
	head := []string{"t_s", "unix_ms", "phase", "rss_kib", "fds", "goroutines", "requests", "connections", "in_flight"}
	for _, m := range members {
		head = append(head, m.Name+"_requests", m.Name+"_failures", m.Name+"_state")
	}
	head = append(head, "events", "error")
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, s := range samples {
		row := []string{
			strconv.FormatFloat(s.At.Sub(start).Seconds(), 'f', 3, 64),
			strconv.FormatInt(s.At.UnixMilli(), 10),
			s.Phase,
			strconv.FormatInt(s.RSSKiB, 10),
			strconv.Itoa(s.FDs),
			strconv.Itoa(s.Goroutines),
			strconv.FormatUint(s.Requests, 10),
			strconv.FormatInt(s.Connections, 10),
			strconv.FormatInt(s.InFlight, 10),
		}
		for _, m := range members {
			ms, ok := s.Members[m.URL]
			if !ok {
				row = append(row, "", "", "")
				continue
			}
			row = append(row, strconv.FormatUint(ms.Requests, 10), strconv.FormatUint(ms.Failures, 10), ms.State)
		}
		row = append(row, strings.Join(s.Events, "; "), s.Err)
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
