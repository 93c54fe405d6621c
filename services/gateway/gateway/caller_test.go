package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/callerauth"
	"github.com/berth-project/berth/internal/natstest"
)

// Every call the gateway forwards carries the signing key's id and a
// caller assertion that the service verifies for that subject and body
// (JSON 1.1 and REST-JSON fronts); a tampered body does not verify.
func TestCaller_ForwardedCallsCarryAVerifiableAssertion(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	keys := staticKeys{testCreds.AccessKeyID: testCreds.SecretAccessKey}
	got := make(chan *nats.Msg, 2)
	for _, subj := range []string{events.SubjAPI(events.APIECR, "GetAuthorizationToken"), events.SubjAPI(events.APIScheduler, "GetSchedule")} {
		sub, err := nc.Subscribe(subj, func(m *nats.Msg) {
			got <- m
			_ = m.Respond([]byte(`{}`))
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := nc.Flush(); err != nil { // the subscriptions reach the server before the gateway's first request
		t.Fatal(err)
	}
	g, err := New(Config{Keys: keys}, natstest.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	send := func(method, path, service, body string, hdr map[string]string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
	}
	send("POST", "/", "ecr", "{}", map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"})
	send("GET", "/schedules/nightly", "scheduler", "", nil)
	for range 2 {
		m := <-got
		id, assertion := m.Header.Get(events.HeaderAccessKey), m.Header.Get(events.HeaderCaller)
		if id != testCreds.AccessKeyID || assertion == "" {
			t.Fatalf("%s: headers %v", m.Subject, m.Header)
		}
		if _, err := callerauth.Verify(keys, id, assertion, m.Subject, m.Data, time.Now()); err != nil {
			t.Errorf("%s: %v", m.Subject, err)
		}
		if _, err := callerauth.Verify(keys, id, assertion, m.Subject, append(m.Data, ' '), time.Now()); err == nil {
			t.Errorf("%s: the assertion verifies for another body", m.Subject)
		}
	}
}
