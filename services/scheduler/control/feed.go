package control

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// subjFeed is where every replica announces what it committed to the state
// bucket (feed digests), and where every replica, itself included, hears it.
var subjFeed = events.SubjInternal(events.ServiceScheduler, "feed")

// feedEntry is one write of a commit as the caches need it: a record's key,
// its new revision, and its value (none for a delete; a task's summary,
// from a digest), or for a placement write of an instance record the delta
// from the revision it replaced (instdelta.go).
type feedEntry struct {
	key   string
	rev   uint64
	del   bool
	val   []byte
	delta []byte
}

// The kinds of digest entries.
const (
	entryValue  = 0
	entryDelete = 1
	entryDelta  = 2
)

// digest is what a commit announces: the stream sequences first..last it
// occupies (every write of the commit, in order) and, among them, the
// instance and task records (the writes the caches follow).
type digest struct {
	first, last uint64
	entries     []feedEntry
}

// digestVersion starts every encoded digest (2: entries may be deltas).
const digestVersion = 2

// maxDigestBytes bounds one digest message (a large commit is announced in
// several, each over its own part of the sequences).
const maxDigestBytes = 1 << 20

// encodeDigests returns the digests of a commit whose first write was stored
// at sequence first: uvarints and raw bytes, no JSON (the values are records
// in JSON already). A write with a form in forms is announced by that form
// rather than by its value. A first pass cuts the writes into digests of at
// most about limit bytes, so each digest is allocated once, at its size (a
// round can carry a megabyte of records).
func encodeDigests(first uint64, writes []natsutil.KVWrite, forms map[int]feedForm, limit int) [][]byte {
	if len(writes) == 0 {
		return nil
	}
	type part struct{ start, end, n, size int }
	var parts []part
	cur := part{}
	for i, w := range writes {
		if !recordKey(w.Key) {
			continue
		}
		kind, payload := entryOf(i, w, forms)
		size := entrySize(i-cur.start, w.Key, kind, payload)
		if cur.size > 0 && cur.size+size > limit {
			cur.end = i
			parts = append(parts, cur)
			cur = part{start: i}
			size = entrySize(0, w.Key, kind, payload)
		}
		cur.size += size
		cur.n++
	}
	cur.end = len(writes)
	parts = append(parts, cur)
	out := make([][]byte, 0, len(parts))
	for _, p := range parts {
		b := make([]byte, 0, 1+3*binary.MaxVarintLen64+p.size)
		b = append(b, digestVersion)
		b = binary.AppendUvarint(b, first+uint64(p.start))
		b = binary.AppendUvarint(b, uint64(p.end-p.start-1))
		b = binary.AppendUvarint(b, uint64(p.n))
		for i := p.start; i < p.end; i++ {
			if w := writes[i]; recordKey(w.Key) {
				kind, payload := entryOf(i, w, forms)
				b = appendEntry(b, i-p.start, w.Key, kind, payload)
			}
		}
		out = append(out, b)
	}
	return out
}

// entryOf returns the kind of write i's digest entry and what follows its
// key: the value or the form announced instead, or nothing for a delete.
func entryOf(i int, w natsutil.KVWrite, forms map[int]feedForm) (byte, []byte) {
	f, ok := forms[i]
	switch {
	case w.Delete:
		return entryDelete, nil
	case !ok:
		return entryValue, w.Value
	case f.delta:
		return entryDelta, f.payload
	}
	return entryValue, f.payload
}

// appendEntry appends one write of a digest, at offset off from the
// digest's first sequence; entrySize is how many bytes that takes.
func appendEntry(b []byte, off int, key string, kind byte, payload []byte) []byte {
	b = binary.AppendUvarint(b, uint64(off))
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	if kind != entryDelete {
		b = binary.AppendUvarint(b, uint64(len(payload)))
		b = append(b, payload...)
	}
	return b
}

