package outbox_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/outbox"
)

// env is a server with the EVENTS stream (Duplicates window as given) and
// a KV bucket "things".
type env struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	window time.Duration
}

func newEnv(t *testing.T, window time.Duration) *env {
	t.Helper()
	s := natstest.Start(t)
	nc, js := natstest.JetStream(t, s)
	def := events.StreamEvents
	def.Duplicates = window
	if _, err := natsutil.EnsureStream(t.Context(), js, def, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := natsutil.EnsureKV(t.Context(), js, events.BucketDef{Name: "things", History: 1}, 1); err != nil {
		t.Fatal(err)
	}
	return &env{nc: nc, js: js, window: window}
}

func (e *env) publisher(t *testing.T) *outbox.Publisher {
	return e.publisherWith(t, outbox.Config{})
}

// publisherWith starts a Publisher with cfg on the env's stream.
func (e *env) publisherWith(t *testing.T, cfg outbox.Config) *outbox.Publisher {
	cfg.JS, cfg.Window = e.js, e.window
	p := outbox.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	p.Start(ctx)
	t.Cleanup(func() { cancel(); p.Wait() })
	return p
}

func event(name string, version int, at time.Time) outbox.Event {
	id := fmt.Sprintf("thing/%s#%d", name, version)
	return outbox.Event{
		Subject: "events.test.thing." + name,
		MsgID:   id,
		At:      at,
		Data:    json.RawMessage(fmt.Sprintf(`{"id":%q,"version":%d}`, outbox.EventID(id), version)),
	}
}

// count returns the messages stored on subject and their Nats-Msg-Ids.
func (e *env) count(t *testing.T, subject string) []string {
	t.Helper()
	st, err := e.js.Stream(t.Context(), events.StreamEvents.Name)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := uint64(1); ; {
		m, err := st.GetMsg(t.Context(), seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return ids
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
		seq = m.Sequence + 1
	}
}

// lookUps counts the stream message reads (the look-ups of Stored) from
// now on; the returned function gives the count so far.
func (e *env) lookUps(t *testing.T) func() int {
	t.Helper()
	// A synchronous subscription queues what it receives before the
	// flush's answer, so a flush makes the count complete.
	sub, err := e.nc.SubscribeSync("$JS.API.STREAM.MSG.GET.>")
	must(t, err)
	must(t, e.nc.Flush())
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() int {
		must(t, e.nc.Flush())
		n, _, err := sub.Pending()
		must(t, err)
		return n
	}
}

// commit writes key with ev attached, as a service's commit does.
func (e *env) commit(t *testing.T, key string, evs ...outbox.Event) {
	t.Helper()
	w := natsutil.KVWrite{Bucket: "things", Key: key, Value: []byte(`{}`), AnyRevision: true, Header: nats.Header{}}
	outbox.Attach(w.Header, evs...)
	if _, err := natsutil.CommitKV(t.Context(), e.nc, []natsutil.KVWrite{w}); err != nil {
		t.Fatal(err)
	}
}

// waitRelayed waits until the relay acknowledged every write.
func (e *env) waitRelayed(t *testing.T) {
	t.Helper()
	natstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		c, err := e.js.Consumer(t.Context(), "KV_things", "outbox")
		if err != nil {
			return err
		}
		info, err := c.Info(t.Context())
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

func TestPublish_SecondPublisherStoresOnce(t *testing.T) {
	e := newEnv(t, 2*time.Minute)
	ev := event("a", 1, time.Now())
	must(t, e.publisher(t).Publish(t.Context(), ev))
	// Another replica (nothing remembered) publishes the same change.
	must(t, e.publisher(t).Publish(t.Context(), ev, ev))
	if ids := e.count(t, ev.Subject); len(ids) != 1 || ids[0] != ev.MsgID {
		t.Fatalf("stored %v, want [%s]", ids, ev.MsgID)
	}
}

// An event published again after the Duplicates window has passed is still
// stored once: the publisher finds the first copy on the subject.
func TestPublish_AfterDuplicatesWindowStoresOnce(t *testing.T) {
	const window = 300 * time.Millisecond
	e := newEnv(t, window)
	ev := event("b", 1, time.Now())
	must(t, e.publisher(t).Publish(t.Context(), ev))
	waitWindowPassed(t, e)
	if time.Since(ev.At) <= window/2 {
		t.Fatal("the event should be old now")
	}
	must(t, e.publisher(t).Publish(t.Context(), ev))
	if ids := e.count(t, ev.Subject); len(ids) != 1 {
		t.Fatalf("stored %v, want one copy", ids)
	}
	// Without the look-up the server would have stored a second copy.
	if _, err := e.js.PublishMsg(t.Context(), &nats.Msg{Subject: ev.Subject, Data: ev.Data}, jetstream.WithMsgID(ev.MsgID)); err != nil {
		t.Fatal(err)
	}
	if ids := e.count(t, ev.Subject); len(ids) != 2 {
		t.Fatalf("a raw publish after the window: stored %v, want two copies", ids)
	}
	// A later version is new and gets published.
	next := event("b", 2, time.Now().Add(-time.Hour))
	must(t, e.publisher(t).Publish(t.Context(), next))
	if ids := e.count(t, ev.Subject); len(ids) != 3 || ids[2] != next.MsgID {
		t.Fatalf("stored %v, want the new version last", ids)
	}
}

// waitWindowPassed publishes a probe id until the stream no longer takes
// it for a duplicate: then any id published before the probe is out of
// the window too.
func waitWindowPassed(t *testing.T, e *env) {
	t.Helper()
	probe := &nats.Msg{Subject: "events.test.probe", Data: []byte("p")}
	if _, err := e.js.PublishMsg(t.Context(), probe, jetstream.WithMsgID("probe")); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		ack, err := e.js.PublishMsg(t.Context(), &nats.Msg{Subject: probe.Subject, Data: probe.Data}, jetstream.WithMsgID("probe"))
		if err != nil {
			return err
		}
		if ack.Duplicate {
			return errors.New("still in the window")
		}
		return nil
	})
}

// A committed write whose fast path never ran is published by the relay,
// once; a write made before the relay's consumer existed is not replayed.
func TestRelay_PublishesUnpublishedCommit(t *testing.T) {
	e := newEnv(t, 2*time.Minute)
	before := event("history", 1, time.Now())
	e.commit(t, "history", before)
	p := e.publisher(t)
	r, err := p.Relay(t.Context(), outbox.RelayConfig{Bucket: "things", HeadersOnly: true, Grace: 10 * time.Millisecond})
	must(t, err)
	t.Cleanup(r.Stop)

	lost := event("c", 1, time.Now())
	e.commit(t, "c", lost) // the "process" dies here: no fast path
	natstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if ids := e.count(t, lost.Subject); len(ids) != 1 {
			return fmt.Errorf("stored %v", ids)
		}
		return nil
	})
	e.waitRelayed(t)
	if ids := e.count(t, lost.Subject); len(ids) != 1 || ids[0] != lost.MsgID {
		t.Fatalf("stored %v, want [%s]", ids, lost.MsgID)
	}
	if ids := e.count(t, before.Subject); len(ids) != 0 {
		t.Fatalf("a fresh relay replayed history: %v", ids)
	}
}

