package registry

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/berth-project/berth/events"
)

// The registry writes and reads its part objects itself, in the Object
// Store's format (chunks on $O.<bucket>.C.<nuid>, a rolled-up ObjectInfo on
// $O.<bucket>.M.<base64url(name)>), so the parts stay ordinary objects that
// ObjectStore.List, GetInfo, Delete and `nats object` understand. Doing it
// here avoids what jetstream's Put and Get cost per object: a JetStream
// context and reply subscription per Put, an unbounded window of async
// publishes, an ordered consumer (created and deleted on the server) per
// Get, a pipe and a second SHA-256 pass on every read.
//
// Writes keep a bounded window of chunk publishes. Reads are batched direct
// gets ($JS.API.DIRECT.GET with next_by_subj and batch), which need no
// consumer: one request per part, answered with its chunks and an
// end-of-batch marker. A blob record lists each part's chunk subject and
// count, so a read needs no metadata lookup either. Reads do not re-hash:
// the content was verified when it was uploaded, and the file store
// checksums every message. Parts carry an Object Store digest only when it
// costs nothing (see writeObject), so ObjectStore.Get verifies only those.

func (st *store) chunkSubject(id string) string {
	return "$O." + events.ObjectStoreBlobs.Name + ".C." + id
}

func (st *store) metaSubject(name string) string {
	return "$O." + events.ObjectStoreBlobs.Name + ".M." + base64.URLEncoding.EncodeToString([]byte(name))
}

// writeObject stores data as the object name, retrying a failed attempt
// under a fresh chunk subject (a full ingest buffer answers 429). sum is the
// SHA-256 of data when the caller has it for free; otherwise the object
// carries no digest. On this kind of machine (no SHA extensions) SHA-256
// runs at 400-500 MB/s, and a second pass over every byte would halve the
// upload rate: the registry itself never needs it (the blob's own digest
// was verified over every byte, and the file store checksums each
// message), only ObjectStore.Get verifies it, so such parts are read with
// the registry's reader.
// It returns the part as a blob record lists it.
func (st *store) writeObject(ctx context.Context, name string, data, sum []byte) (part, error) {
	return st.finishObject(ctx, st.publishObject(ctx, name, nuid.Next(), data, sum), data, sum)
}

// finishObject waits for an object published with publishObject, and
// stores it again under a fresh chunk subject while that fails.
func (st *store) finishObject(ctx context.Context, po *pendingObject, data, sum []byte) (part, error) {
	name := po.name
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			po = st.publishObject(ctx, name, nuid.Next(), data, sum)
		}
		var seqs []uint64
		if seqs, err = po.wait(); err == nil {
			return po.part(seqs), nil
		}
		if ctx.Err() != nil {
			break
		}
		st.log.Warn("part write failed, retrying", "object", name, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(200*(attempt+1)) * time.Millisecond):
		}
	}
	return part{}, fmt.Errorf("store part %s: %w", name, err)
}

// pendingObject is an object whose messages are published and not all
// acknowledged yet.
type pendingObject struct {
	st     *store
	ctx    context.Context
	cancel context.CancelFunc
	name   string
	id     string
	size   int
	chunks []jetstream.PubAckFuture
	meta   jetstream.PubAckFuture
	err    error // publishing failed
	// settled is how many of the futures (chunks, then meta) wait has
	// taken the answer of.
	settled int
}

// part is the object as a blob record lists it, from its chunks' sequences.
func (po *pendingObject) part(seqs []uint64) part {
	p := part{Name: po.name, Size: int64(po.size), ID: po.id, Chunks: len(seqs)}
	if len(seqs) > 0 {
		p.Seq, p.Run = seqs[0], true
		for i, s := range seqs {
			if s != seqs[0]+uint64(i) {
				p.Run, p.Seqs = false, seqs
				break
			}
		}
	}
	return p
}

// publishObject publishes data's chunks and the object's metadata without
// waiting for any acknowledgement (wait does), so that storing one part
// overlaps with publishing the next.
func (st *store) publishObject(ctx context.Context, name, id string, data, sum []byte) *pendingObject {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	po := &pendingObject{st: st, ctx: ctx, cancel: cancel, name: name, id: id, size: len(data)}
	size := st.chunkSize
	subj := st.chunkSubject(id)
	for off := 0; off < len(data); off += size {
		f, err := st.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: data[off:min(off+size, len(data))]})
		if err != nil {
			po.err = err
			return po
		}
		po.chunks = append(po.chunks, f)
	}
	info := jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: uint32(size)}},
		Bucket:     events.ObjectStoreBlobs.Name,
		NUID:       id,
		Size:       uint64(len(data)),
		Chunks:     uint32(len(po.chunks)),
	}
	if sum != nil {
		info.Digest = "SHA-256=" + base64.URLEncoding.EncodeToString(sum)
	} else if len(data) == 0 {
		info.Digest = "SHA-256=" + base64.URLEncoding.EncodeToString(emptySHA256[:])
	}
	raw, err := json.Marshal(info)
	if err != nil {
		po.err = err
		return po
	}
	m := nats.NewMsg(st.metaSubject(name))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	m.Data = raw
	po.meta, po.err = st.js.PublishMsgAsync(m)
	return po
}