func entrySize(off int, key string, kind byte, payload []byte) int {
	n := uvarintLen(uint64(off)) + 1 + uvarintLen(uint64(len(key))) + len(key)
	if kind != entryDelete {
		n += uvarintLen(uint64(len(payload))) + len(payload)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

var errBadDigest = errors.New("control: malformed feed digest")

// decodeDigest parses an encoded digest. Entry values alias b.
func decodeDigest(b []byte) (*digest, error) {
	if len(b) == 0 || b[0] != digestVersion {
		return nil, errBadDigest
	}
	r := digestReader{b: b[1:]}
	first, span, n := r.uvarint(), r.uvarint(), r.uvarint()
	d := &digest{first: first, last: first + span}
	if n > span+1 {
		return nil, errBadDigest
	}
	d.entries = make([]feedEntry, 0, n)
	for range n {
		off := r.uvarint()
		kind := r.byte()
		e := feedEntry{key: string(r.bytes(r.uvarint())), rev: first + off}
		switch kind {
		case entryDelete:
			e.del = true
		case entryValue:
			// A copy: a cached record must not keep the whole digest.
			e.val = bytes.Clone(r.bytes(r.uvarint()))
		case entryDelta:
			e.delta = r.bytes(r.uvarint()) // decoded, not kept
		default:
			return nil, errBadDigest
		}
		if r.bad || off > span {
			return nil, errBadDigest
		}
		d.entries = append(d.entries, e)
	}
	if r.bad {
		return nil, errBadDigest
	}
	return d, nil
}

type digestReader struct {
	b   []byte
	bad bool
}

func (r *digestReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *digestReader) byte() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *digestReader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// feed keeps the cache current with every write to the state bucket, in the
// order of the stream, without each replica reading the stream.
//
// Each replica announces each of its commits once, as digests on subjFeed
// that carry the records written; every replica applies the digests it hears
// in sequence order, holding back one that arrives before an earlier one.
// A hole (a digest lost, or a replica that died between its commit and its
// digest; the stream's last sequence shows holes at the end) that stays
// open for feedGrace is read from the stream itself. So each replica reads
// one message per commit of any replica, not one JetStream delivery per
// record: on one machine that was most of the CPU a replica added
// (BENCHMARKS.md, eighth round of issue 16).
type feed struct {
	stream jetstream.Stream
	bucket string
	// apply folds an entry into the cache; false means a delta whose base
	// the cache does not hold, and the key is read again (refetch).
	apply func(feedEntry) bool
	log   *slog.Logger
	grace time.Duration

	mu       sync.Mutex
	started  bool
	applied  uint64    // every sequence up to here is applied
	held     []*digest // digests beyond applied+1, by first sequence
	known    uint64    // the highest sequence the stream is known to hold
	gapSince time.Time // when the hole after applied was first seen
	refetch  []string  // keys whose delta could not be applied

	fetches atomic.Int64 // holes read from the stream
}

// feedGrace is how long a hole may stay open before it is read from the
// stream; feedTail how often the stream's last sequence is read.
const (
	feedGrace = 250 * time.Millisecond
	feedTail  = time.Second
)

// offer takes one digest.
func (f *feed) offer(d *digest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.known = max(f.known, d.last)
	if f.started && d.last <= f.applied {
		return
	}
	i, _ := slices.BinarySearchFunc(f.held, d.first, func(h *digest, first uint64) int { return cmp.Compare(h.first, first) })
	f.held = slices.Insert(f.held, i, d)
	if f.started {
		f.drainLocked()
	}
}

// start begins applying, after the cache was loaded from the stream up to
// at least sequence loaded: held digests beyond it apply in order.
func (f *feed) start(loaded uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started, f.applied = true, loaded
	f.known = max(f.known, loaded)
	f.drainLocked()
}

// drainLocked applies the held digests that follow on from applied. Lock held.
func (f *feed) drainLocked() {
	before := f.applied
	for len(f.held) > 0 && f.held[0].first <= f.applied+1 {
		d := f.held[0]
		f.held = f.held[1:]
		f.applyLocked(d.entries, d.last)
	}
	f.noteGapLocked(f.applied > before)
}

// applyLocked applies the entries beyond applied, up to last. Lock held.
func (f *feed) applyLocked(entries []feedEntry, last uint64) {
	if last <= f.applied {
		return
	}
	for _, e := range entries {
		if e.rev > f.applied && e.rev <= last && !f.apply(e) {
			f.log.Warn("feed: an instance delta without its base; reading the record", "key", e.key, "revision", e.rev)
			f.refetch = append(f.refetch, e.key)
		}
	}
	f.applied = last
}

// noteGapLocked starts or ends the clock of the hole after applied: it
// starts again whenever applied moved (under load a new hole often opens
// before the last one closes; each gets feedGrace). Lock held.
func (f *feed) noteGapLocked(progress bool) {
	switch {
	case len(f.held) == 0 && f.known <= f.applied:
		f.gapSince = time.Time{}
	case progress || f.gapSince.IsZero():
		f.gapSince = time.Now()
	}
}

// hole returns the sequences to read from the stream, once a hole has been
// open for feedGrace.
func (f *feed) hole(now time.Time) (from, to uint64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started || f.gapSince.IsZero() || now.Sub(f.gapSince) < f.grace {
		return 0, 0, false
	}
	to = f.known
	if len(f.held) > 0 {
		to = f.held[0].first - 1
	}
	if to <= f.applied {
		return 0, 0, false
	}
	return f.applied + 1, to, true
}

// filled applies what was read from the stream for from..to.
func (f *feed) filled(entries []feedEntry, to uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applyLocked(entries, to)
	f.gapSince = time.Time{}
	f.drainLocked()
}

// saw records that the stream holds sequences up to last.
func (f *feed) saw(last uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if last > f.known {
		f.known = last
		f.noteGapLocked(false)
	}
}

// subscribe hears every replica's digests (before the cache is loaded: they
// are held until start).
func (f *feed) subscribe(nc *nats.Conn) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(subjFeed, func(m *nats.Msg) {
		d, err := decodeDigest(m.Data)
		if err != nil {
			f.log.Warn("feed digest skipped; the stream fills its place", "err", err)
			return
		}
		f.offer(d)
	})
	if err != nil {
		return nil, fmt.Errorf("control: subscribe %s: %w", subjFeed, err)
	}
	// Unbounded by count: digests are few and large.
	if err := sub.SetPendingLimits(-1, 256<<20); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return sub, nil
}

// run reads the holes from the stream until ctx ends, and reads the stream's
// last sequence every feedTail (a hole at the end shows no later digest).
func (f *feed) run(ctx context.Context) {
	tick := time.NewTicker(f.grace / 2)
	defer tick.Stop()
	lastTail := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.Sub(lastTail) >= feedTail {
				lastTail = now
				if info, err := f.stream.Info(ctx); err == nil {
					f.saw(info.State.LastSeq)
				} else if ctx.Err() == nil {
					f.log.Warn("read the state stream's last sequence", "err", err)
				}
			}
			f.reread(ctx)
			from, to, ok := f.hole(now)
			if !ok {
				continue
			}
			entries, err := f.read(ctx, from, to)
			if err != nil {
				if ctx.Err() == nil {
					f.log.Warn("read a hole in the feed from the stream; retrying", "from", from, "to", to, "err", err)
				}
				continue
			}
			f.fetches.Add(1)
			f.filled(entries, to)
		}
	}
}

