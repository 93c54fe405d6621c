package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
)

// TestREST_RoutesAndErrors: REST-JSON requests reach berth.api.scheduler.<Op>
// with path and query parameters merged into the body under their member
// names (lists for list members, ARNs unescaped), and errors come back the
// REST-JSON way: the error code's status, X-Amzn-ErrorType and {"Message"}.
func TestREST_RoutesAndErrors(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	got := make(chan map[string]any, 1)
	echo := func(m *nats.Msg) {
		var v map[string]any
		_ = json.Unmarshal(m.Data, &v)
		got <- v
		_ = m.Respond([]byte(`{}`))
	}
	sub := func(op string, h nats.MsgHandler) {
		t.Helper()
		ns, err := nc.Subscribe(events.SubjAPI(events.APIScheduler, op), h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ns.Unsubscribe() })
	}
	sub("UntagResource", echo)
	sub("GetSchedule", echo)
	sub("DeleteSchedule", func(m *nats.Msg) {
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set(micro.ErrorCodeHeader, string(events.CodeResourceNotFound))
		reply.Header.Set(micro.ErrorHeader, "Schedule x does not exist.")
		_ = m.RespondMsg(reply)
	})
	// The gateway asks on a connection of its own: the server must have
	// the subscriptions before its first request, or it answers "no
	// responders" (500).
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	keys := staticKeys{testCreds.AccessKeyID: testCreds.SecretAccessKey}
	g, err := New(Config{Keys: keys}, natstest.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	do := func(method, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		empty := sha256.Sum256(nil)
		if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, hex.EncodeToString(empty[:]), "scheduler", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := do("DELETE", "/tags/arn%3Aaws%3Ascheduler%3Aus-east-1%3A1%3Aschedule-group%2Fg?TagKeys=a&TagKeys=b"); resp.StatusCode != 200 {
		t.Fatalf("untag: %d", resp.StatusCode)
	}
	m := <-got
	if m["ResourceArn"] != "arn:aws:scheduler:us-east-1:1:schedule-group/g" || len(m["TagKeys"].([]any)) != 2 {
		t.Fatalf("untag body: %v", m)
	}
	do("GET", "/schedules/nightly?groupName=batch")
	if m := <-got; m["Name"] != "nightly" || m["GroupName"] != "batch" {
		t.Fatalf("get body: %v", m)
	}
	resp := do("DELETE", "/schedules/x")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-ErrorType") != "ResourceNotFoundException" || string(body) != `{"Message":"Schedule x does not exist."}`+"\n" {
		t.Fatalf("error: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// No service answers: the API's fault, 500.
	if resp := do("GET", "/schedule-groups/g"); resp.StatusCode != 500 || resp.Header.Get("X-Amzn-ErrorType") != "InternalServerException" {
		t.Fatalf("unavailable: %d %v", resp.StatusCode, resp.Header)
	}
}

// staticKeys is a KeyStore of fixed secrets by access key id.
type staticKeys map[string]string

func (k staticKeys) Lookup(id string) (events.AccessKey, bool) {
	secret, ok := k[id]
	return events.AccessKey{AccessKeyID: id, SecretAccessKey: secret, Status: "Active"}, ok
}
