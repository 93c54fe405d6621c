package control

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

func TestDigest_RoundTrip(t *testing.T) {
	writes := []natsutil.KVWrite{
		{Key: "inst.c.i1", Value: []byte(`{"id":"i1"}`)},
		{Key: "asg.c.i1.t1", Value: []byte(`{"not":"followed"}`)},
		{Key: "task.c.t1", Value: bytes.Repeat([]byte("x"), 300)},
		{Key: "tok.c.h", Value: []byte(`{}`)},
		{Key: "task.c.t2", Delete: true},
		{Key: "inst.c.i2", Value: bytes.Repeat([]byte("y"), 300)},
		{Key: "inst.c.i3", Value: bytes.Repeat([]byte("z"), 300)},
	}
	// The feed announces t1 by its summary and i3's placement write by its
	// delta.
	forms := map[int]feedForm{2: {payload: []byte(`{"id":"t1"}`)}, 6: {delta: true, payload: []byte(`{"base":90}`)}}
	for _, limit := range []int{1 << 20, 200} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			chunks := encodeDigests(100, writes, forms, limit)
			if limit < 1<<20 && len(chunks) < 2 {
				t.Fatalf("%d chunks under a %d-byte limit, want several", len(chunks), limit)
			}
			next := uint64(100)
			var got []feedEntry
			for _, c := range chunks {
				d, err := decodeDigest(c)
				if err != nil {
					t.Fatal(err)
				}
				if d.first != next {
					t.Fatalf("chunk starts at %d, want %d (chunks cover every sequence once)", d.first, next)
				}
				next = d.last + 1
				got = append(got, d.entries...)
			}
			if next != 107 {
				t.Fatalf("chunks end at %d, want 106", next-1)
			}
			want := []feedEntry{
				{key: "inst.c.i1", rev: 100, val: writes[0].Value},
				{key: "task.c.t1", rev: 102, val: forms[2].payload},
				{key: "task.c.t2", rev: 104, del: true},
				{key: "inst.c.i2", rev: 105, val: writes[5].Value},
				{key: "inst.c.i3", rev: 106, delta: forms[6].payload},
			}
			if len(got) != len(want) {
				t.Fatalf("entries %+v, want %+v", got, want)
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.key != w.key || g.rev != w.rev || g.del != w.del || !bytes.Equal(g.val, w.val) || !bytes.Equal(g.delta, w.delta) {
					t.Errorf("entry %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// TestDigest_NoRecords: a commit that writes no followed record (only
// assignments, say) still gets one digest, with no entries, so the feed
// knows its sequences are applied.
func TestDigest_NoRecords(t *testing.T) {
	chunks := encodeDigests(7, []natsutil.KVWrite{{Key: "asg.c.i1.t1", Value: []byte(`{}`)}, {Key: "tok.c.h", Value: []byte(`{}`)}}, nil, 1<<20)
	if len(chunks) != 1 {
		t.Fatalf("%d digests, want 1", len(chunks))
	}
	d, err := decodeDigest(chunks[0])
	if err != nil {
		t.Fatal(err)
	}
	if d.first != 7 || d.last != 8 || len(d.entries) != 0 {
		t.Fatalf("digest %d..%d with %d entries, want 7..8 with none", d.first, d.last, len(d.entries))
	}
	if encodeDigests(7, nil, nil, 1<<20) != nil {
		t.Fatal("a commit of no writes has a digest")
	}
}

func TestDigest_Malformed(t *testing.T) {
	good := encodeDigests(7, []natsutil.KVWrite{{Key: "task.c.t1", Value: []byte(`{"id":"t1"}`)}}, nil, 1<<20)[0]
	badKind := bytes.Clone(good)
	badKind[5] = 3 // after version, first, span, count and the offset
	for name, b := range map[string][]byte{
		"empty":        nil,
		"version":      append([]byte{9}, good[1:]...),
		"truncated":    good[:len(good)-3],
		"header only":  good[:3],
		"more entries": append(append([]byte{digestVersion}, 7, 0, 5), good[4:]...),
		"entry kind":   badKind,
	} {
		if d, err := decodeDigest(b); err == nil {
			t.Errorf("%s: decoded %+v, want an error", name, d)
		}
	}
}

// testFeed returns a feed that records what it applies.
func testFeed(t *testing.T) (*feed, *[]uint64) {
	t.Helper()
	var applied []uint64
	f := &feed{grace: 50 * time.Millisecond, log: slog.New(slog.DiscardHandler), apply: func(e feedEntry) bool {
		applied = append(applied, e.rev)
		return e.delta == nil || string(e.delta) != "unheld"
	}}
	return f, &applied
}

func dig(first, last uint64, revs ...uint64) *digest {
	d := &digest{first: first, last: last}
	for _, r := range revs {
		d.entries = append(d.entries, feedEntry{key: fmt.Sprintf("task.c.t%d", r), rev: r})
	}
	return d
}

func TestFeed_AppliesInStreamOrder(t *testing.T) {
	f, applied := testFeed(t)
	f.offer(dig(5, 9, 6, 9)) // before the load: held
	f.offer(dig(10, 12, 11))
	f.start(7) // loaded up to 7: 6 is not applied again
	if want := []uint64{9, 11}; fmt.Sprint(*applied) != fmt.Sprint(want) {
		t.Fatalf("applied %v, want %v", *applied, want)
	}
	f.offer(dig(16, 20, 16, 20)) // after a hole at 13..15: held
	f.offer(dig(10, 12, 11))     // again: ignored
	if want := []uint64{9, 11}; fmt.Sprint(*applied) != fmt.Sprint(want) {
		t.Fatalf("applied %v before the hole closed, want %v", *applied, want)
	}
	f.offer(dig(13, 15, 14))
	f.offer(dig(18, 22, 18, 19, 21)) // overlaps what was applied: only 21 is new
	if want := []uint64{9, 11, 14, 16, 20, 21}; fmt.Sprint(*applied) != fmt.Sprint(want) {
		t.Fatalf("applied %v, want %v", *applied, want)
	}
	if _, _, ok := f.hole(time.Now().Add(time.Hour)); ok {
		t.Fatal("a hole with every sequence applied")
	}
}

func TestFeed_HoleReadAfterGrace(t *testing.T) {
	f, applied := testFeed(t)
	f.start(10)
	f.offer(dig(14, 15, 15))
	now := time.Now()
	if _, _, ok := f.hole(now); ok {
		t.Fatal("hole read before its grace")
	}
	from, to, ok := f.hole(now.Add(f.grace))
	if !ok || from != 11 || to != 13 {
		t.Fatalf("hole %d..%d (%v), want 11..13", from, to, ok)
	}
	f.filled([]feedEntry{{key: "task.c.t12", rev: 12}}, 13)
	if want := []uint64{12, 15}; fmt.Sprint(*applied) != fmt.Sprint(want) {
		t.Fatalf("applied %v, want %v", *applied, want)
	}
	// A hole at the end: the stream holds more than any digest told.
	f.saw(18)
	if _, _, ok := f.hole(time.Now()); ok {
		t.Fatal("tail hole read before its grace")
	}
	from, to, ok = f.hole(time.Now().Add(f.grace))
	if !ok || from != 16 || to != 18 {
		t.Fatalf("tail hole %d..%d (%v), want 16..18", from, to, ok)
	}
	// Its digest comes late, after all: nothing left to read.
	f.offer(dig(16, 18, 17))
	if _, _, ok := f.hole(time.Now().Add(time.Hour)); ok {
		t.Fatal("hole still open after its digest came")
	}
	if want := []uint64{12, 15, 17}; fmt.Sprint(*applied) != fmt.Sprint(want) {
		t.Fatalf("applied %v, want %v", *applied, want)
	}
}

// TestFeed_EachHoleGetsItsGrace: under load one hole often opens before the
// last closed; progress restarts the clock, so no read is made for holes
// that each close in time.
func TestFeed_EachHoleGetsItsGrace(t *testing.T) {
	f, _ := testFeed(t)
	f.start(0)
	f.offer(dig(2, 2))
	f.gapSince = time.Now().Add(-time.Hour) // the first hole is old
	f.offer(dig(4, 4))
	f.offer(dig(1, 1)) // closes the first hole; 3 is missing now
	if _, _, ok := f.hole(time.Now()); ok {
		t.Fatal("a new hole read at once: its clock did not restart")
	}
}

// TestFeed_DeltaWithoutBaseIsReadAgain: an entry the cache cannot apply (a
// delta whose base it does not hold) queues its key for reading.
func TestFeed_DeltaWithoutBaseIsReadAgain(t *testing.T) {
	f, applied := testFeed(t)
	f.start(0)
	d := dig(1, 2, 1)
	d.entries = append(d.entries, feedEntry{key: "inst.c.i2", rev: 2, delta: []byte("unheld")})
	f.offer(d)
	if want := []uint64{1, 2}; fmt.Sprint(*applied) != fmt.Sprint(want) {
		t.Fatalf("applied %v, want %v", *applied, want)
	}
	if fmt.Sprint(f.refetch) != "[inst.c.i2]" {
		t.Fatalf("queued %v to read again, want [inst.c.i2]", f.refetch)
	}
}

// TestFeed_RereadAppliesTheLatestRecord: a key queued for refetch is read
// from the stream, its latest version (or its delete) applied whole.
func TestFeed_RereadAppliesTheLatestRecord(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.JetStream(t, s)
	kv, err := natsutil.EnsureKV(t.Context(), js, events.BucketDef{Name: "state", History: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(t.Context(), "KV_state")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{`{"v":1}`, `{"v":2}`} {
		if _, err := kv.Put(t.Context(), "inst.c.i1", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(t.Context(), "inst.c.i2", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(t.Context(), "inst.c.i2"); err != nil {
		t.Fatal(err)
	}
	var got []feedEntry
	f := &feed{stream: st, bucket: "state", log: slog.New(slog.DiscardHandler), apply: func(e feedEntry) bool {
		got = append(got, e)
		return true
	}}
	f.refetch = []string{"inst.c.i1", "inst.c.i2", "inst.c.never"}
	f.reread(t.Context())
	if len(got) != 2 || len(f.refetch) != 0 {
		t.Fatalf("applied %+v, still queued %v; want i1 and i2 applied, nothing queued", got, f.refetch)
	}
	if g := got[0]; g.key != "inst.c.i1" || g.rev != 2 || g.del || string(g.val) != `{"v":2}` || g.delta != nil {
		t.Fatalf("i1: %+v, want its second version at revision 2", g)
	}
	if g := got[1]; g.key != "inst.c.i2" || g.rev != 4 || !g.del {
		t.Fatalf("i2: %+v, want its delete at revision 4", g)
	}
}
