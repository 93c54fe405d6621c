package registry

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// errTooLong reports a body longer than it was announced.
var errTooLong = errors.New("body longer than announced")

// errShortBody reports a body shorter than it was announced.
var errShortBody = errors.New("body shorter than announced")

// bufPool recycles part buffers (all of st.partSize bytes).
var bufPool sync.Pool

func (st *store) getBuf() []byte {
	if b, ok := bufPool.Get().(*[]byte); ok && len(*b) == st.partSize {
		return *b
	}
	return make([]byte, st.partSize)
}

func putBuf(b []byte) { bufPool.Put(&b) }

// writeParts streams r into part objects of at most st.partSize bytes,
// hashing every byte once into h on the way. want is the exact number of
// bytes r must yield, or -1 for "until EOF". Reading, hashing and storing
// run in three goroutines, a part apart: SHA-256 (one core's worth on this
// kind of machine) is the slowest stage of an upload, so it gets a core to
// itself while the body is read and the previous part is stored. Each part
// is kept in memory until stored, so a failed object write is retried
// without asking the client again. A body that breaks off (a dropped
// connection) is an error, never a short chunk. On error the parts written so far are deleted.
//
// fresh says that h is a new SHA-256: when the body fits one part, h's sum
// is then that part's Object Store digest, which costs nothing. Other parts
// carry no digest rather than a second SHA-256 pass over every byte (see
// writeObject). Storing a part overlaps with publishing the next, so an
// upload holds up to four part buffers.
func (st *store) writeParts(ctx context.Context, owner string, r io.Reader, h hash.Hash, want int64, fresh bool) ([]part, int64, error) {
	prefix := owner + "." + nuid.Next()
	type job struct {
		idx  int
		buf  []byte
		n    int
		last bool   // no byte follows (unless the body is too long)
		sum  []byte // the part's SHA-256, when known for free
	}
	toHash := make(chan job)
	toWrite := make(chan job)
	failed := make(chan struct{})
	hashed := make(chan struct{})
	written := make(chan struct{})
	var parts []part
	var putErr error
	// Parts are kept in the cache as they are written (write-through) while
	// the blob so far fits it; past that, those kept are dropped.
	var kept []string
	var stored int64
	// Storing is two stages: one goroutine publishes a part's messages,
	// the next waits for their acknowledgements, so that the server
	// stores one part while the next is being published.
	type pending struct {
		job
		name string
		po   *pendingObject
	}
	toAck := make(chan pending)
	go func() {
		defer close(toAck)
		for j := range toWrite {
			select {
			case <-failed:
				putBuf(j.buf)
				continue
			default:
			}
			name := prefix + "." + strconv.Itoa(j.idx)
			toAck <- pending{job: j, name: name, po: st.publishObject(ctx, name, nuid.Next(), j.buf[:j.n], j.sum)}
		}
	}()
	go func() {
		defer close(written)
		for j := range toAck {
			if putErr == nil {
				var p part
				if p, putErr = st.finishObject(ctx, j.po, j.buf[:j.n], j.sum); putErr == nil {
					parts = append(parts, p)
					stored += int64(j.n)
					if !st.cache.blobFits(stored) && kept != nil {
						st.cache.remove(kept)
						kept = nil
					}
					if st.cache.blobFits(stored) && st.cache.keep(j.name, j.buf[:j.n], st.chunkSize) {
						kept = append(kept, j.name)
						continue // the buffer now belongs to the cache
					}
				} else {
					close(failed)
				}
			} else {
				j.po.drop()
			}
			putBuf(j.buf)
		}
	}()
	go func() {
		defer close(hashed)
		defer close(toWrite)
		for j := range toHash {
			h.Write(j.buf[:j.n])
			if fresh && j.idx == 0 && j.last {
				j.sum = h.Sum(nil)
			}
			select {
			case toWrite <- j:
			case <-failed:
				putBuf(j.buf)
			}
		}
	}()

	var total int64
	var readErr error
read:
	for idx := 0; ; idx++ {
		buf := st.getBuf()
		limit := len(buf)
		if want >= 0 && want-total < int64(limit) {
			limit = int(want - total)
		}
		n, eof, err := fill(r, buf[:limit])
		total += int64(n)
		if n > 0 {
			select {
			case toHash <- job{idx: idx, buf: buf, n: n, last: err == nil && (eof || total == want)}:
			case <-failed:
				putBuf(buf)
				break read
			}
		} else {
			putBuf(buf)
		}
		switch {
		case err != nil:
			readErr = fmt.Errorf("read body: %w", err)
			break read
		case eof:
			if want >= 0 && total < want {
				readErr = errShortBody
			}
			break read
		case want >= 0 && total == want:
			// The announced length is in; anything more is an error.
			var one [1]byte
			if m, _ := r.Read(one[:]); m > 0 {
				readErr = errTooLong
			}
			break read
		}
	}
	close(toHash)
	<-hashed
	<-written
	if readErr == nil {
		readErr = putErr
	}
	if readErr != nil {
		st.deleteParts(context.WithoutCancel(ctx), parts)
		return nil, 0, readErr
	}
	return parts, total, nil
}

