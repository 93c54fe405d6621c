package logs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// ErrBadPattern reports a filter pattern that does not parse.
var ErrBadPattern = errors.New("invalid filter pattern")

// Pattern is a compiled CloudWatch Logs filter pattern.
type Pattern interface {
	Match(message string) bool
}

// ParsePattern compiles a filter pattern in any of the forms AWS documents:
//
//	""                               every event
//	ERROR Exception                  every term (case-sensitive substrings)
//	"exact phrase"                   a quoted term
//	?ERROR ?WARN                     any of the ? terms
//	ERROR -DEBUG                     terms that must not occur
//	%regex%                          a regular expression
//	{ $.level = "error" && $.ms > 100 }   JSON events (=, !=, <, <=, >, >=,
//	                                 * wildcards, %regex%, IS TRUE|FALSE|NULL,
//	                                 NOT EXISTS, &&, ||, parentheses,
//	                                 paths like $.a.b[0] and [*])
//	[ip, user, ..., status = 4*, bytes > 1000]   space-delimited fields
func ParsePattern(s string) (Pattern, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return matchAll{}, nil
	case strings.HasPrefix(s, "{"):
		if !strings.HasSuffix(s, "}") {
			return nil, fmt.Errorf("%w: missing }", ErrBadPattern)
		}
		return parseJSONPattern(s[1 : len(s)-1])
	case strings.HasPrefix(s, "["):
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("%w: missing ]", ErrBadPattern)
		}
		return parseDelimited(s[1 : len(s)-1])
	}
	return parseTerms(s)
}

type matchAll struct{}

func (matchAll) Match(string) bool { return true }

// ---- unstructured terms ----

type term struct {
	text string
	re   *regexp.Regexp
}

func (t term) in(msg string) bool {
	if t.re != nil {
		return t.re.MatchString(msg)
	}
	return strings.Contains(msg, t.text)
}

type termPattern struct {
	all, anyOf, none []term
}

func (p termPattern) Match(msg string) bool {
	for _, t := range p.all {
		if !t.in(msg) {
			return false
		}
	}
	for _, t := range p.none {
		if t.in(msg) {
			return false
		}
	}
	if len(p.anyOf) == 0 {
		return true
	}
	for _, t := range p.anyOf {
		if t.in(msg) {
			return true
		}
	}
	return false
}

func parseTerms(s string) (Pattern, error) {
	var p termPattern
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		kind := byte(0)
		if s[i] == '?' || s[i] == '-' {
			kind = s[i]
			i++
			if i >= len(s) {
				return nil, fmt.Errorf("%w: dangling %c", ErrBadPattern, kind)
			}
		}
		var t term
		switch s[i] {
		case '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated quote", ErrBadPattern)
			}
			t.text = s[i+1 : i+1+end]
			i += end + 2
		case '%':
			end := strings.IndexByte(s[i+1:], '%')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated regular expression", ErrBadPattern)
			}
			re, err := regexp.Compile(s[i+1 : i+1+end])
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadPattern, err)
			}
			t.re = re
			i += end + 2
		default:
			end := strings.IndexAny(s[i:], " \t")
			if end < 0 {
				end = len(s) - i
			}
			t.text = s[i : i+end]
			if strings.ContainsAny(t.text, "\"{}[]") {
				return nil, fmt.Errorf("%w: invalid character(s) in term %q", ErrBadPattern, t.text)
			}
			i += end
		}
		switch kind {
		case '?':
			p.anyOf = append(p.anyOf, t)
		case '-':
			p.none = append(p.none, t)
		default:
			p.all = append(p.all, t)
		}
	}
	return p, nil
}

// ---- expressions shared by JSON and space-delimited patterns ----

type tokKind int

const (
	tkWord tokKind = iota
	tkString
	tkRegex
	tkOp // = != < <= > >=
	tkAnd
	tkOr
	tkLParen
	tkRParen
)

