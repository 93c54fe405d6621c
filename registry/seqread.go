package registry

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// seqReader streams a byte range of a blob whose parts record the stream
// sequence of every chunk (part.chunkSeq). It asks for each chunk by its
// sequence (a direct get of one message: the server loads it straight,
// with no subject scan and no pending count as a batch costs) and keeps
// up to seqAhead chunks requested ahead of the one it delivers, across part
// boundaries, spread over the read connections: the server loads and sends
// the next chunks while this one goes out over HTTP, so neither side waits
// for a round trip. Answers may come back in any order (different
// connections, or replicas answering direct gets); they are put back in
// order by sequence. Bytes requested and not yet arrived count against the
// read connections' shared budget, as for partReader.
type seqReader struct {
	ctx   context.Context
	st    *store
	keep  bool   // parts read may be kept in the cache
	parts []part // parts not scheduled yet (the first one maybe partly)
	ci    int    // the next chunk of parts[0] to schedule
	reach int64  // bytes of the parts scheduled so far (from the range's first part)
	end   int64  // the range's end, counted as reach is
	skip  int64  // bytes to drop at the start
	left  int64  // bytes still to deliver
	queue []seqItem
	asked int // chunk requests whose answer was not taken yet
	subs  []*fetchSub
	in    chan *nats.Msg
	early map[uint64]*nats.Msg // answers that came before their turn
	keeps []*keptPart          // parts being collected for the cache
	cur   []byte
	next  int // the read connection the next request goes to
	miss  int // empty answers (a replica behind), asked again
}

// seqItem is what comes next in a seqReader: a chunk to be answered, or a
// part found in the cache.
type seqItem struct {
	cached [][]byte
	subj   string
	seq    uint64
	kp     *keptPart // the part the chunk belongs to, when it is kept
}

// keptPart collects a part's chunks for the cache.
type keptPart struct {
	name   string
	size   int64
	want   int
	chunks [][]byte
	got    int64
	done   bool
}

// seqAhead is how many chunks a reader keeps requested ahead: with 1 MiB
// chunks, 6 MiB per pull (fetchBudget bounds all pulls together).
const seqAhead = 6

// seqChunkMax is the most bytes one chunk can hold (the budget reserved
// per request).
var seqChunkMax = int64(events.ObjectStoreBlobs.ChunkSize)

// seqReadable reports whether every part has known chunk sequences.
func seqReadable(parts []part) bool {
	for _, p := range parts {
		if !p.seqKnown() {
			return false
		}
	}
	return true
}

func (st *store) openSeqRange(ctx context.Context, parts []part, skip, n int64, keep bool) *seqReader {
	return &seqReader{
		ctx: ctx, st: st, keep: keep, parts: parts, skip: skip, left: n, end: skip + n,
		in: make(chan *nats.Msg, seqAhead+4), early: map[uint64]*nats.Msg{},
		next: int(st.nextRead.Add(1)),
	}
}

// sub returns the reply subscription on read connection i.
func (r *seqReader) sub(i int) (*fetchSub, error) {
	if r.subs == nil {
		r.subs = make([]*fetchSub, len(r.st.readers))
	}
	if r.subs[i] == nil {
		fs, err := r.st.readers[i].subscribeTo(r.in, seqChunkMax)
		if err != nil {
			return nil, err
		}
		r.subs[i] = fs
	}
	return r.subs[i], nil
}

// schedule requests chunks until seqAhead are asked for or the range is
// covered. It waits for budget only when nothing is queued to deliver.
func (r *seqReader) schedule() error {
	for r.asked < seqAhead && len(r.parts) > 0 {
		p := r.parts[0]
		if r.ci == 0 {
			if r.reach >= r.end {
				return nil // the range is covered
			}
			if chunks := r.st.cache.get(p.Name); chunks != nil || p.Chunks == 0 {
				r.queue = append(r.queue, seqItem{cached: chunks})
				r.reach += p.Size
				r.parts = r.parts[1:]
				continue
			}
		}
		i := r.next % len(r.st.readers)
		rc := r.st.readers[i]
		if len(r.queue) > 0 {
			if !rc.budget.tryAcquire(seqChunkMax) {
				return nil
			}
		} else if err := rc.budget.acquire(r.ctx, seqChunkMax); err != nil {
			return fmt.Errorf("read blob: %w", err)
		}
		fs, err := r.sub(i)
		if err != nil {
			rc.budget.release(seqChunkMax)
			return fmt.Errorf("read blob: %w", err)
		}
		seq, _ := p.chunkSeq(r.ci)
		item := seqItem{subj: r.st.chunkSubject(p.ID), seq: seq}
		if r.ci == 0 {
			r.reach += p.Size
			if r.keep && r.st.cache.reserve(p.Size) {
				kp := &keptPart{name: p.Name, size: p.Size, want: p.Chunks, chunks: make([][]byte, 0, p.Chunks)}
				r.keeps = append(r.keeps, kp)
			}
		}
		if n := len(r.keeps); n > 0 && r.keeps[n-1].name == p.Name {
			item.kp = r.keeps[n-1]
		}
		if err := r.ask(rc, fs, seq); err != nil {
			return err
		}
		r.next++
		r.queue = append(r.queue, item)
		r.asked++
		if r.ci++; r.ci == p.Chunks {
			r.parts, r.ci = r.parts[1:], 0
		}
	}
	return nil
}

// ask sends the direct get of one message, with budget already taken.
func (r *seqReader) ask(rc *readConn, fs *fetchSub, seq uint64) error {
	fs.reserved.Add(seqChunkMax)
	req := strconv.AppendUint([]byte(`{"seq":`), seq, 10)
	req = append(req, '}')
	if err := rc.nc.PublishRequest(r.st.directSubject(), fs.inbox, req); err != nil {
		rc.budget.release(fs.reserved.Swap(0))
		return fmt.Errorf("read blob: %w", err)
	}
	return nil
}

