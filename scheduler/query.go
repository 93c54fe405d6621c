package scheduler

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxExpressionLength is the longest cluster query language expression ECS
// accepts.
const MaxExpressionLength = 2000

// Expr is a parsed cluster query language expression. It is immutable and
// safe for concurrent use.
type Expr struct {
	src       string
	root      node
	usesGroup bool
}

// Parse parses a cluster query language expression:
//
//	subject operator [argument]
//
// combined with &&/and, ||/or, !/not and parentheses (not binds tighter
// than and, and tighter than or). Errors match ErrInvalidParameter.
func Parse(s string) (*Expr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &ParseError{Expr: s, Msg: "expression is empty"}
	}
	if len(s) > MaxExpressionLength {
		return nil, &ParseError{Expr: s, Pos: MaxExpressionLength,
			Msg: fmt.Sprintf("expression is longer than %d characters", MaxExpressionLength)}
	}
	p := &parser{s: s}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.s) {
		if p.s[p.pos] == ')' {
			return nil, p.errorf("unbalanced ')'")
		}
		return nil, p.errorf("unexpected %q, expected 'and', 'or' or the end of the expression", p.rest(12))
	}
	return &Expr{src: s, root: root, usesGroup: p.usesGroup}, nil
}

// ValidateExpression reports whether s is a valid cluster query language
// expression.
func ValidateExpression(s string) error {
	_, err := Parse(s)
	return err
}

// Match reports whether the instance satisfies the expression.
func (e *Expr) Match(in *Instance) bool { return e.root.match(in) }

// String returns the source text.
func (e *Expr) String() string { return e.src }

// UsesTaskGroup reports whether the result depends on the task groups on the
// instance, so it can change as tasks are placed.
func (e *Expr) UsesTaskGroup() bool { return e.usesGroup }

// ParseError is an invalid expression. It matches ErrInvalidParameter.
type ParseError struct {
	Expr string
	Pos  int // byte offset of the problem
	Msg  string
}

func (e *ParseError) Error() string {
	src := e.Expr
	if len(src) > 120 {
		src = src[:117] + "..."
	}
	return fmt.Sprintf("Invalid cluster query expression %q: %s (at position %d).", src, e.Msg, e.Pos)
}

// Is makes errors.Is(err, ErrInvalidParameter) true.
func (e *ParseError) Is(target error) bool { return target == ErrInvalidParameter }

// subjectKind names what a condition looks at.
type subjectKind uint8

const (
	subjAgentConnected subjectKind = iota
	subjAgentVersion
	subjAttribute
	subjEC2InstanceID
	subjRegisteredAt
	subjRunningTasksCount
	subjTaskGroup
)

var subjectNames = []struct {
	name string
	kind subjectKind
}{
	{"agentConnected", subjAgentConnected},
	{"agentVersion", subjAgentVersion},
	{"ec2InstanceId", subjEC2InstanceID},
	{"registeredAt", subjRegisteredAt},
	{"runningTasksCount", subjRunningTasksCount},
	{"task:group", subjTaskGroup},
}

// opKind is a comparison operator. Negated operators evaluate the positive
// one and invert it.
type opKind uint8

const (
	opEq opKind = iota
	opGT
	opGE
	opLT
	opLE
	opExists
	opIn
	opMatches
)

var operatorWords = map[string]struct {
	op     opKind
	negate bool
}{
	"equals":             {opEq, false},
	"not_equals":         {opEq, true},
	"greater_than":       {opGT, false},
	"greater_than_equal": {opGE, false},
	"less_than":          {opLT, false},
	"less_than_equal":    {opLE, false},
	"exists":             {opExists, false},
	"not_exists":         {opExists, true},
	"in":                 {opIn, false},
	"not_in":             {opIn, true},
	"matches":            {opMatches, false},
	"not_matches":        {opMatches, true},
}

