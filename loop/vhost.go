package loop

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/scgate/scgate/codec"
	"github.com/scgate/scgate/pool"
)

// VirtualHost is a name-based virtual host (Apache's <VirtualHost>).
type VirtualHost struct {
	// Names are the ServerName and ServerAlias values; '*' and '?' are
	// wildcards, as in Apache's ServerAlias.
	Names                                 []string
	ServerName, ServerAdmin, DocumentRoot string
	Mappings                              []Mapping
}

// vhost is a VirtualHost ready for routing.
type vhost struct {
	names       []string
	mappings    []mapping // longest prefix first
	regexps     []mapping // ProxyPassMatch, in configuration order, tried first
	serverName  []byte
	serverPort  []byte // ServerName's port, else the scheme's
	admin       []byte
	docRoot     []byte
	hasWildcard bool
	roots       sendfileRoots
}

func (s *Server) newVhost(v VirtualHost, roots sendfileRoots) (*vhost, error) {
	vh := &vhost{serverName: []byte(v.ServerName), admin: []byte(v.ServerAdmin), docRoot: []byte(v.DocumentRoot), roots: roots}
	if vh.serverName == nil {
		vh.serverName = s.serverName
	}
	vh.serverName, vh.serverPort = splitHostPort(vh.serverName)
	if len(vh.serverPort) == 0 {
		vh.serverPort = []byte("80")
	}
	if len(vh.admin) == 0 {
		vh.admin = s.admin
	}
	if len(vh.docRoot) == 0 {
		vh.docRoot = s.docRoot
	}
	for _, n := range append([]string{v.ServerName}, v.Names...) {
		if n = strings.ToLower(n); n != "" {
			vh.names = append(vh.names, n)
			vh.hasWildcard = vh.hasWildcard || strings.ContainsAny(n, "*?")
		}
	}
	seen := map[string]bool{}
	for _, m := range v.Mappings {
		if m.Match == nil && !strings.HasPrefix(m.Prefix, "/") {
			return nil, fmt.Errorf("mapping %q: the path must start with /", m.Prefix)
		}
		if m.Match != nil {
			m.Prefix = m.Match.String()
		}
		if seen[m.Prefix] {
			continue // the virtual host's own mapping wins over an inherited one
		}
		seen[m.Prefix] = true
		mm := mapping{Mapping: m, bal: m.Balancer, prefix: []byte(m.Prefix)}
		if m.Match != nil {
			mm.prefix = nil
		}
		for _, e := range m.Env {
			mm.env = append(mm.env, codec.Header{Name: []byte(e.Name), Value: []byte(e.Value)})
		}
		if m.Exclude || m.Status {
			vh.mappings = append(vh.mappings, mm)
			continue
		}
		switch {
		case mm.bal != nil:
			// Apache names the balancer, not the member, in SCRIPT_FILENAME.
			mm.scriptBase = []byte("proxy:balancer://" + mm.bal.Name + "/")
		case m.Backend != nil:
			mm.bal = pool.Single(&pool.Member{Backend: m.Backend, Params: pool.DefaultMemberParams()})
			mm.scriptBase = []byte(m.Backend.ScriptFilenameBase)
		default:
			return nil, fmt.Errorf("mapping %q: no backend", m.Prefix)
		}
		if m.InternalRedirect == "" {
			m.InternalRedirect = "On"
		}
		mm.redirectHeader = onOffHeader(m.InternalRedirect, "Location")
		mm.sendfileHeader = onOffHeader(m.Sendfile, "X-Sendfile")
		if mm.sendfileHeader != "" && len(roots) == 0 {
			return nil, fmt.Errorf("mapping %q: ProxySCGISendfile is on but no directory may be served: add SCGISendfileRoot DIR (flag -sendfile-root DIR) for the files the backend names", m.Prefix)
		}
		if len(mm.bal.Members) == 1 && (mm.bal.Name == "" || mm.bal.Name == mm.bal.Members[0].URL) {
			// A worker, not a balancer (pool.Single names it after its URL).
			mm.scriptBase = []byte(mm.bal.Members[0].ScriptFilenameBase)
		}
		if m.Match != nil {
			vh.regexps = append(vh.regexps, mm)
			continue
		}
		vh.mappings = append(vh.mappings, mm)
	}
	sort.SliceStable(vh.mappings, func(i, j int) bool { return len(vh.mappings[i].prefix) > len(vh.mappings[j].prefix) })
	return vh, nil
}

// vhostFor chooses the virtual host for a Host header value.
func (s *Server) vhostFor(host []byte) *vhost {
	vhosts := s.routing.Load().vhosts
	if len(vhosts) == 1 || len(host) == 0 {
		return vhosts[0]
	}
	name, _ := splitHostPort(host)
	for _, vh := range vhosts {
		for _, n := range vh.names {
			if len(n) == len(name) && bytes.EqualFold(name, []byte(n)) {
				return vh
			}
		}
	}
	lower := strings.ToLower(string(name))
	for _, vh := range vhosts {
		if !vh.hasWildcard {
			continue
		}
		for _, n := range vh.names {
			if ok, _ := path.Match(n, lower); ok {
				return vh
			}
		}
	}
	return vhosts[0]
}

// route returns the mapping with the longest prefix of p, or nil (also for
// a ProxyPass ! exclusion).
func (vh *vhost) route(p []byte) *mapping {
	for i := range vh.regexps {
		if vh.regexps[i].Match.Match(p) {
			return &vh.regexps[i]
		}
	}
	for i := range vh.mappings {
		if bytes.HasPrefix(p, vh.mappings[i].prefix) {
			if vh.mappings[i].Exclude {
				return nil
			}
			return &vh.mappings[i]
		}
	}
	return nil
}
