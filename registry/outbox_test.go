package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/registry"
)

// A registry replica stops right after committing a push (the tag write)
// and before publishing its "ECR Image Action": after it is gone, another
// replica's relay publishes the event, exactly once. A delete cut off the
// same way is published by the surviving replica's own relay.
func TestEvents_CrashBetweenCommitAndPublish(t *testing.T) {
	e := &env{Env: testenv.New(t)}
	// Replica A's relay would wait an hour before looking at a write: the
	// event can only come from replica B.
	var stopA func()
	e.URL, stopA = startStoppable(t, e, time.Hour)
	e.WaitFor(t, events.ServiceRegistry)
	const repo = "crash/app"
	img := e.pushImage(t, repo, 1, nil)

	crash := func(w natsutil.KVWrite) { panic("stopped between commit and publish: " + w.Key) }
	registry.SetAfterCommit(crash)
	t.Cleanup(func() { registry.SetAfterCommit(nil) })
	hr, err := http.NewRequest("PUT", e.URL+"/v2/"+repo+"/manifests/v1", bytes.NewReader(img.Manifest))
	must(t, err)
	hr.Header.Set("Content-Type", mtOCIManifest)
	hr.SetBasicAuth("AWS", e.token(t))
	if res, err := http.DefaultClient.Do(hr); err == nil {
		res.Body.Close()
		t.Fatalf("push answered %d: the handler should have stopped at the commit", res.StatusCode)
	}
	registry.SetAfterCommit(nil)
	stopA()

	subject := events.SubjECREvent(repo, img.Digest)
	if evs := ecrEvents(t, e, subject); len(evs) != 0 {
		t.Fatalf("events before the relay: %+v", evs)
	}
	var urlB string
	urlB, _ = startStoppable(t, e, 10*time.Millisecond)
	e.URL = urlB
	want(t, e.do(t, req{Method: "GET", Path: "/v2/" + repo + "/manifests/v1", Headers: map[string]string{"Accept": mtOCIManifest}}), http.StatusOK)
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if evs := ecrEvents(t, e, subject); len(evs) != 1 {
			return fmt.Errorf("events %+v; relay %s", evs, relayState(t, e))
		}
		return nil
	})
	waitRegistryRelayIdle(t, e)
	evs := ecrEvents(t, e, subject)
	if len(evs) != 1 || evs[0].ActionType != events.ECRActionPush || evs[0].ImageTag != "v1" || evs[0].ImageDigest != img.Digest || evs[0].ManifestMediaType != mtOCIManifest {
		t.Fatalf("events %+v, want one PUSH of v1", evs)
	}

	registry.SetAfterCommit(crash)
	hr, err = http.NewRequest("DELETE", e.URL+"/v2/"+repo+"/manifests/"+img.Digest, nil)
	must(t, err)
	hr.SetBasicAuth("AWS", e.token(t))
	if res, err := http.DefaultClient.Do(hr); err == nil {
		res.Body.Close()
		t.Fatalf("delete answered %d: the handler should have stopped at the commit", res.StatusCode)
	}
	registry.SetAfterCommit(nil)
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if evs := ecrEvents(t, e, subject); len(evs) != 2 {
			return fmt.Errorf("events %+v", evs)
		}
		return nil
	})
	waitRegistryRelayIdle(t, e)
	evs = ecrEvents(t, e, subject)
	if len(evs) != 2 || evs[1].ActionType != events.ECRActionDelete || evs[1].ImageDigest != img.Digest {
		t.Fatalf("events %+v, want PUSH then one DELETE", evs)
	}
}

// startStoppable starts a registry replica with the given relay grace and
// returns its URL and a function that stops it.
func startStoppable(t *testing.T, e *env, grace time.Duration) (string, func()) {
	t.Helper()
	reg, err := registry.New(registry.Config{Region: testenv.Region, Account: testenv.Account, CreateOnPush: true, PartSize: 1 << 20, RelayGrace: grace}, e.NC, e.JS)
	must(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Serve(ctx, l) }()
	select {
	case <-reg.Ready():
	case err := <-done:
		t.Fatalf("registry: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("registry did not start")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("registry: %v", err)
		}
	}
	t.Cleanup(stop)
	return "http://" + l.Addr().String(), stop
}

// ecrEvents returns the details of the events stored on subject, with
// their message ids checked to be distinct.
func ecrEvents(t *testing.T, e *env, subject string) []events.ECRImageAction {
	t.Helper()
	st, err := e.JS.Stream(t.Context(), events.StreamEvents.Name)
	must(t, err)
	var out []events.ECRImageAction
	ids := map[string]bool{}
	for seq := uint64(1); ; {
		m, err := st.GetMsg(t.Context(), seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		must(t, err)
		id := m.Header.Get(jetstream.MsgIDHeader)
		if id == "" || ids[id] {
			t.Fatalf("message id %q stored twice or missing", id)
		}
		ids[id] = true
		var ev events.Event
		must(t, json.Unmarshal(m.Data, &ev))
		var d events.ECRImageAction
		must(t, json.Unmarshal(ev.Detail, &d))
		out = append(out, d)
		seq = m.Sequence + 1
	}
}

func waitRegistryRelayIdle(t *testing.T, e *env) {
	t.Helper()
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		c, err := e.JS.Consumer(t.Context(), "KV_"+events.BucketRegistry.Name, "outbox")
		if err != nil {
			return err
		}
		info, err := c.Info(t.Context())
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("relay: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func relayState(t *testing.T, e *env) string {
	c, err := e.JS.Consumer(t.Context(), "KV_"+events.BucketRegistry.Name, "outbox")
	if err != nil {
		return err.Error()
	}
	info, err := c.Info(t.Context())
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("pending %d, unacknowledged %d, redelivered %d, delivered %d, ack floor %d, waiting %d",
		info.NumPending, info.NumAckPending, info.NumRedelivered, info.Delivered.Stream, info.AckFloor.Stream, info.NumWaiting)
}
