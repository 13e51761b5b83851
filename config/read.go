package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const (
	maxErrors       = 50
	maxIncludeDepth = 16
	spaces          = " \t\r\f\v"
)

// parser holds the state of one Parse: the config being filled, the open
// blocks, and the files being read.
type parser struct {
	cfg  *Config
	errs Errors
	// stopped is set once maxErrors is reached; nothing more is read.
	stopped bool

	frames   []*frame
	skipping int // open blocks whose contents are skipped
	server   *Server
	location *Location
	balancer *Balancer

	reading      []string // canonical paths of the files being read, outermost first
	readingNames []string // the same, as named
	fileBase     int      // frames[fileBase:] were opened in the file being read

	logFormats map[string]string
	logRefs    []logRef
}

// frame is an open <Block>.
type frame struct {
	tag     string // the block's name as written, e.g. "VirtualHost"
	display string // "<VirtualHost *:80>"
	file    string
	line    int
	skip    bool

	// the context to restore when the block closes
	server   *Server
	location *Location
	balancer *Balancer
}

// call is one directive line.
type call struct {
	name string // canonical spelling
	args []string
	file string
	line int
}

func newParser(name string) *parser {
	main := &Server{File: name}
	return &parser{
		cfg:    &Config{Main: main},
		server: main,
		logFormats: map[string]string{
			"common":   `%h %l %u %t "%r" %>s %b`,
			"combined": `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`,
		},
	}
}

