package natsauth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natstest"
)

// TestNoCredentialsRefused: a client with no credentials, or a wrong
// password, is refused.
func TestNoCredentialsRefused(t *testing.T) {
	s := natstest.Start(t)
	if nc, err := nats.Connect(s.ClientURL(), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("a client with no credentials was let in")
	}
	if nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(natsauth.Admin, "wrong")); err == nil {
		nc.Close()
		t.Fatal("a wrong admin password was let in")
	}
	if nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(natsauth.JoinUser("x"), "not-the-token")); err == nil {
		nc.Close()
		t.Fatal("a join with no callout service was let in")
	}
}

// TestSubscriberIsReadOnly: the events identity receives events, follows
// the EVENTS stream, and can neither read a bucket nor publish.
func TestSubscriberIsReadOnly(t *testing.T) {
	s := natstest.Start(t)
	admin, ajs := natstest.JetStream(t, s)
	ctx := t.Context()
	if _, err := ajs.CreateStream(ctx, jetstream.StreamConfig{Name: events.StreamEvents.Name, Subjects: []string{events.SubjEventsAll}}); err != nil {
		t.Fatal(err)
	}
	keys, err := ajs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: events.BucketAccessKeys.Name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Put(ctx, "AKIA", []byte(`{"secretAccessKey":"s"}`)); err != nil {
		t.Fatal(err)
	}

	errs := make(chan error, 10)
	sub := natstest.Connect(t, s, append(natstest.As(t, natsauth.Subscriber), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))...)
	live, err := sub.SubscribeSync(events.SubjEventsAll)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := ajs.Publish(ctx, "events.ecs.default.task.1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := live.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("live event: %v", err)
	}
	sjs, _ := jetstream.New(sub)
	cons, err := sjs.OrderedConsumer(ctx, events.StreamEvents.Name, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatalf("ordered consumer on EVENTS: %v", err)
	}
	if _, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
		t.Fatalf("replay EVENTS: %v", err)
	}

	// No bucket: not its info, not a key, not a watch.
	if _, err := sjs.KeyValue(ctx, events.BucketAccessKeys.Name); err == nil {
		t.Fatal("the subscriber opened berth_access_keys")
	}
	if _, err := sub.Request("$JS.API.DIRECT.GET.KV_berth_access_keys.$KV.berth_access_keys.AKIA", nil, time.Second); err == nil {
		t.Fatal("the subscriber read an access key")
	}
	if _, err := sjs.OrderedConsumer(ctx, "KV_"+events.BucketAccessKeys.Name, jetstream.OrderedConsumerConfig{}); err == nil {
		t.Fatal("the subscriber made a consumer on berth_access_keys")
	}
	// No publishing: events, APIs, KV.
	check := natstest.Connect(t, s)
	for _, subj := range []string{"events.ecs.default.task.2", "berth.api.ecs.RunTask", "$KV.berth_access_keys.AKIA", "berth.agent.report.default.x"} {
		probe, err := check.SubscribeSync(subj)
		if err != nil {
			t.Fatal(err)
		}
		_ = check.Flush()
		if err := sub.Publish(subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
		_ = sub.Flush()
		if m, err := probe.NextMsg(300 * time.Millisecond); err == nil {
			t.Fatalf("the subscriber published on %s: %q", m.Subject, m.Data)
		}
		_ = probe.Unsubscribe()
	}
	_ = admin
	var perm int
	for len(errs) > 0 {
		if err := <-errs; errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(err.Error(), "Permissions Violation") {
			perm++
		}
	}
	if perm == 0 {
		t.Fatal("no permission violation was reported")
	}
}

// TestOnlyVerifiersReadAccessKeys: the access keys' secrets are readable
// only by the identities that verify signatures (gateway, registry).
func TestOnlyVerifiersReadAccessKeys(t *testing.T) {
	s := natstest.Start(t)
	_, ajs := natstest.JetStream(t, s)
	ctx := t.Context()
	keys, err := ajs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: events.BucketAccessKeys.Name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Put(ctx, "AKIA", []byte(`{"secretAccessKey":"s"}`)); err != nil {
		t.Fatal(err)
	}
	for _, id := range natsauth.StaticUsers() {
		nc := natstest.Connect(t, s, append(natstest.As(t, id), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))...)
		js, _ := jetstream.New(nc)
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var readErr error
		kv, err := js.KeyValue(rctx, events.BucketAccessKeys.Name)
		if err == nil {
			_, readErr = kv.Get(rctx, "AKIA")
		}
		cancel()
		reads := err == nil && readErr == nil
		want := id == events.ServiceGateway || id == events.ServiceRegistry || id == natsauth.Admin
		if reads != want {
			t.Errorf("%s reads the access keys: %v, want %v (open: %v, get: %v)", id, reads, want, err, readErr)
		}
	}
}
