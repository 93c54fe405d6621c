package scheduler

import (
	"errors"
	"strings"
	"testing"
)

const (
	exprTrue  = "attribute:ecs.os-type == linux"
	exprFalse = "attribute:ecs.os-type == windows"
)

func TestExpr_Match_Operators(t *testing.T) {
	disconnected := func(in *Instance) { in.AgentConnected = false }
	running := func(n int) func(*Instance) { return func(in *Instance) { in.RunningTasks = n } }
	cases := []struct {
		name   string
		expr   string
		mutate func(*Instance)
		want   bool
	}{
		// String equality.
		{"eq symbol", "attribute:ecs.instance-type == t2.small", nil, true},
		{"eq word", "attribute:ecs.instance-type equals t2.small", nil, true},
		{"eq differs", "attribute:ecs.instance-type == t2.micro", nil, false},
		{"eq single quotes", "attribute:ecs.instance-type == 't2.small'", nil, true},
		{"eq double quotes", `attribute:ecs.instance-type == "t2.small"`, nil, true},
		{"eq quoted with space", "attribute:team == 'data eng'", withAttr("team", "data eng"), true},
		{"eq quoted escaped quote", `attribute:team == 'o\'neil'`, withAttr("team", "o'neil"), true},
		{"eq is string equality", "attribute:cores == 8.0", withAttr("cores", "8"), false},
		{"eq missing attribute", "attribute:custom == x", nil, false},
		{"ne symbol", "attribute:ecs.instance-type != t2.micro", nil, true},
		{"ne word", "attribute:ecs.instance-type not_equals t2.small", nil, false},
		{"ne missing attribute", "attribute:custom != x", nil, true},
		{"eq keyword subject case", "ATTRIBUTE:ecs.instance-type EQUALS t2.small", nil, true},

		// Existence.
		{"exists presence-only attribute", "attribute:com.amazonaws.ecs.capability.ecr-auth exists", nil, true},
		{"exists missing", "attribute:custom exists", nil, false},
		{"not exists symbol", "attribute:custom !exists", nil, true},
		{"not exists word", "attribute:custom not_exists", nil, true},
		{"not exists present", "attribute:ecs.os-type !exists", nil, false},

		// Sets.
		{"in", "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", nil, true},
		{"in no spaces", "attribute:ecs.availability-zone in [us-east-1b,us-east-1a]", nil, true},
		{"in absent", "attribute:ecs.availability-zone in [us-east-1b, us-east-1c]", nil, false},
		{"in quoted", `attribute:ecs.availability-zone in ['us-east-1a', "us-east-1b"]`, nil, true},
		{"not in symbol", "attribute:ecs.availability-zone !in [us-east-1b]", nil, true},
		{"not in word", "attribute:ecs.availability-zone not_in [us-east-1a]", nil, false},
		{"not in missing attribute", "attribute:custom not_in [a]", nil, true},

		// Java-style regular expressions, matched against the whole value.
		{"matches symbol", "attribute:ecs.instance-type =~ t2.*", nil, true},
		{"matches word", "attribute:ecs.instance-type matches g2.*", nil, false},
		{"matches whole value only", "attribute:ecs.instance-type =~ t2", nil, false},
		{"matches suffix needs wildcard", "attribute:ecs.instance-type =~ small", nil, false},
		{"matches leading wildcard", "attribute:ecs.instance-type =~ .*small", nil, true},
		{"matches group", "attribute:ecs.instance-type =~ (t2|m5).small", nil, true},
		{"matches class", "attribute:ecs.instance-type =~ t[0-9].small", nil, true},
		{"matches quoted escape", `attribute:ecs.instance-type =~ 't2\.small'`, nil, true},
		{"matches quoted escape rejects", `attribute:ecs.instance-type =~ 't2\.smal'`, nil, false},
		{"not matches symbol", "attribute:ecs.instance-type !~ g2.*", nil, true},
		{"not matches word", "attribute:ecs.instance-type not_matches t2.*", nil, false},
		{"matches missing attribute", "attribute:custom =~ .*", nil, false},

		// Ordering: numeric when both sides are numbers, else strings.
		{"gt numeric", "attribute:cores > 4", withAttr("cores", "8"), true},
		{"gt numeric not string", "attribute:cores > 10", withAttr("cores", "8"), false},
		{"ge numeric", "attribute:cores >= 8", withAttr("cores", "8"), true},
		{"lt numeric", "attribute:cores < 8", withAttr("cores", "8"), false},
		{"le numeric float", "attribute:cores <= 8.0", withAttr("cores", "8"), true},
		{"gt word", "attribute:cores greater_than 7", withAttr("cores", "8"), true},
		{"ge word", "attribute:cores greater_than_equal 9", withAttr("cores", "8"), false},
		{"lt word", "attribute:cores less_than 9", withAttr("cores", "8"), true},
		{"le word", "attribute:cores less_than_equal 7", withAttr("cores", "8"), false},
		{"gt string", "attribute:ecs.instance-type > t2.a", nil, true},
		{"lt string", "attribute:ecs.instance-type < m5", nil, false},
		{"ordering missing attribute", "attribute:custom > 1", nil, false},

		// ec2InstanceId.
		{"ec2 eq", "ec2InstanceId == i-a1", nil, true},
		{"ec2 ne", "ec2InstanceId != i-a1", nil, false},
		{"ec2 in quoted", "ec2InstanceId in ['i-abcd1234', 'i-a1']", nil, true},
		{"ec2 not in", "ec2InstanceId !in ['i-abcd1234']", nil, true},
		{"ec2 matches", "ec2InstanceId =~ i-.*", nil, true},
		{"ec2 not matches", "ec2InstanceId !~ i-.*", nil, false},

		// agentConnected.
		{"agent eq true", "agentConnected == true", nil, true},
		{"agent eq false", "agentConnected == false", nil, false},
		{"agent eq case", "agentConnected == TRUE", nil, true},
		{"agent disconnected", "agentConnected == false", disconnected, true},
		{"agent ne", "agentConnected != true", disconnected, true},
		{"agent in", "agentConnected in [false]", disconnected, true},
		{"agent not in", "agentConnected not_in [false]", nil, true},
		{"agent matches", "agentConnected =~ t.*", nil, true},
		{"agent not matches", "agentConnected !~ t.*", nil, false},

		// agentVersion: component-wise version comparison.
		{"version eq", "agentVersion == 1.14.5", nil, true},
		{"version eq v prefix", "agentVersion == v1.14.5", nil, true},
		{"version ne", "agentVersion != 1.14.5", nil, false},
		{"version lt same", "agentVersion < 1.14.5", nil, false},
		{"version lt patch", "agentVersion < 1.14.6", nil, true},
		{"version lt short", "agentVersion < 1.15", nil, true},
		{"version gt numeric components", "agentVersion > 1.9.0", nil, true},
		{"version ge", "agentVersion >= 1.14.5", nil, true},
		{"version le", "agentVersion <= 1.14.4", nil, false},
		{"version gt pre-release", "agentVersion > 1.14.5-beta", nil, true},
		{"version words", "agentVersion less_than 2.0.0", nil, true},

		// registeredAt (2018-02-13T10:30:00Z); dates compare by UTC day.
		{"date lt same day", "registeredAt < 2018-02-13", nil, false},
		{"date lt next day", "registeredAt < 2018-02-14", nil, true},
		{"date eq day", "registeredAt == 2018-02-13", nil, true},
		{"date ne day", "registeredAt != 2018-02-13", nil, false},
		{"date le day", "registeredAt <= 2018-02-13", nil, true},
		{"date gt day before", "registeredAt > 2018-02-12", nil, true},
		{"date ge day", "registeredAt >= 2018-02-14", nil, false},
		{"timestamp Z", "registeredAt > 2018-02-13T10:00:00Z", nil, true},
		{"timestamp offset", "registeredAt < 2018-02-13T10:30:01+00:00", nil, true},
		{"timestamp other zone", "registeredAt >= 2018-02-13T11:30:00+01:00", nil, true},
		{"timestamp local means UTC", "registeredAt == 2018-02-13T10:30:00", nil, true},
		{"timestamp eq", "registeredAt == 2018-02-13T10:30:00Z", nil, true},

		// runningTasksCount.
		{"running eq", "runningTasksCount == 1", running(1), true},
		{"running ne", "runningTasksCount != 1", running(1), false},
		{"running gt", "runningTasksCount > 0", running(1), true},
		{"running ge", "runningTasksCount >= 2", running(1), false},
		{"running lt", "runningTasksCount < 2", running(1), true},
		{"running le", "runningTasksCount <= 0", running(1), false},
		{"running empty", "runningTasksCount == 0", nil, true},

		// task:group.
		{"group eq", "task:group == service:production", withGroup("service:production", 2), true},
		{"group eq absent", "task:group == database", withGroup("service:production", 2), false},
		{"group eq zero count", "task:group == database", withGroup("database", 0), false},
		{"group ne", "task:group != database", withGroup("service:production", 2), true},
		{"group anti-affinity", "not(task:group == database)", withGroup("database", 1), false},
		{"group in", "task:group in [database, service:production]", withGroup("service:production", 1), true},
		{"group not in", "task:group !in [database]", withGroup("service:production", 1), true},
		{"group matches", "task:group =~ service:.*", withGroup("service:production", 1), true},
		{"group not matches", "task:group !~ service:.*", withGroup("service:production", 1), false},
		{"group exists", "task:group exists", withGroup("family:batch", 1), true},
		{"group exists empty", "task:group exists", nil, false},
		{"group not exists empty", "task:group !exists", nil, true},

		// Compound expressions and precedence (not > and > or).
		{"docs compound", "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d", nil, true},
		{"and symbol", exprTrue + " && " + exprFalse, nil, false},
		{"and word upper", exprTrue + " AND " + exprTrue, nil, true},
		{"or symbol", exprFalse + " || " + exprTrue, nil, true},
		{"or word", exprFalse + " or " + exprFalse, nil, false},
		{"and binds tighter than or", exprTrue + " or " + exprFalse + " and " + exprFalse, nil, true},
		{"parentheses", "(" + exprTrue + " or " + exprFalse + ") and " + exprFalse, nil, false},
		{"not binds tighter than and", "not " + exprTrue + " and " + exprFalse, nil, false},
		{"not binds tighter than or", "not " + exprTrue + " or " + exprTrue, nil, true},
		{"not parentheses", "not (" + exprTrue + " or " + exprTrue + ")", nil, false},
		{"bang", "!" + exprFalse, nil, true},
		{"bang parentheses", "!(" + exprFalse + ") && " + exprTrue, nil, true},
		{"double negation", "not not " + exprTrue, nil, true},
		{"double bang", "!!" + exprTrue, nil, true},
		{"no spaces", "attribute:ecs.os-type==linux&&runningTasksCount==0", nil, true},
		{"no spaces or", "attribute:ecs.os-type==windows||runningTasksCount<1", nil, true},
		{"regex then paren", "(attribute:ecs.instance-type =~ (t2|m5).*)", nil, true},
		{"regex then and", "attribute:ecs.instance-type =~ t2.*&&" + exprTrue, nil, true},
		{"nested", "((" + exprTrue + ") and (not (" + exprFalse + ")))", nil, true},
		{"newlines", exprTrue + "\n\tand\n" + exprTrue, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := testInstance("a1")
			if tc.mutate != nil {
				tc.mutate(&in)
			}
			e, err := Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.expr, err)
			}
			if got := e.Match(&in); got != tc.want {
				t.Errorf("Parse(%q).Match = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}
}

func TestExpr_Parse_Invalid(t *testing.T) {
	cases := []struct {
		name string
		expr string
		want string // substring of the error
	}{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"too long", "attribute:x == " + strings.Repeat("a", MaxExpressionLength), "longer than 2000"},
		{"unknown subject", "foo == bar", `unknown subject "foo"`},
		{"instanceId not a subject", "instanceId == abc", "unknown subject"},
		{"attribute without name", "attribute: == x", "unknown subject"},
		{"missing operator", "attribute:x", "missing operator"},
		{"missing argument", "attribute:x ==", "missing argument"},
		{"missing argument blank", "attribute:x == ", "missing argument"},
		{"missing argument before and", "attribute:x == && attribute:y == z", "missing argument"},
		{"bad symbol operator", "attribute:x ~= y", "expected an operator"},
		{"unknown operator", "attribute:x like y", `unknown operator "like"`},
		{"in without list", "attribute:x in a, b", "expected '['"},
		{"in missing list", "attribute:x in", "missing argument list"},
		{"in unterminated", "attribute:x in [a, b", "unterminated argument list"},
		{"in empty", "attribute:x in []", "empty argument list"},
		{"in double comma", "attribute:x in [a,,b]", "in argument list"},
		{"in missing comma", "attribute:x in [a b]", "expected ',' or ']'"},
		{"regex unbalanced", "attribute:x =~ (t2", "invalid regular expression"},
		{"regex class", "attribute:x =~ [a-", "invalid regular expression"},
		{"regex lookahead unsupported", "attribute:x =~ a(?=b)", "invalid regular expression"},
		{"regex missing", "attribute:x =~", "missing pattern"},
		{"unbalanced open", "(attribute:x == y", "unbalanced '('"},
		{"unbalanced close", "attribute:x == y)", "unbalanced ')'"},
		{"empty parentheses", "()", "expected a subject"},
		{"dangling and", "attribute:x == y and", "unexpected end"},
		{"dangling or", "attribute:x == y ||", "unexpected end"},
		{"double or", "attribute:x == y or or attribute:x == y", `unknown subject "or"`},
		{"missing connective", "attribute:x == y attribute:z == w", "expected 'and', 'or'"},
		{"triple ampersand", "attribute:x == y &&& attribute:z == w", "expected a subject"},
		{"unterminated quote", "attribute:x == 'abc", "unterminated quoted string"},
		{"lonely not", "not", "unexpected end"},
		{"lonely bang", "!", "unexpected end"},
		{"running not integer", "runningTasksCount == many", "integer"},
		{"running regex", "runningTasksCount =~ 1", "not valid for subject"},
		{"agent ordering", "agentConnected > 1", "not valid for subject"},
		{"agent exists", "agentConnected exists", "not valid for subject"},
		{"version in", "agentVersion in [1.0]", "not valid for subject"},
		{"date matches", "registeredAt =~ 2018.*", "not valid for subject"},
		{"date word", "registeredAt < yesterday", "invalid date"},
		{"date month", "registeredAt < 2018-13-01", "invalid date"},
		{"group ordering", "task:group > 3", "not valid for subject"},
		{"ec2 exists", "ec2InstanceId exists", "not valid for subject"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error", tc.expr, e)
			}
			if !errors.Is(err, ErrInvalidParameter) {
				t.Errorf("error %v does not match ErrInvalidParameter", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if err := ValidateExpression(tc.expr); err == nil {
				t.Errorf("ValidateExpression(%q) = nil", tc.expr)
			}
		})
	}
}

func TestExpr_Parse_ErrorPosition(t *testing.T) {
	_, err := Parse("attribute:x == y and foo == z")
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
	if pe.Pos != 21 {
		t.Errorf("Pos = %d, want 21", pe.Pos)
	}
}

func TestExpr_Parse_MaxLength(t *testing.T) {
	arg := strings.Repeat("a", MaxExpressionLength-len("attribute:x == "))
	if _, err := Parse("attribute:x == " + arg); err != nil {
		t.Fatalf("expression of exactly %d characters: %v", MaxExpressionLength, err)
	}
}

func TestExpr_UsesTaskGroup_Detects(t *testing.T) {
	cases := map[string]bool{
		"task:group == x": true,
		"not(task:group == database) and " + exprTrue: true,
		exprTrue:                 false,
		"runningTasksCount == 0": false,
	}
	for src, want := range cases {
		e, err := Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if got := e.UsesTaskGroup(); got != want {
			t.Errorf("%q: UsesTaskGroup = %v, want %v", src, got, want)
		}
		if e.String() != src {
			t.Errorf("String() = %q, want %q", e.String(), src)
		}
	}
}

func TestCompareVersions_Order(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.14.5", "1.14.5", 0},
		{"1.14", "1.14.0", 0},
		{"1.9.0", "1.14.0", -1},
		{"1.14.5", "1.14.5-beta", 1},
		{"1.14.5-alpha", "1.14.5-beta", -1},
		{"v2.0", "1.99", 1},
		{"", "1.0", -1},
	}
	for _, tc := range cases {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestExpr_Match_FastRegexAgreesWithEngine(t *testing.T) {
	patterns := []string{"t2.*", "t2", `t2\.small`, "service:.*", ".*", "(t2|m5).*", "t2.*x", "(?i)T2.*", "a+", ""}
	values := []string{"", "t2", "t2.small", "t2x", "T2.small", "service:web", "t2\nsmall", "m5.large", "aaa", "x"}
	for _, pat := range patterns {
		e, err := Parse("attribute:v =~ '" + pat + "'")
		if err != nil {
			t.Fatalf("%q: %v", pat, err)
		}
		c := e.root.(*cond)
		for _, v := range values {
			if got, want := c.matchRegex(v), c.re.MatchString(v); got != want {
				t.Errorf("pattern %q value %q: fast %v, regexp %v", pat, v, got, want)
			}
		}
	}
}
