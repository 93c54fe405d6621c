package metrics

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// value is what a metric math expression evaluates to: a scalar, one time
// series, or an array of time series.
type value struct {
	scalar *float64
	series *ts
	array  []*ts
}

func (v value) list() []*ts {
	if v.series != nil {
		return []*ts{v.series}
	}
	return v.array
}

// evaluate computes a metric math expression over the MetricStat results
// in env (statIDs in query order, for METRICS()). Supported: numbers, query
// ids, + - * / ^, parentheses, [a, b] arrays, and the functions SUM, AVG,
// MIN, MAX, METRICS, ABS.
func evaluate(expr string, env map[string]value, statIDs []string) (value, error) {
	p := &parser{src: expr, env: env, statIDs: statIDs}
	p.next()
	v, err := p.expr()
	if err != nil {
		return value{}, err
	}
	if p.tok != "" {
		return value{}, fmt.Errorf("unexpected %q", p.tok)
	}
	return v, nil
}

type parser struct {
	src     string
	pos     int
	tok     string
	env     map[string]value
	statIDs []string
}

func (p *parser) next() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
	if p.pos >= len(p.src) {
		p.tok = ""
		return
	}
	start := p.pos
	c := rune(p.src[p.pos])
	switch {
	case unicode.IsDigit(c) || c == '.':
		for p.pos < len(p.src) && (unicode.IsDigit(rune(p.src[p.pos])) || p.src[p.pos] == '.') {
			p.pos++
		}
	case unicode.IsLetter(c) || c == '_':
		for p.pos < len(p.src) && (unicode.IsLetter(rune(p.src[p.pos])) || unicode.IsDigit(rune(p.src[p.pos])) || p.src[p.pos] == '_') {
			p.pos++
		}
	case c == '"' || c == '\'':
		p.pos++
		for p.pos < len(p.src) && rune(p.src[p.pos]) != c {
			p.pos++
		}
		p.pos++
	default:
		p.pos++
	}
	p.tok = p.src[start:min(p.pos, len(p.src))]
}

func (p *parser) expr() (value, error) {
	l, err := p.term()
	for err == nil && (p.tok == "+" || p.tok == "-") {
		op := p.tok
		p.next()
		var r value
		if r, err = p.term(); err == nil {
			l, err = binary(op, l, r)
		}
	}
	return l, err
}

func (p *parser) term() (value, error) {
	l, err := p.power()
	for err == nil && (p.tok == "*" || p.tok == "/") {
		op := p.tok
		p.next()
		var r value
		if r, err = p.power(); err == nil {
			l, err = binary(op, l, r)
		}
	}
	return l, err
}

func (p *parser) power() (value, error) {
	l, err := p.unary()
	if err == nil && p.tok == "^" {
		p.next()
		var r value
		if r, err = p.power(); err == nil {
			l, err = binary("^", l, r)
		}
	}
	return l, err
}

func (p *parser) unary() (value, error) {
	if p.tok == "-" {
		p.next()
		v, err := p.unary()
		if err != nil {
			return v, err
		}
		return binary("*", scalar(-1), v)
	}
	return p.primary()
}

func scalar(f float64) value { return value{scalar: &f} }

func (p *parser) primary() (value, error) {
	tok := p.tok
	switch {
	case tok == "":
		return value{}, errors.New("unexpected end of expression")
	case tok == "(":
		p.next()
		v, err := p.expr()
		if err != nil {
			return v, err
		}
		return v, p.expect(")")
	case tok == "[":
		return p.arrayLit()
	case unicode.IsDigit(rune(tok[0])) || tok[0] == '.':
		f, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return value{}, fmt.Errorf("bad number %q", tok)
		}
		p.next()
		return scalar(f), nil
	case unicode.IsLetter(rune(tok[0])) || tok[0] == '_':
		p.next()
		if p.tok == "(" {
			return p.call(tok)
		}
		v, ok := p.env[tok]
		if !ok {
			return value{}, fmt.Errorf("unknown metric or expression id %q", tok)
		}
		return v, nil
	}
	return value{}, fmt.Errorf("unexpected %q", tok)
}

func (p *parser) expect(t string) error {
	if p.tok != t {
		return fmt.Errorf("expected %q, got %q", t, p.tok)
	}
	p.next()
	return nil
}

func (p *parser) arrayLit() (value, error) {
	p.next()
	var out []*ts
	for p.tok != "]" {
		v, err := p.expr()
		if err != nil {
			return v, err
		}
		if v.scalar != nil {
			return value{}, errors.New("arrays hold time series, not scalars")
		}
		out = append(out, v.list()...)
		if p.tok == "," {
			p.next()
		} else if p.tok != "]" {
			return value{}, fmt.Errorf("expected \",\" or \"]\", got %q", p.tok)
		}
	}
	p.next()
	return value{array: out}, nil
}

