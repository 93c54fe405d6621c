package scheduler

import "strings"

// Limits of a placement request (RunTask, CreateService, UpdateService).
const (
	MaxStrategies  = 5
	MaxConstraints = 10 // task definition and request combined
	MaxGroupLength = 255
)

// ValidateStrategies checks placement strategies as ECS does: at most
// MaxStrategies; type binpack, random or spread; binpack on cpu or memory;
// spread on instanceId, host or attribute:<name>; random without a field.
func ValidateStrategies(ss []Strategy) error {
	_, err := compileStrategies(ss)
	return err
}

// ValidateConstraints checks request placement constraints: at most
// MaxConstraints; distinctInstance without an expression; memberOf with a
// valid cluster query language expression.
func ValidateConstraints(cs []Constraint) error {
	_, _, err := compileConstraints(cs)
	return err
}

// ValidateTaskDefinitionConstraints checks the placement constraints of a
// task definition, which accept memberOf only.
func ValidateTaskDefinitionConstraints(cs []Constraint) error {
	for _, c := range cs {
		if c.Type == ConstraintDistinctInstance {
			return invalidf("constraint.type '%s' is not supported.", c.Type)
		}
	}
	return ValidateConstraints(cs)
}

// ValidateResources checks a task's resource needs: no negative amounts,
// ports in 1-65535, no port twice for the same protocol.
func ValidateResources(r Resources) error {
	if r.CPU < 0 {
		return invalidf("Invalid CPU value %d: CPU units cannot be negative.", r.CPU)
	}
	if r.Memory < 0 {
		return invalidf("Invalid memory value %d: memory cannot be negative.", r.Memory)
	}
	if err := validatePorts(r.TCPPorts, "tcp"); err != nil {
		return err
	}
	return validatePorts(r.UDPPorts, "udp")
}

func validatePorts(ports []int, proto string) error {
	for i, p := range ports {
		if p < 1 || p > 65535 {
			return invalidf("Invalid host port %d/%s: host ports must be between 1 and 65535.", p, proto)
		}
		for _, q := range ports[:i] {
			if p == q {
				return invalidf("Host port %d/%s is used more than once in the task.", p, proto)
			}
		}
	}
	return nil
}

type strategyKind uint8

const (
	binpackCPU strategyKind = iota
	binpackMemory
	spreadInstance
	spreadAttribute
	randomPick
)

type compiledStrategy struct {
	kind strategyKind
	attr string // spreadAttribute
}

func compileStrategies(ss []Strategy) ([]compiledStrategy, error) {
	if len(ss) > MaxStrategies {
		return nil, invalidf("Too many placement strategies: %d. You can specify a maximum of %d placement strategies.", len(ss), MaxStrategies)
	}
	out := make([]compiledStrategy, 0, len(ss))
	for _, s := range ss {
		switch s.Type {
		case StrategyBinpack:
			switch {
			case s.Field == "":
				return nil, invalidf("The binpack placement strategy requires a field: cpu or memory.")
			case strings.EqualFold(s.Field, "cpu"):
				out = append(out, compiledStrategy{kind: binpackCPU})
			case strings.EqualFold(s.Field, "memory"):
				out = append(out, compiledStrategy{kind: binpackMemory})
			default:
				return nil, invalidf("Invalid field '%s' for the binpack placement strategy. Valid fields are cpu and memory.", s.Field)
			}
		case StrategySpread:
			switch {
			case s.Field == "":
				return nil, invalidf("The spread placement strategy requires a field: instanceId, host or attribute:<name>.")
			case strings.EqualFold(s.Field, "instanceId"), strings.EqualFold(s.Field, "host"):
				out = append(out, compiledStrategy{kind: spreadInstance})
			case len(s.Field) > len("attribute:") && strings.EqualFold(s.Field[:len("attribute:")], "attribute:"):
				out = append(out, compiledStrategy{kind: spreadAttribute, attr: s.Field[len("attribute:"):]})
			default:
				return nil, invalidf("Invalid field '%s' for the spread placement strategy. Valid fields are instanceId, host and attribute:<name>.", s.Field)
			}
		case StrategyRandom:
			if s.Field != "" {
				return nil, invalidf("The random placement strategy does not take a field, got '%s'.", s.Field)
			}
			out = append(out, compiledStrategy{kind: randomPick})
		default:
			return nil, invalidf("Invalid placement strategy type '%s'. Valid types are binpack, random and spread.", s.Type)
		}
	}
	return out, nil
}

// compileConstraints returns the memberOf expressions and whether
// distinctInstance is present.
func compileConstraints(cs []Constraint) ([]*Expr, bool, error) {
	if len(cs) > MaxConstraints {
		return nil, false, invalidf("Too many placement constraints: %d. You can specify a maximum of %d placement constraints, including those in the task definition.", len(cs), MaxConstraints)
	}
	var exprs []*Expr
	distinct := false
	for _, c := range cs {
		switch c.Type {
		case ConstraintDistinctInstance:
			if c.Expression != "" {
				return nil, false, invalidf("distinctInstance expression should not be specified.")
			}
			distinct = true
		case ConstraintMemberOf:
			if strings.TrimSpace(c.Expression) == "" {
				return nil, false, invalidf("memberOf expression must be specified.")
			}
			e, err := Parse(c.Expression)
			if err != nil {
				return nil, false, err
			}
			exprs = append(exprs, e)
		default:
			return nil, false, invalidf("Invalid placement constraint type '%s'. Valid types are distinctInstance and memberOf.", c.Type)
		}
	}
	return exprs, distinct, nil
}
