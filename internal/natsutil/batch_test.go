package natsutil_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

func TestCommitKV_AllOrNothing(t *testing.T) {
	s := natstest.Start(t)
	nc, js := natstest.JetStream(t, s)
	ctx := t.Context()
	def := events.BucketDef{Name: "batchtest", History: 1, AllowAtomic: true}
	kv, err := natsutil.EnsureKV(ctx, js, def, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Ensuring twice is harmless.
	if _, err := natsutil.EnsureKV(ctx, js, def, 1); err != nil {
		t.Fatal(err)
	}
	rev, err := natsutil.CommitKV(ctx, nc, []natsutil.KVWrite{
		{Bucket: def.Name, Key: "a", Value: []byte("1")},
		{Bucket: def.Name, Key: "b", Value: []byte("1")},
	})
	if err != nil {
		t.Fatalf("first batch: %v", err)
	}
	ea, err := kv.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if rev != ea.Revision()+1 {
		t.Fatalf("returned revision %d, a at %d", rev, ea.Revision())
	}
	// A batch with one stale revision changes nothing.
	_, err = natsutil.CommitKV(ctx, nc, []natsutil.KVWrite{
		{Bucket: def.Name, Key: "a", Value: []byte("2"), Revision: ea.Revision()},
		{Bucket: def.Name, Key: "b", Value: []byte("2"), Revision: 999},
	})
	if !errors.Is(err, natsutil.ErrConflict) || !natsutil.IsConflict(err) {
		t.Fatalf("stale batch: got %v, want ErrConflict", err)
	}
	for _, k := range []string{"a", "b"} {
		e, err := kv.Get(ctx, k)
		if err != nil || string(e.Value()) != "1" {
			t.Fatalf("%s after failed batch: %v %q", k, err, e.Value())
		}
	}
	// Create semantics: revision 0 on an existing key conflicts.
	if _, err := natsutil.CommitKV(ctx, nc, []natsutil.KVWrite{{Bucket: def.Name, Key: "a", Value: []byte("x")}}); !errors.Is(err, natsutil.ErrConflict) {
		t.Fatalf("create on existing key: %v", err)
	}
	// A delete in a batch leaves a tombstone KV readers understand.
	eb, _ := kv.Get(ctx, "b")
	if _, err := natsutil.CommitKV(ctx, nc, []natsutil.KVWrite{
		{Bucket: def.Name, Key: "a", Value: []byte("3"), Revision: ea.Revision()},
		{Bucket: def.Name, Key: "b", Delete: true, Revision: eb.Revision()},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "b"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("b after delete: %v", err)
	}
}

// TestCommitKV_WaitsForLeader: a stream with no leader has no responders
// (here the bucket does not exist yet, as during an election nothing listens
// on its subjects); CommitKV sends the batch again until one answers, and
// the writes are stored once.
func TestCommitKV_WaitsForLeader(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.JetStream(t, s)
	writer := natstest.Connect(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	def := events.BucketDef{Name: "lateleader", History: 5, AllowAtomic: true}
	type result struct {
		rev uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		rev, err := natsutil.CommitKV(ctx, writer, []natsutil.KVWrite{
			{Bucket: def.Name, Key: "a", Value: []byte("1")},
			{Bucket: def.Name, Key: "b", Value: []byte("1")},
		})
		done <- result{rev, err}
	}()
	// Two attempts (two messages each) went unanswered before the stream
	// exists.
	natstest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := writer.Stats().OutMsgs; n < 4 {
			return fmt.Errorf("%d messages sent", n)
		}
		return nil
	})
	kv, err := natsutil.EnsureKV(ctx, js, def, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("commit: %v", r.err)
	}
	for _, key := range []string{"a", "b"} {
		hist, err := kv.History(ctx, key)
		if err != nil {
			t.Fatalf("history of %s: %v", key, err)
		}
		if len(hist) != 1 || string(hist[0].Value()) != "1" {
			t.Fatalf("%s stored %d times", key, len(hist))
		}
	}
	if eb, _ := kv.Get(ctx, "b"); eb == nil || eb.Revision() != r.rev {
		t.Fatalf("returned revision %d, b at %v", r.rev, eb)
	}
}

// TestCommitKV_NoLeaderUntilDeadline: with no stream ever answering,
// CommitKV gives up when ctx ends, with the no-responders error.
func TestCommitKV_NoLeaderUntilDeadline(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := natsutil.CommitKV(ctx, nc, []natsutil.KVWrite{{Bucket: "nobucket", Key: "a", Value: []byte("1")}})
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("err = %v, want no responders", err)
	}
}