// operatorSymbols is tried in order, so longer symbols come first.
var operatorSymbols = []struct {
	sym    string
	op     opKind
	negate bool
	word   bool // must not be followed by a word character
}{
	{"!exists", opExists, true, true},
	{"!in", opIn, true, true},
	{"==", opEq, false, false},
	{"!=", opEq, true, false},
	{">=", opGE, false, false},
	{"<=", opLE, false, false},
	{"=~", opMatches, false, false},
	{"!~", opMatches, true, false},
	{">", opGT, false, false},
	{"<", opLT, false, false},
}

// allowedOps lists the operators each documented subject accepts
// (cluster-query-language.md); attribute:<name> accepts all of them.
var allowedOps = map[subjectKind][]opKind{
	subjAgentConnected:    {opEq, opIn, opMatches},
	subjEC2InstanceID:     {opEq, opIn, opMatches},
	subjAgentVersion:      {opEq, opGT, opGE, opLT, opLE},
	subjRegisteredAt:      {opEq, opGT, opGE, opLT, opLE},
	subjRunningTasksCount: {opEq, opGT, opGE, opLT, opLE},
	subjTaskGroup:         {opEq, opIn, opMatches, opExists},
}

type parser struct {
	s         string
	pos       int
	usesGroup bool
}

func (p *parser) errorf(format string, args ...any) error {
	return &ParseError{Expr: p.s, Pos: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) rest(n int) string {
	r := p.s[p.pos:]
	if len(r) > n {
		r = r[:n]
	}
	return r
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isWordChar(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func isSubjectChar(c byte) bool {
	return isWordChar(c) || c == '-' || c == '.' || c == '/' || c == ':' || c == '@'
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

func (p *parser) hasPrefix(sym string) bool { return strings.HasPrefix(p.s[p.pos:], sym) }

// keyword consumes kw (case-insensitive) when it stands alone as a word.
func (p *parser) keyword(kw string) bool {
	end := p.pos + len(kw)
	if end > len(p.s) || !strings.EqualFold(p.s[p.pos:end], kw) {
		return false
	}
	if end < len(p.s) && isWordChar(p.s[end]) {
		return false
	}
	p.pos = end
	return true
}

func (p *parser) parseOr() (node, error) {
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	terms := []node{first}
	for {
		p.skipSpace()
		if p.hasPrefix("||") {
			p.pos += 2
		} else if !p.keyword("or") {
			break
		}
		n, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return orNode(terms), nil
}

func (p *parser) parseAnd() (node, error) {
	first, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	terms := []node{first}
	for {
		p.skipSpace()
		if p.hasPrefix("&&") {
			p.pos += 2
		} else if !p.keyword("and") {
			break
		}
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return andNode(terms), nil
}

func (p *parser) parseUnary() (node, error) {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return nil, p.errorf("unexpected end of expression, expected a condition")
	}
	switch {
	case p.s[p.pos] == '!':
		p.pos++
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	case p.keyword("not"):
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	case p.s[p.pos] == '(':
		open := p.pos
		p.pos++
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ')' {
			p.pos = open
			return nil, p.errorf("unbalanced '('")
		}
		p.pos++
		return n, nil
	}
	return p.parseCond()
}

func (p *parser) parseCond() (node, error) {
	start := p.pos
	for p.pos < len(p.s) && isSubjectChar(p.s[p.pos]) {
		p.pos++
	}
	name := p.s[start:p.pos]
	if name == "" {
		return nil, p.errorf("unexpected %q, expected a subject", p.rest(12))
	}
	c := &cond{}
	if len(name) > len("attribute:") && strings.EqualFold(name[:len("attribute:")], "attribute:") {
		c.subj, c.attr = subjAttribute, name[len("attribute:"):]
	} else {
		found := false
		for _, sn := range subjectNames {
			if strings.EqualFold(name, sn.name) {
				c.subj, found = sn.kind, true
				break
			}
		}
		if !found {
			p.pos = start
			return nil, p.errorf("unknown subject %q (valid: agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount, task:group)", name)
		}
	}
	c.subjText = name
	if c.subj == subjTaskGroup {
		p.usesGroup = true
	}

	p.skipSpace()
	opStart := p.pos
	if err := p.parseOperator(c); err != nil {
		return nil, err
	}
	if ops, ok := allowedOps[c.subj]; ok && !containsOp(ops, c.op) {
		p.pos = opStart
		return nil, p.errorf("operator %q is not valid for subject %s", c.opText, name)
	}

	switch c.op {
	case opExists:
		return c, nil
	case opIn:
		return c, p.parseList(c)
	case opMatches:
		p.skipSpace()
		argStart := p.pos
		pat, err := p.readRegex(c.opText)
		if err != nil {
			return nil, err
		}
		re, cerr := regexp.Compile("^(?:" + pat + ")$")
		if cerr != nil {
			p.pos = argStart
			return nil, p.errorf("invalid regular expression %q: %v", pat, cerr)
		}
		c.arg, c.re = pat, re
		c.setFastMatch(pat)
		return c, nil
	}
	p.skipSpace()
	argStart := p.pos
	v, err := p.readValue(c.opText, false)
	if err != nil {
		return nil, err
	}
	c.arg = v
	if err := c.prepareScalar(); err != nil {
		p.pos = argStart
		return nil, p.errorf("%v", err)
	}
	return c, nil
}

func containsOp(ops []opKind, op opKind) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

func (p *parser) parseOperator(c *cond) error {
	for _, o := range operatorSymbols {
		if !p.hasPrefix(o.sym) {
			continue
		}
		end := p.pos + len(o.sym)
		if o.word && end < len(p.s) && isWordChar(p.s[end]) {
			continue
		}
		c.op, c.negate, c.opText = o.op, o.negate, o.sym
		p.pos = end
		return nil
	}
	start := p.pos
	for p.pos < len(p.s) && isWordChar(p.s[p.pos]) {
		p.pos++
	}
	word := p.s[start:p.pos]
	if o, ok := operatorWords[strings.ToLower(word)]; ok {
		c.op, c.negate, c.opText = o.op, o.negate, word
		return nil
	}
	p.pos = start
	if word == "" {
		if p.pos >= len(p.s) {
			return p.errorf("missing operator after subject %s", c.subjText)
		}
		return p.errorf("unexpected %q, expected an operator after subject %s", p.rest(12), c.subjText)
	}
	return p.errorf("unknown operator %q", word)
}

// atArgumentEnd reports whether the next input cannot start an argument.
func (p *parser) atArgumentEnd() bool {
	return p.pos >= len(p.s) || p.s[p.pos] == ')' || p.hasPrefix("&&") || p.hasPrefix("||")
}

// readValue reads a quoted or unquoted literal. Unquoted literals end at
// white space, brackets, parentheses, commas, quotes, && and ||.
func (p *parser) readValue(op string, inList bool) (string, error) {
	if p.atArgumentEnd() {
		return "", p.errorf("missing argument after operator %q", op)
	}
	if c := p.s[p.pos]; c == '\'' || c == '"' {
		return p.readQuoted()
	}
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if isSpace(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == ',' || c == '\'' || c == '"' ||
			p.hasPrefix("&&") || p.hasPrefix("||") {
			break
		}
		p.pos++
	}
	if p.pos == start {
		if inList {
			return "", p.errorf("unexpected %q in argument list", p.rest(1))
		}
		return "", p.errorf("unexpected %q, expected an argument after operator %q", p.rest(1), op)
	}
	return p.s[start:p.pos], nil
}

// readQuoted reads a string in single or double quotes; a backslash escapes
// the quote character and itself, and is kept before anything else (so
// regular expressions such as '\d+' survive).
func (p *parser) readQuoted() (string, error) {
	q := p.s[p.pos]
	start := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '\\' && p.pos+1 < len(p.s) && (p.s[p.pos+1] == q || p.s[p.pos+1] == '\\'):
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		case c == q:
			p.pos++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	p.pos = start
	return "", p.errorf("unterminated quoted string")
}

// readRegex reads a pattern: quoted, or unquoted up to white space, where
// parentheses and character classes may nest, so (t2|m5).* needs no quotes
// while a ')' that closes an enclosing group ends the pattern.
func (p *parser) readRegex(op string) (string, error) {
	if p.atArgumentEnd() {
		return "", p.errorf("missing pattern after operator %q", op)
	}
	if c := p.s[p.pos]; c == '\'' || c == '"' {
		return p.readQuoted()
	}
	start, depth, inClass := p.pos, 0, false
loop:
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '\\':
			p.pos += 2
			continue
		case inClass:
			if c == ']' {
				inClass = false
			}
		case isSpace(c):
			break loop
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				break loop
			}
			depth--
		case p.hasPrefix("&&") || p.hasPrefix("||"):
			break loop
		}
		p.pos++
	}
	if p.pos > len(p.s) {
		p.pos = len(p.s)
	}
	if p.pos == start {
		return "", p.errorf("unexpected %q, expected a pattern after operator %q", p.rest(1), op)
	}
	return p.s[start:p.pos], nil
}

func (p *parser) parseList(c *cond) error {
	p.skipSpace()
	if p.pos >= len(p.s) || p.s[p.pos] != '[' {
		if p.atArgumentEnd() {
			return p.errorf("missing argument list after operator %q", c.opText)
		}
		return p.errorf("expected '[' to start the argument list of operator %q", c.opText)
	}
	open := p.pos
	p.pos++
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == ']' && len(c.args) == 0 {
			return p.errorf("empty argument list")
		}
		if p.pos >= len(p.s) {
			p.pos = open
			return p.errorf("unterminated argument list")
		}
		v, err := p.readValue(c.opText, true)
		if err != nil {
			return err
		}
		c.args = append(c.args, v)
		p.skipSpace()
		if p.pos >= len(p.s) {
			p.pos = open
			return p.errorf("unterminated argument list")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return nil
		default:
			return p.errorf("unexpected %q in argument list, expected ',' or ']'", p.rest(1))
		}
	}
}

// Accepted registeredAt argument formats (cluster-query-language.md).
var dateLayouts = []struct {
	layout   string
	dateOnly bool
}{
	{time.RFC3339Nano, false}, // 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z
	{"2006-01-02T15:04:05", false},
	{time.DateOnly, true},
}

func parseDate(s string) (time.Time, bool, error) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l.layout, s); err == nil {
			return t.UTC(), l.dateOnly, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("invalid date %q for registeredAt (valid formats: 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28, 2018-06-18)", s)
}