type token struct {
	kind tokKind
	text string
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(':
			out = append(out, token{tkLParen, "("})
			i++
		case c == ')':
			out = append(out, token{tkRParen, ")"})
			i++
		case strings.HasPrefix(s[i:], "&&"):
			out = append(out, token{tkAnd, "&&"})
			i += 2
		case strings.HasPrefix(s[i:], "||"):
			out = append(out, token{tkOr, "||"})
			i += 2
		case strings.HasPrefix(s[i:], "!=") || strings.HasPrefix(s[i:], "<=") || strings.HasPrefix(s[i:], ">="):
			out = append(out, token{tkOp, s[i : i+2]})
			i += 2
		case c == '=' || c == '<' || c == '>':
			out = append(out, token{tkOp, s[i : i+1]})
			i++
		case c == '"':
			end := i + 1
			var b strings.Builder
			for ; end < len(s) && s[end] != '"'; end++ {
				if s[end] == '\\' && end+1 < len(s) {
					end++
				}
				b.WriteByte(s[end])
			}
			if end >= len(s) {
				return nil, fmt.Errorf("%w: unterminated quote", ErrBadPattern)
			}
			out = append(out, token{tkString, b.String()})
			i = end + 1
		case c == '%':
			end := strings.IndexByte(s[i+1:], '%')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated regular expression", ErrBadPattern)
			}
			out = append(out, token{tkRegex, s[i+1 : i+1+end]})
			i += end + 2
		default:
			end := i
			for end < len(s) && !strings.ContainsRune(" \t\n()=!<>&|\"", rune(s[end])) {
				end++
			}
			if end == i {
				return nil, fmt.Errorf("%w: unexpected %q", ErrBadPattern, s[i:])
			}
			out = append(out, token{tkWord, s[i:end]})
			i = end
		}
	}
	return out, nil
}

// cond is a boolean expression over some record (a JSON document or the
// fields of a space-delimited line).
type cond interface {
	eval(r record) bool
}

type record interface {
	// values returns the values a selector designates (several with
	// wildcards) and whether the selector exists at all.
	values(sel string) ([]any, bool)
}

type andCond []cond
type orCond []cond

func (c andCond) eval(r record) bool {
	for _, x := range c {
		if !x.eval(r) {
			return false
		}
	}
	return true
}

func (c orCond) eval(r record) bool {
	for _, x := range c {
		if x.eval(r) {
			return true
		}
	}
	return false
}

type compare struct {
	sel   string
	op    string // = != < <= > >= IS NOTEXISTS
	str   string
	num   float64
	isNum bool
	re    *regexp.Regexp
}

type parser struct {
	toks []token
	pos  int
	// selector validates a selector word.
	selector func(string) bool
}

func (p *parser) peek() *token {
	if p.pos < len(p.toks) {
		return &p.toks[p.pos]
	}
	return nil
}

func (p *parser) parseOr() (cond, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	or := orCond{left}
	for t := p.peek(); t != nil && t.kind == tkOr; t = p.peek() {
		p.pos++
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		or = append(or, right)
	}
	if len(or) == 1 {
		return left, nil
	}
	return or, nil
}

func (p *parser) parseAnd() (cond, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	and := andCond{left}
	for t := p.peek(); t != nil && t.kind == tkAnd; t = p.peek() {
		p.pos++
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		and = append(and, right)
	}
	if len(and) == 1 {
		return left, nil
	}
	return and, nil
}

func (p *parser) parseUnary() (cond, error) {
	t := p.peek()
	if t == nil {
		return nil, fmt.Errorf("%w: unexpected end", ErrBadPattern)
	}
	if t.kind == tkLParen {
		p.pos++
		c, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if t := p.peek(); t == nil || t.kind != tkRParen {
			return nil, fmt.Errorf("%w: missing )", ErrBadPattern)
		}
		p.pos++
		return c, nil
	}
	return p.parseCompare()
}

func (p *parser) parseCompare() (cond, error) {
	t := p.peek()
	if t.kind != tkWord || !p.selector(t.text) {
		return nil, fmt.Errorf("%w: expected a selector, got %q", ErrBadPattern, t.text)
	}
	c := &compare{sel: t.text}
	p.pos++
	op := p.peek()
	if op == nil {
		return nil, fmt.Errorf("%w: missing operator after %s", ErrBadPattern, c.sel)
	}
	if op.kind == tkWord {
		return p.parseIs(c)
	}
	if op.kind != tkOp {
		return nil, fmt.Errorf("%w: expected an operator, got %q", ErrBadPattern, op.text)
	}
	c.op = op.text
	p.pos++
	v := p.peek()
	if v == nil {
		return nil, fmt.Errorf("%w: missing value", ErrBadPattern)
	}
	p.pos++
	switch v.kind {
	case tkString:
		c.str = v.text
	case tkRegex:
		re, err := regexp.Compile(v.text)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadPattern, err)
		}
		c.re = re
	case tkWord:
		c.str = v.text
		if n, err := strconv.ParseFloat(v.text, 64); err == nil {
			c.num, c.isNum = n, true
		}
	default:
		return nil, fmt.Errorf("%w: unexpected %q", ErrBadPattern, v.text)
	}
	numeric := c.op != "=" && c.op != "!="
	if numeric && !c.isNum {
		return nil, fmt.Errorf("%w: %s needs a number", ErrBadPattern, c.op)
	}
	if c.re != nil && numeric {
		return nil, fmt.Errorf("%w: a regular expression needs = or !=", ErrBadPattern)
	}
	return c, nil
}

