package loop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/netip"
	"runtime"
	"sort"
	"strconv"

	"github.com/valyala/bytebufferpool"

	"github.com/scgate/scgate/codec"
	"github.com/scgate/scgate/pool"
)

// The status page (Apache's server-status spelling: SetHandler
// scgate-status in a <Location>): every balancer and member with its
// counters, as HTML for people, JSON (?json) and Prometheus text (?metrics).

// StatusMember is one member's line on the status page.
type StatusMember struct {
	URL      string `json:"url"`
	State    string `json:"state"`
	Requests uint64 `json:"requests"`
	Failures uint64 `json:"failures"`
	InFlight int64  `json:"in_flight"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// LastError is the member's last failure, with its time; "" when none.
	LastError string `json:"last_error"`
}

// StatusBalancer is one balancer on the status page.
type StatusBalancer struct {
	Name    string         `json:"name"`
	Method  string         `json:"lbmethod"`
	Members []StatusMember `json:"members"`
}

// Status is the whole status page.
type Status struct {
	InFlight    int64            `json:"in_flight"`
	Connections int64            `json:"connections"` // client connections held
	Refused     uint64           `json:"refused"`     // connections refused over MaxConnections
	Goroutines  int              `json:"goroutines"`  // runtime.NumGoroutine(), for leak checks (bench/soak)
	Balancers   []StatusBalancer `json:"balancers"`
}

// Status returns the counters of every balancer in use.
func (s *Server) Status() Status {
	st := Status{InFlight: s.inflight.Load(), Connections: s.conns.Load(), Refused: s.refused.Load(),
		Goroutines: runtime.NumGoroutine()}
	seen := map[*pool.Balancer]bool{}
	for _, m := range s.allMappings() {
		b := m.bal
		if b == nil || seen[b] {
			continue
		}
		seen[b] = true
		sb := StatusBalancer{Name: b.Name, Method: b.Params.Method.String()}
		if sb.Name == "" {
			sb.Name = m.Prefix
		}
		for _, mem := range b.Members {
			ms := mem.Stats()
			sb.Members = append(sb.Members, StatusMember{URL: mem.URL, State: ms.State, Requests: ms.Requests,
				Failures: ms.Failures, InFlight: ms.InFlight, BytesIn: ms.BytesIn, BytesOut: ms.BytesOut, LastError: ms.LastError})
		}
		st.Balancers = append(st.Balancers, sb)
	}
	sort.SliceStable(st.Balancers, func(i, j int) bool { return st.Balancers[i].Name < st.Balancers[j].Name })
	return st
}

// allowed reports whether the client may see a status mapping.
func (m *mapping) allowed(ip []byte) bool {
	if len(m.Allow) == 0 {
		return true
	}
	addr, err := netip.ParseAddr(string(ip))
	if err != nil {
		return false
	}
	for _, p := range m.Allow {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// serveStatus answers a request for a status mapping.
func (cl *client) serveStatus(m *mapping) {
	if !m.allowed(cl.remoteIP) {
		cl.reply(403)
		return
	}
	st := cl.ls.srv.Status()
	body := new(bytes.Buffer)
	ctype := "text/html; charset=utf-8"
	q := cl.req.Query
	switch {
	case bytes.Equal(q, []byte("json")):
		ctype = "application/json"
		json.NewEncoder(body).Encode(st) //nolint:errcheck
	case bytes.Equal(q, []byte("metrics")):
		ctype = "text/plain; version=0.0.4"
		writeMetrics(body, &st)
	default:
		writeStatusHTML(body, &st)
	}
	s := cl.ls.srv
	h := codec.ResponseHead{Minor: cl.minor, Status: 200, ContentLength: int64(body.Len()),
		Headers: []codec.Header{{Name: []byte("Content-Type"), Value: []byte(ctype)}, {Name: []byte("Cache-Control"), Value: []byte("no-store")}}}
	h.Close = !cl.keepAlive
	h.KeepAlive = cl.keepAlive && cl.minor == 0
	b := bytebufferpool.Get()
	b.B = codec.AppendResponseHead(b.B[:0], &h, s.date.Get(), s.server)
	if !cl.isHead {
		b.B = append(b.B, body.Bytes()...)
		cl.sent += int64(body.Len())
	}
	cl.status = 200
	ok := cl.write(b.B)
	bytebufferpool.Put(b)
	if ok {
		cl.requestDone(true)
	}
}

func writeMetrics(w *bytes.Buffer, st *Status) {
	fmt.Fprintf(w, "# HELP scgate_in_flight_requests Requests being served.\n# TYPE scgate_in_flight_requests gauge\nscgate_in_flight_requests %d\n", st.InFlight)
	fmt.Fprintf(w, "# HELP scgate_connections Client connections held.\n# TYPE scgate_connections gauge\nscgate_connections %d\n", st.Connections)
	fmt.Fprintf(w, "# HELP scgate_refused_connections_total Connections refused over MaxConnections.\n# TYPE scgate_refused_connections_total counter\nscgate_refused_connections_total %d\n", st.Refused)
	for _, metric := range []struct{ name, kind, help string }{
		{"scgate_member_requests_total", "counter", "Requests sent to the member."},
		{"scgate_member_failures_total", "counter", "Requests the member failed."},
		{"scgate_member_in_flight", "gauge", "Requests at the member now."},
		{"scgate_member_bytes_in_total", "counter", "Bytes read from the member."},
		{"scgate_member_bytes_out_total", "counter", "Bytes sent to the member."},
		{"scgate_member_up", "gauge", "1 when the member takes requests."},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", metric.name, metric.help, metric.name, metric.kind)
		for _, b := range st.Balancers {
			for _, m := range b.Members {
				var v string
				switch metric.name {
				case "scgate_member_requests_total":
					v = strconv.FormatUint(m.Requests, 10)
				case "scgate_member_failures_total":
					v = strconv.FormatUint(m.Failures, 10)
				case "scgate_member_in_flight":
					v = strconv.FormatInt(m.InFlight, 10)
				case "scgate_member_bytes_in_total":
					v = strconv.FormatUint(m.BytesIn, 10)
				case "scgate_member_bytes_out_total":
					v = strconv.FormatUint(m.BytesOut, 10)
				case "scgate_member_up":
					v = "0"
					if m.State == "ok" || m.State == "standby" {
						v = "1"
					}
				}
				fmt.Fprintf(w, "%s{balancer=%s,member=%s} %s\n", metric.name, strconv.Quote(b.Name), strconv.Quote(m.URL), v)
			}
		}
	}
}

func writeStatusHTML(w *bytes.Buffer, st *Status) {
	w.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\"><title>scgate status</title></head><body>\n")
	fmt.Fprintf(w, "<h1>scgate status</h1>\n<p>Requests in flight: %d; client connections: %d; refused over MaxConnections: %d</p>\n", st.InFlight, st.Connections, st.Refused)
	for _, b := range st.Balancers {
		fmt.Fprintf(w, "<h2>%s (%s)</h2>\n<table border=\"1\"><tr><th>member</th><th>state</th><th>requests</th><th>failures</th><th>in flight</th><th>bytes in</th><th>bytes out</th><th>last error</th></tr>\n",
			html.EscapeString(b.Name), html.EscapeString(b.Method))
		for _, m := range b.Members {
			fmt.Fprintf(w, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td></tr>\n",
				html.EscapeString(m.URL), html.EscapeString(m.State), m.Requests, m.Failures, m.InFlight, m.BytesIn, m.BytesOut, html.EscapeString(m.LastError))
		}
		w.WriteString("</table>\n")
	}
	w.WriteString("</body></html>\n")
}
