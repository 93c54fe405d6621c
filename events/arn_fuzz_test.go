package events

import (
	"errors"
	"testing"
)

// FuzzParseARN: any input parses or fails with ErrInvalidARN, and what
// parses prints back to an ARN that parses to the same fields.
func FuzzParseARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:ecs:us-east-1:123456789012:cluster/default",
		"arn:aws:ecs:us-east-1:123456789012:task-definition/sleep360:3",
		"arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef",
		"arn:aws:ecr:us-east-1:123456789012:repository/team/app",
		"arn:aws:ecs:us-east-1:12345678901:cluster/x",
		"arn::::::", "arn:aws", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseARN(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidARN) {
				t.Fatalf("ParseARN(%q): error %v is not ErrInvalidARN", s, err)
			}
			return
		}
		b, err := ParseARN(a.String())
		if err != nil || b != a {
			t.Fatalf("ParseARN(%q) = %+v, printed %q parses to %+v, %v", s, a, a.String(), b, err)
		}
		if r, err := ParseECSARN(s); err == nil && r.ARN != a {
			t.Fatalf("ParseECSARN(%q) = %+v, ParseARN = %+v", s, r.ARN, a)
		}
	})
}