// wait waits for every acknowledgement and returns the chunks' sequences.
// On failure it drops whatever landed (chunks and metadata).
func (po *pendingObject) wait() ([]uint64, error) {
	defer po.cancel()
	if po.err != nil {
		return nil, po.fail(po.err)
	}
	seqs := make([]uint64, len(po.chunks))
	for i, f := range append(po.chunks, po.meta) {
		select {
		case ack := <-f.Ok():
			if i < len(seqs) {
				seqs[i] = ack.Sequence
			}
		case err := <-f.Err():
			po.settled = i + 1
			return nil, po.fail(err)
		case <-po.ctx.Done():
			return nil, po.fail(po.ctx.Err())
		}
		po.settled = i + 1
	}
	return seqs, nil
}

// inflightWait bounds how long a failed write waits for its published
// messages to be answered before it purges them.
const inflightWait = 10 * time.Second

// drop removes the object whatever became of it.
func (po *pendingObject) drop() {
	_ = po.fail(nil)
	po.cancel()
}

// fail waits for what is in flight, then purges what landed. A future
// answers once: those wait already took are not waited for again. The
// wait does not end with po.ctx: a cancelled request (a client that broke
// off) leaves its messages on their way, and a purge before they land
// would leave them behind. What lands after inflightWait is the
// collector's.
func (po *pendingObject) fail(err error) error {
	bg := context.WithoutCancel(po.ctx)
	wctx, cancel := context.WithTimeout(bg, inflightWait)
	defer cancel()
	for _, f := range append(po.chunks, po.meta)[po.settled:] {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case <-f.Err():
		case <-wctx.Done():
		}
	}
	_ = po.st.objStream.Purge(bg, jetstream.WithPurgeSubject(po.st.chunkSubject(po.id)))
	if po.meta != nil {
		_ = po.st.objStream.Purge(bg, jetstream.WithPurgeSubject(po.st.metaSubject(po.name)))
	}
	return err
}

// partReader streams one part object with batched direct gets.
type partReader struct {
	st     *store
	conn   *readConn // the connection its requests and answers use
	ctx    context.Context
	name   string
	keep   [][]byte // the chunks so far, for the cache
	subj   string
	size   uint64
	chunk  int64 // an upper bound of one chunk's size
	got    uint64
	left   int    // chunks not received yet
	next   uint64 // the stream sequence the next request starts at
	asked  bool   // a batch is in flight on fs
	fs     *fetchSub
	cur    []byte
	misses int // empty answers (a replica behind), retried
}

// fetchSub is the reply subscription of a part's requests. A request whose
// answer stalls (the connection dropped it) is sent again on a fresh one,
// so nothing late can be mistaken for its answer.
type fetchSub struct {
	budget   *budget
	sub      *nats.Subscription
	inbox    string
	in       chan *nats.Msg
	done     chan struct{}
	reserved atomic.Int64
	// perMsg, when set, is the budget each answer gives back (a seqReader
	// reserves that much per request); otherwise an answer gives back its
	// size and the end of a batch the rest.
	perMsg int64
}

// fetchStall is how long a request may go without any answer before it
// is sent again.
const fetchStall = 10 * time.Second

// Direct gets have no flow control: the server sends a batch as fast as
// it can, and closes a connection whose unsent data passes its max_pending
// (64 MiB by default) as a slow consumer, answers in flight lost. So the
// bytes requested and not yet arrived are bounded for all the read
// connections together (fetchBudget: this also bounds the memory of reads
// in flight, whatever the number of pulls) and per request (fetchWindow);
// bytes count as arrived when
// the connection hands them to the reader's subscription, whatever the
// reader does with them. The server counts a write as pending until all of
// it is out, so its figure runs ahead of this one: the budget stays at a
// quarter of max_pending (32 MiB, half of it, was measured to trip it).
const (
	fetchBudget = 16 << 20
	fetchWindow = 4 << 20
)

