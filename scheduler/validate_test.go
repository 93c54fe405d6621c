package scheduler

import (
	"errors"
	"strings"
	"testing"
)

func TestStrategy_Validate_Cases(t *testing.T) {
	cases := []struct {
		name string
		ss   []Strategy
		want string // "" = valid, else a substring of the error
	}{
		{"none", nil, ""},
		{"binpack cpu", []Strategy{{Type: StrategyBinpack, Field: "cpu"}}, ""},
		{"binpack memory upper", []Strategy{{Type: StrategyBinpack, Field: "MEMORY"}}, ""},
		{"binpack without field", []Strategy{{Type: StrategyBinpack}}, "requires a field"},
		{"binpack bad field", []Strategy{{Type: StrategyBinpack, Field: "disk"}}, "Invalid field 'disk' for the binpack"},
		{"spread instanceId", []Strategy{{Type: StrategySpread, Field: "instanceId"}}, ""},
		{"spread host", []Strategy{{Type: StrategySpread, Field: "host"}}, ""},
		{"spread attribute", []Strategy{{Type: StrategySpread, Field: "attribute:ecs.availability-zone"}}, ""},
		{"spread without field", []Strategy{{Type: StrategySpread}}, "requires a field"},
		{"spread bad field", []Strategy{{Type: StrategySpread, Field: "zone"}}, "Invalid field 'zone' for the spread"},
		{"spread attribute without name", []Strategy{{Type: StrategySpread, Field: "attribute:"}}, "Invalid field"},
		{"random", []Strategy{{Type: StrategyRandom}}, ""},
		{"random with field", []Strategy{{Type: StrategyRandom, Field: "cpu"}}, "does not take a field"},
		{"unknown type", []Strategy{{Type: "pack", Field: "cpu"}}, "Invalid placement strategy type 'pack'"},
		{"type is case-sensitive", []Strategy{{Type: "Binpack", Field: "cpu"}}, "Invalid placement strategy type"},
		{"five", make5Strategies(5), ""},
		{"six", make5Strategies(6), "Too many placement strategies: 6"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkValidation(t, ValidateStrategies(tc.ss), tc.want)
		})
	}
}

func make5Strategies(n int) []Strategy {
	out := make([]Strategy, n)
	for i := range out {
		out[i] = Strategy{Type: StrategySpread, Field: "instanceId"}
	}
	return out
}

func TestConstraint_Validate_Cases(t *testing.T) {
	memberOf := func(e string) Constraint { return Constraint{Type: ConstraintMemberOf, Expression: e} }
	many := func(n int) []Constraint {
		out := make([]Constraint, n)
		for i := range out {
			out[i] = memberOf(exprTrue)
		}
		return out
	}
	cases := []struct {
		name string
		cs   []Constraint
		want string
	}{
		{"none", nil, ""},
		{"distinctInstance", []Constraint{{Type: ConstraintDistinctInstance}}, ""},
		{"distinctInstance with expression", []Constraint{{Type: ConstraintDistinctInstance, Expression: exprTrue}}, "distinctInstance expression should not be specified."},
		{"memberOf", []Constraint{memberOf(exprTrue)}, ""},
		{"memberOf without expression", []Constraint{{Type: ConstraintMemberOf}}, "memberOf expression must be specified."},
		{"memberOf bad expression", []Constraint{memberOf("attribute:x === y")}, "Invalid cluster query expression"},
		{"unknown type", []Constraint{{Type: "sameInstance"}}, "Invalid placement constraint type 'sameInstance'"},
		{"ten", many(10), ""},
		{"eleven", many(11), "Too many placement constraints: 11"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkValidation(t, ValidateConstraints(tc.cs), tc.want)
		})
	}
}

func TestConstraint_ValidateTaskDefinition_RejectsDistinctInstance(t *testing.T) {
	err := ValidateTaskDefinitionConstraints([]Constraint{{Type: ConstraintDistinctInstance}})
	checkValidation(t, err, "constraint.type 'distinctInstance' is not supported.")
	checkValidation(t, ValidateTaskDefinitionConstraints([]Constraint{{Type: ConstraintMemberOf, Expression: exprTrue}}), "")
}

func TestResources_Validate_Cases(t *testing.T) {
	cases := []struct {
		name string
		r    Resources
		want string
	}{
		{"zero", Resources{}, ""},
		{"ports", Resources{CPU: 1, Memory: 1, TCPPorts: []int{80, 443}, UDPPorts: []int{80}}, ""},
		{"negative cpu", Resources{CPU: -1}, "CPU units cannot be negative"},
		{"negative memory", Resources{Memory: -1}, "memory cannot be negative"},
		{"port zero", Resources{TCPPorts: []int{0}}, "between 1 and 65535"},
		{"port too big", Resources{UDPPorts: []int{65536}}, "between 1 and 65535"},
		{"duplicate tcp", Resources{TCPPorts: []int{80, 80}}, "used more than once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkValidation(t, ValidateResources(tc.r), tc.want)
		})
	}
}

func TestPlan_Compile_GroupTooLong(t *testing.T) {
	_, err := Compile(TaskRequest{Group: strings.Repeat("g", MaxGroupLength+1)})
	checkValidation(t, err, "longer than 255")
}

func checkValidation(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("error %v does not match ErrInvalidParameter", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}
