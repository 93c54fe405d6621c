package logs

import (
	"errors"
	"testing"
)

// Examples from AWS's "Filter pattern syntax for metric filters,
// subscription filters, filter log events, and Live Tail".
var unstructured = []string{
	"[ERROR 400] BAD REQUEST",
	"[ERROR 401] UNAUTHORIZED REQUEST",
	"[ERROR 419] MISSING ARGUMENTS",
	"[ERROR 420] INVALID ARGUMENTS",
	"[WARN] Exiting",
	"[INFO] 200 OK",
}

const cloudTrail = `{"eventType":"UpdateTrail","sourceIPAddress":"111.111.111.111","arrayKey":["value","another value"],"objectList":[{"name":"a","id":1},{"name":"b","id":2}],"SomeObject":null,"cluster.name":"c","ThisFlag":true,"latency":517,"user":{"id":2,"email":"John.Doe@example.com"},"users":[{"id":1,"email":"John.Doe@example.com"}],"actions":["GET","PUT","DELETE"],"errorCode":"AccessDenied","level":"ERROR"}`

const apache = `127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534`
const apache404 = `127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /index.html HTTP/1.0" 404 2326`

func TestParsePattern_Match(t *testing.T) {
	cases := []struct {
		name, pattern, msg string
		want               bool
	}{
		{"empty matches all", "", "anything", true},
		{"term", "ERROR", unstructured[0], true},
		{"term case-sensitive", "error", unstructured[0], false},
		{"term absent", "ERROR", unstructured[4], false},
		{"all terms", "ERROR ARGUMENTS", unstructured[2], true},
		{"all terms one missing", "ERROR ARGUMENTS", unstructured[0], false},
		{"quoted phrase", `"INVALID ARGUMENTS"`, unstructured[3], true},
		{"quoted phrase absent", `"INVALID ARGUMENTS"`, unstructured[2], false},
		{"quoted with punctuation", `"[ERROR 400]"`, unstructured[0], true},
		{"optional any", "?ERROR ?WARN", unstructured[4], true},
		{"optional any first", "?ERROR ?WARN", unstructured[1], true},
		{"optional none", "?ERROR ?WARN", unstructured[5], false},
		{"exclusion", "ERROR -MISSING", unstructured[2], false},
		{"exclusion keeps others", "ERROR -MISSING", unstructured[3], true},
		{"only exclusion", "-ERROR", unstructured[5], true},
		{"exclusion quoted", `ERROR -"INVALID ARGUMENTS"`, unstructured[3], false},
		{"regex", "%ERROR 4[0-9]{2}%", unstructured[1], true},
		{"regex no", "%ERROR 5[0-9]{2}%", unstructured[1], false},
		{"regex optional", "?%WARN% ?%INFO%", unstructured[5], true},

		{"json string eq", `{ $.eventType = "UpdateTrail" }`, cloudTrail, true},
		{"json string eq unquoted", `{ $.eventType = UpdateTrail }`, cloudTrail, true},
		{"json string ne", `{ $.eventType != "UpdateTrail" }`, cloudTrail, false},
		{"json wildcard", `{ $.sourceIPAddress = 111.111.* }`, cloudTrail, true},
		{"json wildcard ne", `{ $.sourceIPAddress != 123.123.* }`, cloudTrail, true},
		{"json prefix wildcard", `{ $.errorCode = "*Denied" }`, cloudTrail, true},
		{"json array index", `{ $.arrayKey[0] = "value" }`, cloudTrail, true},
		{"json array index 1", `{ $.arrayKey[1] = "value" }`, cloudTrail, false},
		{"json object list", `{ $.objectList[1].id = 2 }`, cloudTrail, true},
		{"json array any", `{ $.actions[*] = "PUT" }`, cloudTrail, true},
		{"json numeric gt", `{ $.latency > 500 }`, cloudTrail, true},
		{"json numeric le", `{ $.latency <= 500 }`, cloudTrail, false},
		{"json numeric ge float", `{ $.latency >= 517.0 }`, cloudTrail, true},
		{"json numeric eq", `{ $.latency = 517 }`, cloudTrail, true},
		{"json numeric ne", `{ $.latency != 517 }`, cloudTrail, false},
		{"json and", `{ $.user.id = 2 && $.users[0].email = "John.Doe@example.com" }`, cloudTrail, true},
		{"json and false", `{ $.user.id = 3 && $.users[0].email = "John.Doe@example.com" }`, cloudTrail, false},
		{"json or with parens", `{ ($.user.id = 3 && $.users[0].email = "x") || $.actions[2] = "DELETE" }`, cloudTrail, true},
		{"json or false", `{ ($.user.id = 3 && $.users[0].email = "x") || $.actions[2] = "GET" }`, cloudTrail, false},
		{"json is true", `{ $.ThisFlag IS TRUE }`, cloudTrail, true},
		{"json is false", `{ $.ThisFlag IS FALSE }`, cloudTrail, false},
		{"json is null", `{ $.SomeObject IS NULL }`, cloudTrail, true},
		{"json not exists", `{ $.SomeOtherObject NOT EXISTS }`, cloudTrail, true},
		{"json not exists present", `{ $.SomeObject NOT EXISTS }`, cloudTrail, false},
		{"json regex", `{ $.eventType = %Update.*% }`, cloudTrail, true},
		{"json missing field", `{ $.nope = "x" }`, cloudTrail, false},
		{"json on text event", `{ $.level = "ERROR" }`, "level=ERROR", false},
		{"json level", `{ $.level = "ERROR" }`, cloudTrail, true},

		{"delimited all fields", "[ip, user, username, timestamp, request, status_code, bytes]", apache, true},
		{"delimited wrong count", "[ip, user, username, timestamp, request, status_code]", apache, false},
		{"delimited eq", "[ip, user, username, timestamp, request, status_code = 404, bytes]", apache404, true},
		{"delimited eq no", "[ip, user, username, timestamp, request, status_code = 404, bytes]", apache, false},
		{"delimited wildcard", "[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", apache404, true},
		{"delimited ne wildcard", "[ip, user, username, timestamp, request, status_code != 2*, bytes]", apache, false},
		{"delimited numeric", "[ip, user, username, timestamp, request, status_code, bytes > 2000]", apache404, true},
		{"delimited numeric no", "[ip, user, username, timestamp, request, status_code, bytes > 2000]", apache, false},
		{"delimited ellipsis", "[..., status_code = 404, bytes]", apache404, true},
		{"delimited ellipsis front", "[ip, ..., bytes >= 1534]", apache, true},
		{"delimited and", "[ip, user, username, timestamp, request, status_code >= 400 && status_code < 500, bytes]", apache404, true},
		{"delimited or", "[ip, user, username, timestamp, request, status_code = 200 || status_code = 404, bytes]", apache, true},
		{"delimited or no", "[ip, user, username, timestamp, request, status_code = 500 || status_code = 404, bytes]", apache, false},
		{"delimited quoted value", `[ip, user = "-", ...]`, apache, true},
		{"delimited regex", "[ip, user, username = %fr.nk%, ...]", apache, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePattern(c.pattern)
			if err != nil {
				t.Fatalf("parse %q: %v", c.pattern, err)
			}
			if got := p.Match(c.msg); got != c.want {
				t.Fatalf("%q on %q = %v, want %v", c.pattern, c.msg, got, c.want)
			}
		})
	}
}

func TestParsePattern_Invalid(t *testing.T) {
	for _, p := range []string{
		`{ $.a = }`,
		`{ $.a = "x"`,
		`{ a = "x" }`,
		`{ $.a > "x" }`,
		`{ $.a = "x" && }`,
		`{ ($.a = 1 }`,
		`{ $.a IS MAYBE }`,
		`{ $.a[x] = 1 }`,
		`[a, b`,
		`[a, , b]`,
		`[a, b = ]`,
		`"unterminated`,
		`%unterminated`,
		`%[%`,
		`?`,
		`{}`,
	} {
		if _, err := ParsePattern(p); !errors.Is(err, ErrBadPattern) {
			t.Errorf("%q: err %v, want ErrBadPattern", p, err)
		}
	}
}

func TestSplitFields(t *testing.T) {
	got := splitFields(apache)
	want := []string{"127.0.0.1", "-", "frank", "10/Oct/2000:13:25:15 -0700", "GET /apache_pb.gif HTTP/1.0", "200", "1534"}
	if len(got) != len(want) {
		t.Fatalf("%q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("field %d: %q, want %q", i, got[i], want[i])
		}
	}
}