// The relay of another replica takes a write whose fast path did publish:
// the event stays stored once. Then a relay that published but died
// before acknowledging (the write is delivered again) stores nothing new.
func TestRelay_RepublishedEventStoredOnce(t *testing.T) {
	e := newEnv(t, 2*time.Minute)
	// Create the consumer first, then commit and publish on the fast path
	// of a "replica" whose relay is not running.
	r0, err := e.publisher(t).Relay(t.Context(), outbox.RelayConfig{Bucket: "things", HeadersOnly: true})
	must(t, err)
	r0.Stop()
	ev := event("d", 1, time.Now())
	e.commit(t, "d", ev)
	must(t, e.publisher(t).Publish(t.Context(), ev))

	r, err := e.publisher(t).Relay(t.Context(), outbox.RelayConfig{Bucket: "things", HeadersOnly: true, Grace: time.Millisecond, AckWait: time.Second})
	must(t, err)
	e.waitRelayed(t)
	r.Stop()
	if ids := e.count(t, ev.Subject); len(ids) != 1 {
		t.Fatalf("stored %v, want one copy", ids)
	}
}

// A write carrying the event of the version it replaced (carry-forward):
// the relay publishes both, the replaced one only if it is not stored.
func TestRelay_CarriedEvents(t *testing.T) {
	e := newEnv(t, 2*time.Minute)
	p := e.publisher(t)
	r, err := p.Relay(t.Context(), outbox.RelayConfig{Bucket: "things", HeadersOnly: true, Grace: time.Millisecond})
	must(t, err)
	t.Cleanup(r.Stop)
	v1, v2 := event("e", 1, time.Now()), event("e", 2, time.Now())
	// v1's write was replaced before anyone published it: v2 carries it.
	e.commit(t, "e", v2, v1)
	e.waitRelayed(t)
	ids := e.count(t, v1.Subject)
	if len(ids) != 2 || !(ids[0] == v1.MsgID || ids[1] == v1.MsgID) {
		t.Fatalf("stored %v, want both versions", ids)
	}
	// Carried again (another writer did not know): still once each.
	v3 := event("e", 3, time.Now())
	e.commit(t, "e", v3, v2)
	e.waitRelayed(t)
	if ids := e.count(t, v1.Subject); len(ids) != 3 {
		t.Fatalf("stored %v, want three versions once each", ids)
	}
}

