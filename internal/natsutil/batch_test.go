package natsutil_test

import (
	"errors"
	"testing"

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