// reread reads the latest version of each key queued for refetch and
// applies it; a key it could not read stays queued.
func (f *feed) reread(ctx context.Context) {
	f.mu.Lock()
	keys := f.refetch
	f.refetch = nil
	f.mu.Unlock()
	for i, key := range keys {
		m, err := f.stream.GetLastMsgForSubject(ctx, natsutil.KVSubject(f.bucket, key))
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			if ctx.Err() == nil {
				f.log.Warn("feed: read a record again; retrying", "key", key, "err", err)
			}
			f.mu.Lock()
			f.refetch = append(f.refetch, keys[i:]...)
			f.mu.Unlock()
			return
		}
		if m == nil {
			continue // purged: nothing to apply
		}
		f.mu.Lock()
		f.apply(feedEntry{key: key, rev: m.Sequence, del: kvDeleted(m.Header), val: m.Data})
		f.mu.Unlock()
	}
}

// read returns the followed records stored at sequences from..to, with a
// pull consumer of its own that it deletes after.
func (f *feed) read(ctx context.Context, from, to uint64) ([]feedEntry, error) {
	prefix := natsutil.KVSubject(f.bucket, "")
	cons, err := f.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     prefix + recordsFilter,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: 10 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.stream.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name) }()
	var out []feedEntry
	for left := cons.CachedInfo().NumPending; left > 0; {
		batch, err := cons.Fetch(int(min(left, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			left--
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			if md.Sequence.Stream > to {
				return out, nil
			}
			if key := strings.TrimPrefix(m.Subject(), prefix); recordKey(key) {
				out = append(out, feedEntry{key: key, rev: md.Sequence.Stream, del: kvDeleted(m.Headers()), val: m.Data()})
			}
			if md.Sequence.Stream == to {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if n == 0 {
			// The rest was replaced or deleted since the consumer counted it.
			return out, nil
		}
	}
	return out, nil
}
