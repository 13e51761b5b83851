package main

import (
	_ "embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

//go:embed soak.lua
var luaScript []byte

// failure is what soak.lua noted in one second: a status other than 2xx,
// "lost" (the connection died before the answer) or "badbody" (a 2xx whose
// body was not the expected one).
type failure struct {
	Unix  int64  // the second, os.time()
	Kind  string // "502", "lost", "badbody", ...
	Count int64
}

// pathResult is one wrk process's soak-result line: one path's numbers.
type pathResult struct {
	Name     string
	Sent     int64 // request() calls
	Answered int64 // response() calls
	Lost     int64 // lost requests seen during the run
	LostEnd  int64 // lost requests, at least, counted at the end
	BadBody  int64
	// wrk's own counters: socket errors and answers >= 400.
	Connect, Read, Write, Status, Timeout int64
	P50us, P99us                          int64
	Statuses                              map[int]int64
	Fails                                 []failure // sorted by second, then kind
}

// ok2xx is the number of 2xx answers.
func (r pathResult) ok2xx() int64 {
	var n int64
	for st, c := range r.Statuses {
		if st >= 200 && st <= 299 {
			n += c
		}
	}
	return n
}

// parseResult finds and parses the soak-result line in a wrk process's
// output.
func parseResult(out string) (pathResult, error) {
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "soak-result ") {
			if line != "" {
				return pathResult{}, fmt.Errorf("two soak-result lines")
			}
			line = l
		}
	}
	if line == "" {
		return pathResult{}, fmt.Errorf("no soak-result line (did the Lua script fail?)")
	}
	r := pathResult{Statuses: map[int]int64{}}
	seen := map[string]bool{}
	for _, kv := range strings.Fields(line)[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return r, fmt.Errorf("soak-result: %q is not key=value", kv)
		}
		if seen[k] {
			return r, fmt.Errorf("soak-result: %s twice", k)
		}
		seen[k] = true
		var err error
		num := func(dst *int64) {
			*dst, err = strconv.ParseInt(v, 10, 64)
			if err == nil && *dst < 0 {
				err = fmt.Errorf("negative")
			}
		}
		switch k {
		case "name":
			r.Name = v
		case "sent":
			num(&r.Sent)
		case "answered":
			num(&r.Answered)
		case "lost":
			num(&r.Lost)
		case "lostend":
			num(&r.LostEnd)
		case "badbody":
			num(&r.BadBody)
		case "connect":
			num(&r.Connect)
		case "read":
			num(&r.Read)
		case "write":
			num(&r.Write)
		case "status":
			num(&r.Status)
		case "timeout":
			num(&r.Timeout)
		case "p50us":
			num(&r.P50us)
		case "p99us":
			num(&r.P99us)
		case "statuses":
			err = parseList(v, func(f []string, n int64) error {
				if len(f) != 1 {
					return fmt.Errorf("want STATUS:COUNT")
				}
				st, err := strconv.Atoi(f[0])
				if err != nil || st < 100 || st > 999 {
					return fmt.Errorf("bad status %q", f[0])
				}
				r.Statuses[st] += n
				return nil
			})
		case "fails":
			err = parseList(v, func(f []string, n int64) error {
				if len(f) != 2 || f[1] == "" {
					return fmt.Errorf("want SECOND:KIND:COUNT")
				}
				sec, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil || sec <= 0 {
					return fmt.Errorf("bad second %q", f[0])
				}
				r.Fails = append(r.Fails, failure{Unix: sec, Kind: f[1], Count: n})
				return nil
			})
		default:
			err = fmt.Errorf("unknown key")
		}
		if err != nil {
			return r, fmt.Errorf("soak-result: %s=%s: %v", k, v, err)
		}
	}
	for _, k := range []string{"name", "sent", "answered", "lost", "lostend", "badbody", "statuses", "fails"} {
		if !seen[k] {
			return r, fmt.Errorf("soak-result: no %s", k)
		}
	}
	sort.Slice(r.Fails, func(i, j int) bool {
		if r.Fails[i].Unix != r.Fails[j].Unix {
			return r.Fails[i].Unix < r.Fails[j].Unix
		}
		return r.Fails[i].Kind < r.Fails[j].Kind
	})
	var answered int64
	for _, n := range r.Statuses {
		answered += n
	}
	if answered != r.Answered {
		return r, fmt.Errorf("soak-result: statuses add up to %d, answered=%d", answered, r.Answered)
	}
	if r.Lost > r.LostEnd || r.Answered+r.LostEnd > r.Sent {
		return r, fmt.Errorf("soak-result: sent=%d answered=%d lost=%d lostend=%d do not add up", r.Sent, r.Answered, r.Lost, r.LostEnd)
	}
	return r, nil
}

// parseList parses "-" (empty) or a comma list of colon-separated fields
// whose last one is a count.
func parseList(v string, fn func(fields []string, n int64) error) error {
	if v == "-" {
		return nil
	}
	for _, item := range strings.Split(v, ",") {
		f := strings.Split(item, ":")
		n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		if len(f) < 2 || err != nil || n <= 0 {
			return fmt.Errorf("bad item %q", item)
		}
		if err := fn(f[:len(f)-1], n); err != nil {
			return fmt.Errorf("item %q: %v", item, err)
		}
	}
	return nil
}
