// Package config reads scgate's Apache-style directive files into plain
// structs. It checks the syntax and the shape of every directive and reports
// each problem as "file:line: what is wrong"; what the values mean (worker
// parameters, whether a balancer exists) is for the caller to judge, with the
// File and Line recorded here.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is one configuration file, its includes resolved.
type Config struct {
	Listen                []Located[string] // as written: "8080", "127.0.0.1:8080", "[::1]:80"
	PidFile, ErrorLog     string
	LogLevel              string // Apache's level word, lower-cased: emerg .. trace8
	CustomLogs            []CustomLog
	Timeout, ProxyTimeout time.Duration // 0 = unset
	// HeaderTimeout and BodyTimeout are RequestReadTimeout header= and body=; 0 = unset.
	HeaderTimeout, BodyTimeout time.Duration
	KeepAlive                  *bool
	KeepAliveTimeout           time.Duration
	MaxKeepAliveRequests       *int
	MaxConnections             *int // client connections held at once; over it new ones are refused
	LimitRequestBody           *int64
	LimitRequestLine           *int
	LimitRequestFieldSize      *int
	LimitRequestFields         *int
	SendfileRoots              []Located[string]
	// Balancers are in file order; names are lower-cased, without
	// "balancer://" and the trailing "/".
	Balancers    []*Balancer
	Main         *Server   // directives outside any VirtualHost; never nil
	VirtualHosts []*Server // in file order; the first is the default
	// Notices are "file:line: Directive ignored: reason" for what was read
	// but means nothing to scgate.
	Notices []string
}

// Located is a value with the place it was written.
type Located[T any] struct {
	Value T
	File  string
	Line  int
}

// CustomLog is a CustomLog line; Format is resolved from a LogFormat
// nickname, or is the literal format.
type CustomLog struct {
	Path, Format string
	File         string
	Line         int
}

// Balancer is a balancer://NAME declared by <Proxy>, BalancerMember or ProxySet.
type Balancer struct {
	Name    string
	Members []Member
	Params  []Located[string] // ProxySet key=value, as written
	File    string            // where the balancer first appears
	Line    int
}

// Member is a BalancerMember line.
type Member struct {
	URL    string
	Params []string // key=value, as written
	File   string
	Line   int
}

// Server is the main server or a <VirtualHost>.
type Server struct {
	Addrs         []string // VirtualHost addresses ("*:80"); nil for Main
	ServerName    string
	ServerAliases []string
	ServerAdmin   string
	DocumentRoot  string
	// Passes are ProxyPass and ProxyPassMatch in file order, those inside a
	// <Location> included with the Location's path.
	Passes    []Pass
	Locations []*Location // in file order
	SetEnv    []EnvVar
	// InternalRedirect and Sendfile are "On", "Off" or a header name; "" = not set here.
	InternalRedirect, Sendfile string
	CGIPassAuth                *bool
	File                       string
	Line                       int
}

// Pass is a ProxyPass or ProxyPassMatch line.
type Pass struct {
	Path   string // the URL path prefix, or the regular expression when Regexp
	Regexp bool
	URL    string   // as written; "!" for an exclusion
	Params []string // key=value, as written
	File   string
	Line   int
}

// Location is a <Location PATH> block.
type Location struct {
	Path string
	// InternalRedirect and Sendfile are "On", "Off" or a header name; "" = not set here.
	InternalRedirect, Sendfile string
	SetEnv                     []EnvVar
	CGIPassAuth                *bool
	Handler                    string   // SetHandler, as written
	Require                    []string // each Require line, its arguments joined by spaces
	File                       string
	Line                       int
}

// EnvVar is a SetEnv line.
type EnvVar struct {
	Name, Value string
}

// Error is one problem in a configuration file.
type Error struct {
	File string
	Line int // 0 when the problem is the file as a whole
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Errors are the problems found in a configuration, in the order they were read.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ParseFile reads the configuration file at path. The error, if any, is Errors.
func ParseFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: pathErrorText(err)}}
	}
	return parse(path, data)
}

// Parse reads a configuration named name from r; Include paths are relative
// to filepath.Dir(name). The error, if any, is Errors, and the Config is nil.
func Parse(name string, r io.Reader) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, Errors{{File: name, Msg: err.Error()}}
	}
	return parse(name, data)
}

func parse(name string, data []byte) (*Config, error) {
	p := newParser(name)
	p.reading = []string{canonicalPath(name)}
	p.readingNames = []string{name}
	p.readSource(name, data)
	p.resolveLogs()
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.cfg, nil
}

// pathErrorText drops the "open PATH:" an *fs.PathError repeats.
func pathErrorText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// canonicalPath names a file the same way however it was reached, for the include-cycle guard.
func canonicalPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

var utf8BOM = []byte("\xef\xbb\xbf")

func trimBOM(data []byte) []byte { return bytes.TrimPrefix(data, utf8BOM) }