func (p *parser) errorf(file string, line int, format string, args ...any) {
	if p.stopped {
		return
	}
	if len(p.errs) == maxErrors {
		p.errs = append(p.errs, &Error{File: file, Line: line, Msg: fmt.Sprintf("too many errors (%d); stopped reading", maxErrors)})
		p.stopped = true
		return
	}
	p.errs = append(p.errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) noticef(file string, line int, format string, args ...any) {
	p.cfg.Notices = append(p.cfg.Notices, fmt.Sprintf("%s:%d: ", file, line)+fmt.Sprintf(format, args...))
}

// readSource reads one file: logical lines (comments dropped, continuations
// joined), each a directive, a block opening or a block closing.
func (p *parser) readSource(name string, data []byte) {
	outerBase := p.fileBase
	base := len(p.frames)
	p.fileBase = base
	defer func() { p.fileBase = outerBase }()
	lines := strings.Split(string(trimBOM(data)), "\n")
	for i := 0; i < len(lines) && !p.stopped; i++ {
		first := i + 1
		text := strings.TrimSuffix(lines[i], "\r")
		if continues(text) {
			var b strings.Builder
			for continues(text) && i+1 < len(lines) {
				b.WriteString(text[:len(text)-1])
				i++
				text = strings.TrimSuffix(lines[i], "\r")
			}
			if continues(text) { // the last line of the file
				text = text[:len(text)-1]
			}
			b.WriteString(text)
			text = b.String()
		}
		p.readLine(name, first, strings.Trim(text, spaces))
	}
	for len(p.frames) > base {
		f := p.frames[len(p.frames)-1]
		p.errorf(f.file, f.line, "%s is not closed: add </%s> before the end of this file", f.display, f.tag)
		p.pop()
	}
}

// continues reports whether a line ends in a single backslash, Apache's
// continuation (a doubled backslash, or one followed by blanks, is not).
func continues(s string) bool {
	return strings.HasSuffix(s, `\`) && !strings.HasSuffix(s, `\\`)
}

func (p *parser) readLine(file string, line int, text string) {
	switch {
	case text == "" || text[0] == '#':
	case strings.HasPrefix(text, "</"):
		p.closeBlock(file, line, text)
	case text[0] == '<':
		p.openBlock(file, line, text)
	case p.skipping > 0:
	default:
		args, err := splitArgs(text)
		if err != nil {
			p.errorf(file, line, "%v", err)
			return
		}
		p.directive(file, line, args[0], args[1:])
	}
}

// splitArgs splits a line into words as Apache does: a word starting with
// " or ' runs to the matching quote (\" or \' inside stands for the quote);
// any other word runs to the next blank.
func splitArgs(s string) ([]string, error) {
	var args []string
	for {
		s = strings.TrimLeft(s, spaces)
		if s == "" {
			return args, nil
		}
		quote := s[0]
		if quote != '"' && quote != '\'' {
			end := strings.IndexAny(s, spaces)
			if end < 0 {
				end = len(s)
			}
			args = append(args, s[:end])
			s = s[end:]
			continue
		}
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != quote; i++ {
			if s[i] == '\\' && i+1 < len(s) && s[i+1] == quote {
				i++
			}
			b.WriteByte(s[i])
		}
		if i == len(s) {
			return nil, fmt.Errorf("missing closing %c in %s", quote, s)
		}
		args = append(args, b.String())
		s = s[i+1:]
	}
}

func (p *parser) push(f *frame) {
	f.server, f.location, f.balancer = p.server, p.location, p.balancer
	if f.skip {
		p.skipping++
	}
	p.frames = append(p.frames, f)
}

func (p *parser) pop() {
	f := p.frames[len(p.frames)-1]
	p.frames = p.frames[:len(p.frames)-1]
	p.server, p.location, p.balancer = f.server, f.location, f.balancer
	if f.skip {
		p.skipping--
	}
}

// openBlock reads "<Name args>".
func (p *parser) openBlock(file string, line int, text string) {
	inner := strings.Trim(text[1:], spaces)
	closed := strings.HasSuffix(inner, ">")
	inner = strings.TrimRight(strings.TrimSuffix(inner, ">"), spaces)
	tag, rest := inner, ""
	if i := strings.IndexAny(inner, spaces); i >= 0 {
		tag, rest = inner[:i], inner[i+1:]
	}
	f := &frame{tag: tag, display: "<" + inner + ">", file: file, line: line}
	if p.skipping > 0 {
		f.skip = true
		p.push(f)
		return
	}
	if tag == "" {
		p.errorf(file, line, "a block needs a name: <Name argument>")
		return
	}
	if !closed {
		p.errorf(file, line, "<%s needs a closing > at the end of the line", inner)
		f.skip = true
		p.push(f)
		return
	}
	args, err := splitArgs(rest)
	if err != nil {
		p.errorf(file, line, "%v", err)
		f.skip = true
		p.push(f)
		return
	}
	p.block(f, args)
}

// closeBlock reads "</Name>".
func (p *parser) closeBlock(file string, line int, text string) {
	inner := strings.Trim(text[2:], spaces)
	closed := strings.HasSuffix(inner, ">")
	tag := strings.Trim(strings.TrimSuffix(inner, ">"), spaces)
	if p.skipping == 0 {
		if !closed {
			p.errorf(file, line, "</%s needs a closing > at the end of the line", tag)
		} else if strings.ContainsAny(tag, spaces) {
			p.errorf(file, line, "</%s> takes no arguments", tag)
		}
	}
	if i := strings.IndexAny(tag, spaces); i >= 0 {
		tag = tag[:i]
	}
	open := p.fileBase
	mine := p.frames[open:] // blocks close in the file that opened them
	if len(mine) == 0 {
		p.errorf(file, line, "</%s> closes no open <%s> block in this file", tag, tag)
		return
	}
	top := mine[len(mine)-1]
	if strings.EqualFold(top.tag, tag) {
		p.pop()
		return
	}
	for i := len(mine) - 2; i >= 0; i-- {
		if strings.EqualFold(mine[i].tag, tag) {
			p.errorf(file, line, "</%s> comes before the </%s> that %s (line %d) needs", tag, top.tag, top.display, top.line)
			for len(p.frames) > open+i {
				p.pop()
			}
			return
		}
	}
	p.errorf(file, line, "</%s> does not match the open %s (line %d): close it with </%s>", tag, top.display, top.line, top.tag)
}

// include reads the files Include (or IncludeOptional) names: a path or a
// glob, relative to the including file's directory; a directory means every
// file under it.
func (p *parser) include(c *call, optional bool) {
	pattern := c.args[0]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(c.file), pattern)
	}
	var paths []string
	if hasGlobMeta(pattern) {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			p.errorf(c.file, c.line, "%s %s: bad pattern: %v", c.name, c.args[0], err)
			return
		}
		// As Apache's fnmatch with FNM_PERIOD: a wildcard does not match a leading dot.
		dotOK := strings.HasPrefix(filepath.Base(pattern), ".")
		for _, m := range matches {
			if dotOK || !strings.HasPrefix(filepath.Base(m), ".") {
				paths = append(paths, m)
			}
		}
		if len(paths) == 0 {
			if !optional {
				p.errorf(c.file, c.line, "Include %s: no file matches %s (IncludeOptional allows that)", c.args[0], pattern)
			}
			return
		}
	} else {
		if _, err := os.Stat(pattern); err != nil {
			if !optional || !errors.Is(err, fs.ErrNotExist) {
				p.errorf(c.file, c.line, "%s %s: %s", c.name, c.args[0], pathErrorText(err))
			}
			return
		}
		paths = []string{pattern}
	}
	for _, path := range paths {
		for _, f := range p.filesUnder(c, path) {
			if p.stopped {
				return
			}
			p.includeFile(c, f)
		}
	}
}

// filesUnder is path itself, or the regular files under it when it is a directory, in lexical order.
func (p *parser) filesUnder(c *call, path string) []string {
	fi, err := os.Stat(path)
	if err != nil {
		p.errorf(c.file, c.line, "%s %s: %s", c.name, c.args[0], pathErrorText(err))
		return nil
	}
	if !fi.IsDir() {
		return []string{path}
	}
	var files []string
	err = filepath.WalkDir(path, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		p.errorf(c.file, c.line, "%s %s: %s", c.name, c.args[0], pathErrorText(err))
	}
	return files
}

func (p *parser) includeFile(c *call, path string) {
	canon := canonicalPath(path)
	if i := slices.Index(p.reading, canon); i >= 0 {
		chain := append(slices.Clone(p.readingNames[i:]), path)
		p.errorf(c.file, c.line, "%s %s: include cycle: %s", c.name, c.args[0], strings.Join(chain, " -> "))
		return
	}
	if len(p.reading) > maxIncludeDepth {
		p.errorf(c.file, c.line, "%s %s: includes nest more than %d deep", c.name, c.args[0], maxIncludeDepth)
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		p.errorf(c.file, c.line, "%s %s: %s: %s", c.name, c.args[0], path, pathErrorText(err))
		return
	}
	p.reading = append(p.reading, canon)
	p.readingNames = append(p.readingNames, path)
	p.readSource(path, data)
	p.reading = p.reading[:len(p.reading)-1]
	p.readingNames = p.readingNames[:len(p.readingNames)-1]
}

func hasGlobMeta(path string) bool {
	return strings.ContainsAny(path, `*?[`)
}