// fetchQueue is how many answers a part reader can hold that it has not
// taken yet: a whole window of chunks and the end-of-batch marker, so that
// the subscription never waits for the reader and every byte that arrives
// gives its budget back at once (a reader holding budget while it waits
// for budget would deadlock the reads). What readers hold is thus bounded
// by a window per part being read or prefetched.
func (st *store) fetchQueue() int { return fetchWindow/min(st.chunkSize, fetchWindow) + 2 }

// budget is a counting semaphore of bytes, granted all or nothing (so
// that waiting requests never hold part of it).
type budget struct {
	mu   sync.Mutex
	free int64
	wake chan struct{}
}

func newBudget(n int64) *budget { return &budget{free: n, wake: make(chan struct{})} }

func (b *budget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tryAcquire takes n bytes if they are free now.
func (b *budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.free < n {
		return false
	}
	b.free -= n
	return true
}

func (b *budget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// openPart starts reading a part: the request for its first chunks goes
// out now, so opening the next part while the current one is read
// prefetches it. ctx bounds the whole read. keep says the part may be
// kept in the cache once read.
func (st *store) openPart(ctx context.Context, p part, keep bool) (io.ReadCloser, error) {
	if chunks := st.cache.get(p.Name); chunks != nil {
		return &chunksReader{chunks: chunks}, nil
	}
	id, chunks, size, seq := p.ID, p.Chunks, uint64(p.Size), p.Seq
	if id == "" {
		// A part listed without its chunk subject: look it up.
		info, err := st.obs.GetInfo(ctx, p.Name)
		if err != nil {
			return nil, fmt.Errorf("part %s: %w", p.Name, err)
		}
		id, chunks, size = info.NUID, int(info.Chunks), info.Size
	}
	if size == 0 || chunks == 0 {
		return io.NopCloser(eofReader{}), nil
	}
	r := &partReader{
		st: st, conn: st.reader(), ctx: ctx, name: p.Name, subj: st.chunkSubject(id),
		size: size, chunk: int64((size + uint64(chunks) - 1) / uint64(chunks)), left: chunks, next: seq,
	}
	if keep && st.cache.reserve(int64(size)) {
		r.keep = make([][]byte, 0, chunks)
	}
	if err := r.ask(); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("part %s: %w", p.Name, err)
	}
	return r, nil
}

// subscribe opens a reply subscription on rc, holding up to queue answers.
func (rc *readConn) subscribe(queue int) (*fetchSub, error) {
	return rc.subscribeTo(make(chan *nats.Msg, queue), 0)
}

// subscribeTo opens a reply subscription on rc that queues its answers on
// in, giving back perMsg of budget per answer (0: as subscribe does).
func (rc *readConn) subscribeTo(in chan *nats.Msg, perMsg int64) (*fetchSub, error) {
	fs := &fetchSub{budget: rc.budget, inbox: rc.nc.NewRespInbox(), in: in, done: make(chan struct{}), perMsg: perMsg}
	sub, err := rc.nc.Subscribe(fs.inbox, fs.arrive)
	if err != nil {
		return nil, err
	}
	fs.sub = sub
	return fs, nil
}

// arrive runs on the subscription's goroutine for every answer: it gives
// the bytes back to the budget and queues the answer for the reader.
func (fs *fetchSub) arrive(m *nats.Msg) {
	if fs.perMsg > 0 {
		fs.give(fs.perMsg)
	} else if len(m.Data) == 0 && m.Header.Get("Status") != "" {
		fs.budget.release(fs.reserved.Swap(0)) // the batch is over
	} else {
		fs.give(int64(len(m.Data)))
	}
	select {
	case fs.in <- m:
	case <-fs.done:
	}
}

// give gives back up to n bytes of what the subscription reserves.
func (fs *fetchSub) give(n int64) {
	for {
		cur := fs.reserved.Load()
		give := min(n, cur)
		if fs.reserved.CompareAndSwap(cur, cur-give) {
			fs.budget.release(give)
			return
		}
	}
}

// stop ends the subscription and gives back what it still reserves (a
// batch cut short may still be on its way, briefly beyond the budget: the
// budget is a quarter of the server's max_pending for that reason).
func (fs *fetchSub) stop() error {
	err := fs.sub.Unsubscribe()
	close(fs.done)
	fs.budget.release(fs.reserved.Swap(0))
	return err
}

// ask requests the next chunks (a window of them), from r.next on.
func (r *partReader) ask() error {
	if r.fs == nil {
		fs, err := r.conn.subscribe(r.st.fetchQueue())
		if err != nil {
			return err
		}
		r.fs = fs
	}
	batch := max(1, min(r.left, int(fetchWindow/r.chunk)))
	n := int64(batch) * r.chunk
	if err := r.conn.budget.acquire(r.ctx, n); err != nil {
		return err
	}
	r.fs.reserved.Add(n)
	req := mustJSON(jsDirectGet{Seq: r.next, NextFor: r.subj, Batch: batch, MaxBytes: int(n)})
	if err := r.conn.nc.PublishRequest(r.st.directSubject(), r.fs.inbox, req); err != nil {
		r.conn.budget.release(r.fs.reserved.Swap(0))
		return err
	}
	r.asked = true
	return nil
}

// jsDirectGet is a batched direct get request (nats-server 2.11+).
type jsDirectGet struct {
	Seq      uint64 `json:"seq,omitempty"`
	NextFor  string `json:"next_by_subj"`
	Batch    int    `json:"batch"`
	MaxBytes int    `json:"max_bytes,omitempty"`
}

func (st *store) directSubject() string {
	return "$JS.API.DIRECT.GET." + st.objStream.CachedInfo().Config.Name
}

func (r *partReader) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// fill makes r.cur the next chunk when it is used up; io.EOF at the end.
func (r *partReader) fill() error {
	for len(r.cur) == 0 {
		if r.left == 0 {
			if r.got != r.size {
				return fmt.Errorf("part ended at %d of %d bytes: %w", r.got, r.size, io.ErrUnexpectedEOF)
			}
			return io.EOF
		}
		if !r.asked {
			if err := r.ask(); err != nil {
				return fmt.Errorf("read part: %w", err)
			}
		}
		stall := time.NewTimer(fetchStall)
		select {
		case m := <-r.fs.in:
			stall.Stop()
			if err := r.take(m); err != nil {
				return err
			}
		case <-stall.C:
			// The answer was lost (the connection may have dropped it):
			// ask again, on a fresh subscription.
			r.st.log.Warn("blob read stalled, asking again", "subject", r.subj, "chunks_left", r.left)
			_ = r.fs.stop()
			r.fs, r.asked = nil, false
		case <-r.ctx.Done():
			stall.Stop()
			return fmt.Errorf("read part: %w", r.ctx.Err())
		}
	}
	return nil
}

// take handles one answer: a chunk, the end of a batch, or an error.
func (r *partReader) take(m *nats.Msg) error {
	if len(m.Data) == 0 && m.Header.Get("Status") != "" {
		r.asked = false
		switch m.Header.Get("Status") {
		case "204": // end of batch; ask again for what is missing
			return nil
		case "404":
			// A replica that is behind may not have the chunks yet.
			if r.misses++; r.misses > 20 {
				return fmt.Errorf("read part: %d chunks missing on %s", r.left, r.subj)
			}
			select {
			case <-r.ctx.Done():
				return r.ctx.Err()
			case <-time.After(time.Duration(r.misses) * 50 * time.Millisecond):
				return nil
			}
		default:
			return fmt.Errorf("read part: %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
		}
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return fmt.Errorf("read part: bad sequence header: %w", err)
	}
	r.next = seq + 1
	r.left--
	r.got += uint64(len(m.Data))
	r.cur = m.Data
	if r.keep != nil {
		r.keep = append(r.keep, m.Data)
		if r.left == 0 && r.got == r.size {
			r.st.cache.put(r.name, r.keep, int64(r.size))
			r.keep = nil
		}
	}
	return nil
}

// WriteTo writes the rest of the part in whole chunks (io.Copy uses it: no
// intermediate buffer, one write per chunk).
func (r *partReader) WriteTo(w io.Writer) (int64, error) {
	return writeChunks(w, r.fill, func() []byte { return r.cur }, func(n int) { r.cur = r.cur[n:] })
}

// writeChunks writes a chunked reader's content chunk by chunk: fill makes
// the current chunk (cur) non-empty or returns io.EOF at the end, and
// consumed marks n bytes of it written.
func writeChunks(w io.Writer, fill func() error, cur func() []byte, consumed func(n int)) (int64, error) {
	var total int64
	for {
		if err := fill(); err != nil {
			if err == io.EOF {
				return total, nil
			}
			return total, err
		}
		n, err := w.Write(cur())
		total += int64(n)
		consumed(n)
		if err != nil {
			return total, err
		}
	}
}

// Close stops the subscription and gives back what is still reserved.
func (r *partReader) Close() error {
	if r.keep != nil {
		r.keep = nil
		r.st.cache.unreserve(int64(r.size))
	}
	if r.fs == nil {
		return nil
	}
	err := r.fs.stop()
	r.fs = nil
	return err
}

// emptySHA256 is the SHA-256 of nothing.
var emptySHA256 = sha256.Sum256(nil)

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
