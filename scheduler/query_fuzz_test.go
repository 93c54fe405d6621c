package scheduler

import (
	"errors"
	"testing"
)

// FuzzParse: any expression parses or fails with a *ParseError (never a
// panic), and what parses keeps its source text and evaluates.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"attribute:ecs.instance-type == t2.micro",
		"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
		"task:group == service:web and not(attribute:ecs.os-type == windows)",
		"attribute:color =~ r.* || (runningTasksCount > 3 && agentConnected == true)",
		"ec2InstanceId exists", "((a", "attribute:x in [", "!!!", "registeredAt >= 2026-01-01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): %T %v, want *ParseError", s, err, err)
			}
			return
		}
		if e.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, e.String())
		}
		_ = e.Match(&Instance{})
	})
}