// fill reads until buf is full or r ends cleanly (eof). Any other error,
// io.ErrUnexpectedEOF from a broken body included, is returned.
func fill(r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

// deleteParts removes part objects, logging (not returning) failures: an
// object left behind is garbage the collector removes later.
func (st *store) deleteParts(ctx context.Context, parts []part) {
	for _, p := range parts {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := st.deletePart(dctx, p)
		cancel()
		if err != nil {
			st.log.Warn("delete part", "object", p.Name, "err", err)
		}
	}
}

// deletePart removes a part object completely: its chunks, then its
// metadata message. ObjectStore.Delete would leave a "deleted" metadata
// message behind for every part ever dropped. Cut off in between, the
// metadata is left without chunks: an object nothing owns, collected.
func (st *store) deletePart(ctx context.Context, p part) error {
	id := p.ID
	if id == "" {
		info, err := st.obs.GetInfo(ctx, p.Name, jetstream.GetObjectInfoShowDeleted())
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		id = info.NUID
	}
	if err := st.objStream.Purge(ctx, jetstream.WithPurgeSubject(st.chunkSubject(id))); err != nil {
		return err
	}
	return st.objStream.Purge(ctx, jetstream.WithPurgeSubject(st.metaSubject(p.Name)))
}

// partDeadline is how long reading one part may take: a Get without a
// deadline would stop after JetStream's default of 5 s.
func partDeadline(size int64) time.Duration {
	return 2*time.Minute + time.Duration(size/(256<<10))*time.Second
}

// blobReader streams the byte range [off, off+n) of a blob's parts in
// order. While one part is read the next ones are already requested (up to
// prefetchParts, within the range), so the storage round trips overlap with
// sending.
type blobReader struct {
	ctx   context.Context
	st    *store
	keep  bool   // parts read may be kept in the cache
	parts []part // not opened yet
	skip  int64  // bytes to drop at the start of the next part
	left  int64
	cur   *openedPart
	ahead []*openedPart // requested, in order
}

// prefetchParts is how many parts a reader requests ahead of the one it
// sends.
const prefetchParts = 1

// openedPart is a part being read, with the deadline of its read.
type openedPart struct {
	rc   io.ReadCloser
	stop context.CancelFunc
	size int64
}

func (o *openedPart) close() {
	if o != nil {
		_ = o.rc.Close()
		o.stop()
	}
}

// rangeReader reads a byte range of a blob.
type rangeReader interface {
	io.ReadCloser
	io.WriterTo
	// prime starts the read, so that a storage failure shows before any
	// byte is sent.
	prime() error
}

// openRange returns a reader of n bytes of the blob starting at off: a
// seqReader when the blob's record says where every chunk is, otherwise
// (records written before that) a blobReader.
func (st *store) openRange(ctx context.Context, b *blobRecord, off, n int64) rangeReader {
	parts := b.Parts
	for len(parts) > 0 && off >= parts[0].Size {
		off -= parts[0].Size
		parts = parts[1:]
	}
	keep := st.cache.blobFits(b.Size)
	if seqReadable(parts) {
		return st.openSeqRange(ctx, parts, off, n, keep)
	}
	return &blobReader{ctx: ctx, st: st, parts: parts, skip: off, left: n, keep: keep}
}

func (r *blobReader) Read(p []byte) (int, error) {
	for {
		if r.left <= 0 {
			return 0, io.EOF
		}
		if r.cur == nil {
			if err := r.open(); err != nil {
				return 0, err
			}
		}
		if int64(len(p)) > r.left {
			p = p[:r.left]
		}
		n, err := r.cur.rc.Read(p)
		r.left -= int64(n)
		r.cur.size -= int64(n)
		if err == io.EOF {
			r.cur.close()
			r.cur = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// WriteTo writes the rest of the range to w, whole parts chunk by chunk
// (io.Copy uses it).
func (r *blobReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.left > 0 {
		if r.cur == nil {
			if err := r.open(); err != nil {
				return total, err
			}
		}
		want := min(r.left, r.cur.size)
		var n int64
		var err error
		if wt, ok := r.cur.rc.(io.WriterTo); ok && want == r.cur.size {
			n, err = wt.WriteTo(w)
			if err == nil && n != want {
				err = fmt.Errorf("part ended %d bytes early: %w", want-n, io.ErrUnexpectedEOF)
			}
		} else {
			n, err = io.CopyN(w, r.cur.rc, want)
		}
		total += n
		r.left -= n
		r.cur.size -= n
		if err != nil {
			return total, err
		}
		if r.cur.size == 0 {
			r.cur.close()
			r.cur = nil
		}
	}
	return total, nil
}

// prime opens the first part now rather than on the first Read.
func (r *blobReader) prime() error {
	if r.left <= 0 || r.cur != nil {
		return nil
	}
	return r.open()
}

// open makes the next part current (it may be requested already) and
// requests the ones after it as far as the range reaches.
func (r *blobReader) open() error {
	var cur *openedPart
	if len(r.ahead) > 0 {
		cur, r.ahead = r.ahead[0], r.ahead[1:]
	} else {
		var err error
		if cur, err = r.openPart(); err != nil {
			return err
		}
	}
	r.cur = cur
	if r.skip > 0 {
		if _, err := io.CopyN(io.Discard, cur.rc, r.skip); err != nil {
			return fmt.Errorf("seek in part: %w", err)
		}
		cur.size -= r.skip
		r.skip = 0
	}
	reach := cur.size
	for _, p := range r.ahead {
		reach += p.size
	}
	for len(r.ahead) < prefetchParts && len(r.parts) > 0 && r.left > reach {
		p, err := r.openPart()
		if err != nil {
			break // retried when the part is due
		}
		r.ahead = append(r.ahead, p)
		reach += p.size
	}
	return nil
}

func (r *blobReader) openPart() (*openedPart, error) {
	if len(r.parts) == 0 {
		return nil, fmt.Errorf("blob ends %d bytes early: %w", r.left, io.ErrUnexpectedEOF)
	}
	p := r.parts[0]
	r.parts = r.parts[1:]
	ctx, cancel := context.WithTimeout(r.ctx, partDeadline(p.Size))
	rc, err := r.st.openPart(ctx, p, r.keep)
	if err != nil {
		cancel()
		return nil, err
	}
	return &openedPart{rc: rc, stop: cancel, size: p.Size}, nil
}

func (r *blobReader) Close() error {
	r.cur.close()
	for _, p := range r.ahead {
		p.close()
	}
	r.cur, r.ahead = nil, nil
	return nil
}

// rehash computes a blob's digest with another algorithm by reading it back
// (only for an upload closed with a digest of an algorithm it was not
// started with).
func (st *store) rehash(ctx context.Context, parts []part, alg string) (digest, error) {
	var size int64
	for _, p := range parts {
		size += p.Size
	}
	h := newHash(alg)
	rd := st.openRange(ctx, &blobRecord{Parts: parts}, 0, size)
	defer rd.Close()
	if _, err := io.Copy(h, rd); err != nil {
		return digest{}, err
	}
	return sumDigest(alg, h), nil
}
