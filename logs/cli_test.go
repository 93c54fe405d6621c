package logs_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogs_CLI drives the service with the Debian aws CLI (v2).
func TestLogs_CLI(t *testing.T) {
	f := start(t, nil)
	dir := t.TempDir()
	run := func(args ...string) map[string]any {
		t.Helper()
		res := f.env.AWS(t, dir, args...)
		if res.Exit != 0 {
			t.Fatalf("aws %v: exit %d: %s", args, res.Exit, res.Stderr)
		}
		var out map[string]any
		if s := strings.TrimSpace(res.Stdout); s != "" {
			if err := json.Unmarshal([]byte(s), &out); err != nil {
				t.Fatalf("aws %v: %v\n%s", args, err, s)
			}
		}
		return out
	}
	run("logs", "create-log-group", "--log-group-name", "/cli/app", "--tags", "team=a")
	run("logs", "create-log-stream", "--log-group-name", "/cli/app", "--log-stream-name", "web/1")
	now := time.Now().UnixMilli()
	evs := fmt.Sprintf(`[{"timestamp":%d,"message":"GET /index.html 200"},{"timestamp":%d,"message":"GET /missing 404"}]`, now, now+1)
	if err := os.WriteFile(filepath.Join(dir, "events.json"), []byte(evs), 0o600); err != nil {
		t.Fatal(err)
	}
	put := run("logs", "put-log-events", "--log-group-name", "/cli/app", "--log-stream-name", "web/1", "--log-events", "file://events.json")
	if put["nextSequenceToken"] == nil {
		t.Fatalf("put-log-events: %v", put)
	}
	get := run("logs", "get-log-events", "--log-group-name", "/cli/app", "--log-stream-name", "web/1", "--start-from-head")
	if n := len(get["events"].([]any)); n != 2 || !strings.HasPrefix(get["nextForwardToken"].(string), "f/") || !strings.HasPrefix(get["nextBackwardToken"].(string), "b/") {
		t.Fatalf("get-log-events: %v", get)
	}
	flt := run("logs", "filter-log-events", "--log-group-name", "/cli/app", "--filter-pattern", "[method, path, status=404]")
	if evs := flt["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["message"] != "GET /missing 404" {
		t.Fatalf("filter-log-events: %v", flt)
	}
	ds := run("logs", "describe-log-streams", "--log-group-name", "/cli/app", "--log-stream-name-prefix", "web/")
	if s := ds["logStreams"].([]any); len(s) != 1 || s[0].(map[string]any)["lastEventTimestamp"].(float64) != float64(now+1) {
		t.Fatalf("describe-log-streams: %v", ds)
	}
	run("logs", "put-retention-policy", "--log-group-name", "/cli/app", "--retention-in-days", "7")
	dg := run("logs", "describe-log-groups", "--log-group-name-prefix", "/cli")
	if g := dg["logGroups"].([]any); len(g) != 1 || g[0].(map[string]any)["retentionInDays"].(float64) != 7 {
		t.Fatalf("describe-log-groups: %v", dg)
	}
	if tags := run("logs", "list-tags-log-group", "--log-group-name", "/cli/app")["tags"].(map[string]any); tags["team"] != "a" {
		t.Fatalf("tags %v", tags)
	}
	tail := f.env.AWS(t, dir, "logs", "tail", "/cli/app", "--format", "short")
	if tail.Exit != 0 || strings.Count(tail.Stdout, "\n") != 2 || !strings.Contains(tail.Stdout, "GET /missing 404") {
		t.Fatalf("logs tail: exit %d\n%s%s", tail.Exit, tail.Stdout, tail.Stderr)
	}

	bad := f.env.AWS(t, dir, "logs", "get-log-events", "--log-group-name", "/cli/none", "--log-stream-name", "x")
	if bad.Exit != 254 || !strings.Contains(bad.Stderr, "An error occurred (ResourceNotFoundException) when calling the GetLogEvents operation: The specified log group does not exist.") {
		t.Fatalf("unknown group: exit %d: %s", bad.Exit, bad.Stderr)
	}
	bad = f.env.AWS(t, dir, "logs", "put-retention-policy", "--log-group-name", "/cli/app", "--retention-in-days", "2")
	if bad.Exit != 254 || !strings.Contains(bad.Stderr, "InvalidParameterException") {
		t.Fatalf("bad retention: exit %d: %s", bad.Exit, bad.Stderr)
	}
	run("logs", "delete-log-group", "--log-group-name", "/cli/app")
	if g := run("logs", "describe-log-groups")["logGroups"].([]any); len(g) != 0 {
		t.Fatalf("after delete: %v", g)
	}
}