func TestAttach_RoundTrip(t *testing.T) {
	h := nats.Header{}
	ev := event("f", 7, time.Now().UTC().Truncate(time.Millisecond))
	ev.Data = json.RawMessage("{\"detail\": {\"reason\": \"line\\nbreak\"}}")
	outbox.Attach(h, ev, outbox.Event{})
	got, err := outbox.Attached(h)
	if err != nil || len(got) != 1 || got[0].MsgID != ev.MsgID || !got[0].At.Equal(ev.At) {
		t.Fatalf("attached: %v %+v", err, got)
	}
	var v map[string]any
	if err := json.Unmarshal(got[0].Data, &v); err != nil {
		t.Fatalf("data: %v", err)
	}
	if outbox.EventID("x") != outbox.EventID("x") || outbox.EventID("x") == outbox.EventID("y") {
		t.Fatal("event ids are not derived from the message id")
	}
	// A version-4-shaped UUID of the message id's SHA-256.
	b := sha256.Sum256([]byte("arn:aws:ecs:us-east-1:000000000000:task/c/1#3"))
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	want := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	if got := outbox.EventID("arn:aws:ecs:us-east-1:000000000000:task/c/1#3"); got != want {
		t.Fatalf("event id %s, want %s", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Ensure (the relay's and carried events' path) looks before it publishes:
// a plain subscriber of the subject sees one copy, not a dropped duplicate.
func TestEnsure_NoSecondCopyForSubscribers(t *testing.T) {
	e := newEnv(t, 2*time.Minute)
	ev := event("g", 1, time.Now())
	got := make(chan *nats.Msg, 16)
	sub, err := e.nc.ChanSubscribe("events.test.>", got)
	must(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	must(t, e.publisher(t).Publish(t.Context(), ev))
	must(t, e.publisher(t).Ensure(t.Context(), ev))
	missing := event("h", 1, time.Now())
	must(t, e.publisher(t).Ensure(t.Context(), missing))
	var subjects []string
	for len(subjects) < 2 {
		select {
		case m := <-got:
			subjects = append(subjects, m.Subject)
		case <-time.After(10 * time.Second):
			t.Fatalf("received %v", subjects)
		}
	}
	if subjects[0] != ev.Subject || subjects[1] != missing.Subject {
		t.Fatalf("subscriber saw %v, want one copy of each event", subjects)
	}
	if ids := e.count(t, missing.Subject); len(ids) != 1 {
		t.Fatalf("stored %v", ids)
	}
}

// Replicas sharing Config.Share: what one published counts as seen by the
// others, so their relay acknowledges its write without a look-up. A
// Publisher that does not listen looks the event up.
func TestShare_OtherReplicasSkipLookUps(t *testing.T) {
	e := newEnv(t, 2*time.Minute)
	const share = "berth.internal.test.EventsStored"
	a := e.publisherWith(t, outbox.Config{Share: share})
	b := e.publisherWith(t, outbox.Config{Share: share})
	alone := e.publisher(t)
	// b listens once its Run subscribed: publish until it hears one.
	heard := hearing(t, a, b, "warm")
	if alone.Seen(heard) {
		t.Fatal("a Publisher without Share saw another's event")
	}

	lookups := e.lookUps(t)
	// The relay's consumer exists before the writes (it never replays).
	r0, err := a.Relay(t.Context(), outbox.RelayConfig{Bucket: "things", HeadersOnly: true})
	must(t, err)
	r0.Stop()
	// relayed commits a write with an event a publishes, has p's relay
	// take it, and returns the look-ups made meanwhile.
	relayed := func(p *outbox.Publisher, key string) int {
		t.Helper()
		ev := event(key, 1, time.Now())
		e.commit(t, key, ev)
		must(t, a.Publish(t.Context(), ev))
		if p == b {
			natstest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
				if !b.Seen(ev.MsgID) {
					return fmt.Errorf("b has not heard of %s", ev.MsgID)
				}
				return nil
			})
		}
		before := lookups()
		r, err := p.Relay(t.Context(), outbox.RelayConfig{Bucket: "things", HeadersOnly: true, Grace: time.Millisecond})
		must(t, err)
		e.waitRelayed(t)
		r.Stop()
		n := lookups() - before
		if ids := e.count(t, ev.Subject); len(ids) != 1 {
			t.Fatalf("stored %v, want one copy", ids)
		}
		return n
	}
	if n := relayed(b, "shared"); n != 0 {
		t.Fatalf("b's relay looked up %d events another replica had shared", n)
	}
	if n := relayed(alone, "unshared"); n == 0 {
		t.Fatal("the relay of a Publisher that does not listen looked nothing up")
	}
}

// Share messages that are not a whole number of hashes are ignored.
func TestShare_MalformedIgnored(t *testing.T) {
	e := newEnv(t, 2*time.Minute)
	const share = "berth.internal.test.EventsStored"
	p := e.publisherWith(t, outbox.Config{Share: share})
	must(t, e.nc.Publish(share, []byte("1234567")))
	// Heard once a well-formed message from another sender arrives.
	hearing(t, e.publisherWith(t, outbox.Config{Share: share}), p, "after")
}

// hearing publishes events from a until b has heard of one of them (b
// listens once its Run subscribed), and returns that event's id.
func hearing(t *testing.T, a, b *outbox.Publisher, name string) string {
	t.Helper()
	var sent []string
	var heard string
	natstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, id := range sent {
			if b.Seen(id) {
				heard = id
				return nil
			}
		}
		ev := event(name, len(sent)+1, time.Now())
		must(t, a.Publish(t.Context(), ev))
		sent = append(sent, ev.MsgID)
		return fmt.Errorf("no event of %d heard", len(sent))
	})
	return heard
}