func (p *parser) call(name string) (value, error) {
	p.next() // (
	var args []value
	var strArgs []string
	for p.tok != ")" {
		if p.tok == "" {
			return value{}, errors.New("unexpected end of expression")
		}
		if p.tok[0] == '"' || p.tok[0] == '\'' {
			strArgs = append(strArgs, strings.Trim(p.tok, `"'`))
			p.next()
		} else {
			v, err := p.expr()
			if err != nil {
				return v, err
			}
			args = append(args, v)
		}
		if p.tok == "," {
			p.next()
		} else if p.tok != ")" {
			return value{}, fmt.Errorf("expected \",\" or \")\", got %q", p.tok)
		}
	}
	p.next()
	switch strings.ToUpper(name) {
	case "METRICS":
		var out []*ts
		for _, id := range p.statIDs {
			s := p.env[id].series
			if len(strArgs) == 0 || strings.Contains(s.label, strArgs[0]) {
				out = append(out, s)
			}
		}
		return value{array: out}, nil
	case "SUM", "AVG", "MIN", "MAX":
		if len(args) != 1 {
			return value{}, fmt.Errorf("%s takes one argument", name)
		}
		return reduce(strings.ToUpper(name), args[0])
	case "ABS":
		if len(args) != 1 {
			return value{}, errors.New("ABS takes one argument")
		}
		return mapValue(args[0], math.Abs), nil
	}
	return value{}, fmt.Errorf("function %s is not supported by Berth", name)
}

func fold(fn string, xs []float64) float64 {
	out := xs[0]
	for _, x := range xs[1:] {
		switch fn {
		case "SUM", "AVG":
			out += x
		case "MIN":
			out = math.Min(out, x)
		case "MAX":
			out = math.Max(out, x)
		}
	}
	if fn == "AVG" {
		out /= float64(len(xs))
	}
	return out
}

// reduce applies fn across an array (per timestamp) or over one series'
// values (a scalar).
func reduce(fn string, v value) (value, error) {
	switch {
	case v.scalar != nil:
		return v, nil
	case v.series != nil:
		var xs []float64
		for _, x := range v.series.values {
			xs = append(xs, x)
		}
		if len(xs) == 0 {
			return value{series: &ts{label: fn, values: map[time.Time]float64{}}}, nil
		}
		return scalar(fold(fn, xs)), nil
	}
	per := map[time.Time][]float64{}
	for _, s := range v.array {
		for t, x := range s.values {
			per[t] = append(per[t], x)
		}
	}
	out := &ts{label: fn, values: map[time.Time]float64{}}
	for t, xs := range per {
		out.values[t] = fold(fn, xs)
	}
	return value{series: out}, nil
}

func mapValue(v value, f func(float64) float64) value {
	if v.scalar != nil {
		return scalar(f(*v.scalar))
	}
	var out []*ts
	for _, s := range v.list() {
		n := &ts{label: s.label, values: map[time.Time]float64{}}
		for t, x := range s.values {
			n.values[t] = f(x)
		}
		out = append(out, n)
	}
	if v.series != nil {
		return value{series: out[0]}
	}
	return value{array: out}
}

func apply(op string, a, b float64) float64 {
	switch op {
	case "+":
		return a + b
	case "-":
		return a - b
	case "*":
		return a * b
	case "/":
		return a / b
	}
	return math.Pow(a, b)
}

// binary applies op: scalars broadcast; two series combine on their common
// timestamps; arrays combine element by element with a scalar or series.
func binary(op string, l, r value) (value, error) {
	switch {
	case l.scalar != nil && r.scalar != nil:
		return scalar(apply(op, *l.scalar, *r.scalar)), nil
	case r.scalar != nil:
		return mapValue(l, func(x float64) float64 { return apply(op, x, *r.scalar) }), nil
	case l.scalar != nil:
		return mapValue(r, func(x float64) float64 { return apply(op, *l.scalar, x) }), nil
	case l.series != nil && r.series != nil:
		return value{series: combine(op, l.series, r.series)}, nil
	case l.array != nil && r.series != nil:
		var out []*ts
		for _, s := range l.array {
			out = append(out, combine(op, s, r.series))
		}
		return value{array: out}, nil
	case l.series != nil && r.array != nil:
		var out []*ts
		for _, s := range r.array {
			out = append(out, combine(op, l.series, s))
		}
		return value{array: out}, nil
	}
	return value{}, errors.New("cannot combine two arrays of time series")
}

func combine(op string, a, b *ts) *ts {
	out := &ts{label: a.label, values: map[time.Time]float64{}}
	for t, x := range a.values {
		if y, ok := b.values[t]; ok {
			v := apply(op, x, y)
			if finite(v) {
				out.values[t] = v
			}
		}
	}
	return out
}