func (p *parser) parseIs(c *compare) (cond, error) {
	w := strings.ToUpper(p.peek().text)
	p.pos++
	next := p.peek()
	if next == nil || next.kind != tkWord {
		return nil, fmt.Errorf("%w: incomplete %s", ErrBadPattern, w)
	}
	p.pos++
	arg := strings.ToUpper(next.text)
	switch {
	case w == "IS" && (arg == "TRUE" || arg == "FALSE" || arg == "NULL"):
		c.op, c.str = "IS", arg
	case w == "NOT" && arg == "EXISTS":
		c.op = "NOTEXISTS"
	default:
		return nil, fmt.Errorf("%w: unknown %s %s", ErrBadPattern, w, arg)
	}
	return c, nil
}

func (c *compare) eval(r record) bool {
	vals, exists := r.values(c.sel)
	switch c.op {
	case "NOTEXISTS":
		return !exists
	case "IS":
		for _, v := range vals {
			switch {
			case c.str == "NULL" && v == nil,
				c.str == "TRUE" && v == true,
				c.str == "FALSE" && v == false:
				return true
			}
		}
		return false
	}
	for _, v := range vals {
		if c.one(v) {
			return true
		}
	}
	return false
}

func (c *compare) one(v any) bool {
	switch c.op {
	case "=":
		return c.equal(v)
	case "!=":
		return v != nil && !c.equal(v)
	}
	n, ok := number(v)
	if !ok {
		return false
	}
	switch c.op {
	case "<":
		return n < c.num
	case "<=":
		return n <= c.num
	case ">":
		return n > c.num
	case ">=":
		return n >= c.num
	}
	return false
}

func (c *compare) equal(v any) bool {
	if c.isNum {
		if n, ok := number(v); ok {
			return n == c.num
		}
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case bool:
		s = strconv.FormatBool(x)
	default:
		return false
	}
	if c.re != nil {
		return c.re.MatchString(s)
	}
	return glob(c.str, s)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// glob matches s against a pattern where * stands for any run of characters.
func glob(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}

// ---- JSON patterns ----

type jsonPattern struct{ c cond }

func parseJSONPattern(s string) (Pattern, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%w: empty JSON pattern", ErrBadPattern)
	}
	p := &parser{toks: toks, selector: func(w string) bool { return strings.HasPrefix(w, "$") }}
	c, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.pos != len(toks) {
		return nil, fmt.Errorf("%w: unexpected %q", ErrBadPattern, toks[p.pos].text)
	}
	for _, sel := range selectors(c) {
		if _, err := parsePath(sel); err != nil {
			return nil, err
		}
	}
	return jsonPattern{c}, nil
}

func selectors(c cond) []string {
	switch x := c.(type) {
	case andCond:
		var out []string
		for _, y := range x {
			out = append(out, selectors(y)...)
		}
		return out
	case orCond:
		var out []string
		for _, y := range x {
			out = append(out, selectors(y)...)
		}
		return out
	case *compare:
		return []string{x.sel}
	}
	return nil
}

func (p jsonPattern) Match(msg string) bool {
	b := bytes.TrimSpace([]byte(msg))
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return false
	}
	return p.c.eval(jsonRecord{doc})
}

type pathStep struct {
	key   string
	index int // -1: key step; -2: [*]
}

func parsePath(sel string) ([]pathStep, error) {
	rest, ok := strings.CutPrefix(sel, "$")
	if !ok {
		return nil, fmt.Errorf("%w: selector %q must start with $", ErrBadPattern, sel)
	}
	var steps []pathStep
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("%w: bad selector %q", ErrBadPattern, sel)
			}
			steps = append(steps, pathStep{key: rest[:end], index: -1})
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("%w: bad selector %q", ErrBadPattern, sel)
			}
			in := rest[1:end]
			if in == "*" {
				steps = append(steps, pathStep{index: -2})
			} else {
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("%w: bad index in %q", ErrBadPattern, sel)
				}
				steps = append(steps, pathStep{index: n})
			}
			rest = rest[end+1:]
		default:
			return nil, fmt.Errorf("%w: bad selector %q", ErrBadPattern, sel)
		}
	}
	return steps, nil
}