func (r *seqReader) prime() error {
	if r.left <= 0 || len(r.cur) > 0 {
		return nil
	}
	return r.fill()
}

// fill makes r.cur the next bytes to deliver; io.EOF at the end.
func (r *seqReader) fill() error {
	for len(r.cur) == 0 {
		if r.left <= 0 {
			return io.EOF
		}
		if err := r.schedule(); err != nil {
			return err
		}
		if len(r.queue) == 0 {
			return fmt.Errorf("blob ends %d bytes early: %w", r.left, io.ErrUnexpectedEOF)
		}
		it := &r.queue[0]
		if it.subj == "" {
			if len(it.cached) == 0 {
				r.queue = r.queue[1:]
				continue
			}
			r.cur, it.cached = it.cached[0], it.cached[1:]
		} else {
			m, err := r.await(it.seq)
			if err != nil {
				return err
			}
			if s := m.Header.Get(jetstream.SubjectHeader); s != it.subj {
				return fmt.Errorf("read blob: message %d is on %q, not %q (part deleted?)", it.seq, s, it.subj)
			}
			r.cur = m.Data
			if kp := it.kp; kp != nil {
				kp.chunks = append(kp.chunks, m.Data)
				kp.got += int64(len(m.Data))
				if len(kp.chunks) == kp.want && kp.got == kp.size {
					r.st.cache.put(kp.name, kp.chunks, kp.size)
					kp.done = true
				}
			}
			r.queue = r.queue[1:]
			r.asked--
		}
		if r.skip > 0 {
			d := min(r.skip, int64(len(r.cur)))
			r.cur, r.skip = r.cur[d:], r.skip-d
		}
		if int64(len(r.cur)) > r.left {
			r.cur = r.cur[:r.left]
		}
	}
	return nil
}

// await returns the answer for seq, keeping those that come early.
func (r *seqReader) await(seq uint64) (*nats.Msg, error) {
	if m, ok := r.early[seq]; ok {
		delete(r.early, seq)
		return m, nil
	}
	stall := time.NewTimer(fetchStall)
	defer stall.Stop()
	for {
		select {
		case m := <-r.in:
			if len(m.Data) == 0 && m.Header.Get("Status") != "" {
				if err := r.status(m); err != nil {
					return nil, err
				}
				continue
			}
			got, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("read blob: bad sequence header: %w", err)
			}
			if got == seq {
				return m, nil
			}
			if r.waiting(got) {
				r.early[got] = m
			}
		case <-stall.C:
			// An answer was lost (the connection may have dropped it).
			r.st.log.Warn("blob read stalled, asking again", "seq", seq)
			if err := r.again(); err != nil {
				return nil, err
			}
			stall.Reset(fetchStall)
		case <-r.ctx.Done():
			return nil, fmt.Errorf("read blob: %w", r.ctx.Err())
		}
	}
}

// status handles an empty answer: a replica that is behind may not have
// the message yet (404): every request not answered is sent again.
func (r *seqReader) status(m *nats.Msg) error {
	if st := m.Header.Get("Status"); st != "404" {
		return fmt.Errorf("read blob: %s %s", st, m.Header.Get("Description"))
	}
	if r.miss++; r.miss > 20 {
		return fmt.Errorf("read blob: chunks missing from the stream")
	}
	select {
	case <-r.ctx.Done():
		return r.ctx.Err()
	case <-time.After(time.Duration(r.miss) * 50 * time.Millisecond):
	}
	return r.again()
}

// waiting reports whether seq is a chunk asked for and not answered.
func (r *seqReader) waiting(seq uint64) bool {
	for _, it := range r.queue {
		if it.subj != "" && it.seq == seq {
			_, dup := r.early[seq]
			return !dup
		}
	}
	return false
}

// again drops the subscriptions (late answers go with them) and asks for
// every chunk not answered yet on fresh ones.
func (r *seqReader) again() error {
	r.stopSubs()
	for len(r.in) > 0 {
		<-r.in
	}
	for _, it := range r.queue {
		if it.subj == "" {
			continue
		}
		if _, ok := r.early[it.seq]; ok {
			continue
		}
		i := r.next % len(r.st.readers)
		r.next++
		rc := r.st.readers[i]
		if err := rc.budget.acquire(r.ctx, seqChunkMax); err != nil {
			return fmt.Errorf("read blob: %w", err)
		}
		fs, err := r.sub(i)
		if err != nil {
			rc.budget.release(seqChunkMax)
			return fmt.Errorf("read blob: %w", err)
		}
		if err := r.ask(rc, fs, it.seq); err != nil {
			return err
		}
	}
	return nil
}

func (r *seqReader) stopSubs() {
	for i, fs := range r.subs {
		if fs != nil {
			_ = fs.stop()
			r.subs[i] = nil
		}
	}
}

func (r *seqReader) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.left -= int64(n)
	return n, nil
}

// WriteTo writes the rest of the range chunk by chunk (io.Copy uses it).
func (r *seqReader) WriteTo(w io.Writer) (int64, error) {
	return writeChunks(w, r.fill, func() []byte { return r.cur }, func(n int) {
		r.cur = r.cur[n:]
		r.left -= int64(n)
	})
}

// Close stops the subscriptions and gives back what is still reserved.
func (r *seqReader) Close() error {
	r.stopSubs()
	for _, kp := range r.keeps {
		if !kp.done {
			r.st.cache.unreserve(kp.size)
			kp.done = true
		}
	}
	r.queue, r.early, r.cur = nil, nil, nil
	return nil
}