// prepareScalar converts the argument of a comparison once, at parse time.
func (c *cond) prepareScalar() error {
	switch c.subj {
	case subjRunningTasksCount:
		n, err := strconv.ParseInt(c.arg, 10, 64)
		if err != nil {
			return fmt.Errorf("runningTasksCount needs an integer argument, got %q", c.arg)
		}
		c.argInt = n
	case subjRegisteredAt:
		t, dateOnly, err := parseDate(c.arg)
		if err != nil {
			return err
		}
		c.argTime, c.dateOnly = t, dateOnly
	case subjAttribute:
		if f, err := strconv.ParseFloat(c.arg, 64); err == nil {
			c.argNum, c.argIsNum = f, true
		}
	}
	return nil
}

// setFastMatch recognises patterns that need no regular expression engine:
// a pure literal (full match is equality) and a literal followed by .*
// (a prefix test), such as t2.* or service:.*.
func (c *cond) setFastMatch(pat string) {
	re, err := regexp.Compile(pat)
	if err != nil {
		return
	}
	prefix, complete := re.LiteralPrefix()
	switch {
	case complete:
		c.fast, c.lit = fastLiteral, prefix
	case pat == regexp.QuoteMeta(prefix)+".*":
		c.fast, c.lit = fastPrefix, prefix
	}
}