type jsonRecord struct{ doc any }

func (r jsonRecord) values(sel string) ([]any, bool) {
	steps, err := parsePath(sel)
	if err != nil {
		return nil, false
	}
	cur := []any{r.doc}
	for _, st := range steps {
		var next []any
		for _, v := range cur {
			switch {
			case st.index == -1:
				if m, ok := v.(map[string]any); ok {
					if st.key == "*" {
						for _, x := range m {
							next = append(next, x)
						}
					} else if x, ok := m[st.key]; ok {
						next = append(next, x)
					}
				}
			case st.index == -2:
				if a, ok := v.([]any); ok {
					next = append(next, a...)
				}
			default:
				if a, ok := v.([]any); ok && st.index < len(a) {
					next = append(next, a[st.index])
				}
			}
		}
		cur = next
	}
	return cur, len(cur) > 0
}

// ---- space-delimited patterns ----

type delimField struct {
	name     string
	ellipsis bool
	c        cond
}

type delimPattern struct{ fields []delimField }

func parseDelimited(s string) (Pattern, error) {
	parts, err := splitTop(s)
	if err != nil {
		return nil, err
	}
	var p delimPattern
	for _, part := range parts {
		part = strings.TrimSpace(part)
		if part == "..." {
			p.fields = append(p.fields, delimField{ellipsis: true})
			continue
		}
		if part == "" {
			return nil, fmt.Errorf("%w: empty field", ErrBadPattern)
		}
		toks, err := tokenize(part)
		if err != nil {
			return nil, err
		}
		if toks[0].kind != tkWord || !isIdent(toks[0].text) {
			return nil, fmt.Errorf("%w: bad field name %q", ErrBadPattern, toks[0].text)
		}
		f := delimField{name: toks[0].text}
		if len(toks) > 1 {
			pr := &parser{toks: toks, selector: isIdent}
			c, err := pr.parseOr()
			if err != nil {
				return nil, err
			}
			if pr.pos != len(toks) {
				return nil, fmt.Errorf("%w: unexpected %q", ErrBadPattern, toks[pr.pos].text)
			}
			f.c = c
		}
		p.fields = append(p.fields, f)
	}
	return p, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// splitTop splits s at commas outside quotes, regular expressions and
// parentheses.
func splitTop(s string) ([]string, error) {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '%':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	if quote != 0 || depth != 0 {
		return nil, fmt.Errorf("%w: unbalanced quotes or parentheses", ErrBadPattern)
	}
	return append(parts, s[start:]), nil
}

// splitFields splits a log line into space-delimited fields; text in double
// quotes or square brackets is one field (without its delimiters).
func splitFields(msg string) []string {
	var out []string
	for i := 0; i < len(msg); {
		switch c := msg[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '"' || c == '[':
			closer := byte('"')
			if c == '[' {
				closer = ']'
			}
			end := strings.IndexByte(msg[i+1:], closer)
			if end < 0 {
				out = append(out, msg[i+1:])
				return out
			}
			out = append(out, msg[i+1:i+1+end])
			i += end + 2
		default:
			end := strings.IndexAny(msg[i:], " \t")
			if end < 0 {
				end = len(msg) - i
			}
			out = append(out, msg[i:i+end])
			i += end
		}
	}
	return out
}

type fieldRecord map[string]string

func (r fieldRecord) values(sel string) ([]any, bool) {
	v, ok := r[sel]
	if !ok {
		return nil, false
	}
	return []any{v}, true
}

func (p delimPattern) Match(msg string) bool {
	return p.match(p.fields, splitFields(msg), fieldRecord{})
}

// match assigns fields to pattern entries, trying every split for ellipses.
func (p delimPattern) match(pat []delimField, fields []string, rec fieldRecord) bool {
	if len(pat) == 0 {
		if len(fields) != 0 {
			return false
		}
		return p.check(rec)
	}
	f := pat[0]
	if f.ellipsis {
		for skip := 0; skip <= len(fields); skip++ {
			if p.match(pat[1:], fields[skip:], rec) {
				return true
			}
		}
		return false
	}
	if len(fields) == 0 {
		return false
	}
	rec[f.name] = fields[0]
	ok := p.match(pat[1:], fields[1:], rec)
	delete(rec, f.name)
	return ok
}

func (p delimPattern) check(rec fieldRecord) bool {
	for _, f := range p.fields {
		if f.c != nil && !f.c.eval(rec) {
			return false
		}
	}
	return true
}
