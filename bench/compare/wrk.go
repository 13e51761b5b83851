package main

import (
	"bufio"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run reports, as read from its text output.
type wrkResult struct {
	ReqPerSec float64       // "Requests/sec:"
	Requests  int64         // "N requests in 8.00s, ..."
	Elapsed   time.Duration // the "in 8.00s" of that line
	P50, P99  time.Duration // "Latency Distribution" (wrk --latency)
	// SocketErrors adds up connect, read, write and timeout errors.
	SocketErrors int64
	Non2xx       int64 // "Non-2xx or 3xx responses: N"
}

// Errors is every request wrk counted as failed.
func (r wrkResult) Errors() int64 { return r.SocketErrors + r.Non2xx }

// parseWrk reads the output of `wrk --latency`. It fails when a number the
// report needs (requests, req/s, p50, p99) is missing or malformed.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRPS, haveReq, have50, have99 bool
	inDist := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case line == "Latency Distribution":
			inDist = true
			continue
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, fmt.Errorf("wrk latency %s: %v", f[0], err)
			}
			switch f[0] {
			case "50%":
				r.P50, have50 = d, true
			case "99%":
				r.P99, have99 = d, true
			}
			continue
		}
		inDist = false
		switch {
		case f[0] == "Requests/sec:" && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk Requests/sec: %v", err)
			}
			r.ReqPerSec, haveRPS = v, true
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk request count: %v", err)
			}
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, fmt.Errorf("wrk run time: %v", err)
			}
			r.Requests, r.Elapsed, haveReq = n, d, true
		case strings.HasPrefix(line, "Socket errors:"):
			// Socket errors: connect 0, read 0, write 0, timeout 8
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("wrk socket errors %q: %v", line, err)
				}
				r.SocketErrors += n
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk non-2xx count: %v", err)
			}
			r.Non2xx = n
		}
	}
	var missing []string
	if !haveReq {
		missing = append(missing, `"N requests in"`)
	}
	if !haveRPS {
		missing = append(missing, "Requests/sec")
	}
	if !have50 || !have99 {
		missing = append(missing, "the latency distribution (--latency)")
	}
	if len(missing) > 0 {
		return r, fmt.Errorf("wrk output has no %s", strings.Join(missing, ", "))
	}
	return r, nil
}

// parseWrkDuration reads wrk's time format: a decimal number and one of the
// units us, ms, s, m, h ("812.00us", "1.23ms", "2.01s", "1.50m").
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(math.Round(v * float64(u.unit))), nil
	}
	return 0, fmt.Errorf("bad duration %q (no unit)", s)
}
