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
// bytes r must yield, or -1 for "until EOF". Reading the next part overlaps
// with storing the previous one; each part is kept in memory until stored,
// so a failed object write is retried without asking the client again.
// A body that breaks off (a dropped connection) is an error, never a short
// chunk. On error the parts written so far are deleted.
func (st *store) writeParts(ctx context.Context, owner string, r io.Reader, h hash.Hash, want int64) ([]part, int64, error) {
	prefix := owner + "." + nuid.Next()
	type job struct {
		idx int
		buf []byte
		n   int
	}
	jobs := make(chan job)
	failed := make(chan struct{})
	done := make(chan struct{})
	var parts []part
	var putErr error
	go func() {
		defer close(done)
		for j := range jobs {
			if putErr == nil {
				name := prefix + "." + strconv.Itoa(j.idx)
				if putErr = st.writeObject(ctx, name, j.buf[:j.n]); putErr == nil {
					parts = append(parts, part{Name: name, Size: int64(j.n)})
				} else {
					close(failed)
				}
			}
			putBuf(j.buf)
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
		if n > 0 {
			h.Write(buf[:n])
			total += int64(n)
			select {
			case jobs <- job{idx: idx, buf: buf, n: n}:
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
	close(jobs)
	<-done
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
		err := st.obs.Delete(dctx, p.Name)
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			st.log.Warn("delete part", "object", p.Name, "err", err)
		}
	}
}

// partDeadline is how long reading one part may take: a Get without a
// deadline would stop after JetStream's default of 5 s.
func partDeadline(size int64) time.Duration {
	return 2*time.Minute + time.Duration(size/(256<<10))*time.Second
}

// blobReader streams the byte range [off, off+n) of a blob's parts in order.
type blobReader struct {
	ctx   context.Context
	st    *store
	parts []part
	skip  int64 // bytes to drop at the start of the next part
	left  int64
	cur   io.ReadCloser
	curR  io.Reader
	stop  context.CancelFunc
}

// openRange returns a reader of n bytes of the blob starting at off.
func (st *store) openRange(ctx context.Context, b *blobRecord, off, n int64) *blobReader {
	parts := b.Parts
	for len(parts) > 0 && off >= parts[0].Size {
		off -= parts[0].Size
		parts = parts[1:]
	}
	return &blobReader{ctx: ctx, st: st, parts: parts, skip: off, left: n}
}

func (r *blobReader) Read(p []byte) (int, error) {
	for {
		if r.left <= 0 {
			return 0, io.EOF
		}
		if r.curR == nil {
			if len(r.parts) == 0 {
				return 0, fmt.Errorf("blob ends %d bytes early: %w", r.left, io.ErrUnexpectedEOF)
			}
			if err := r.open(); err != nil {
				return 0, err
			}
		}
		if int64(len(p)) > r.left {
			p = p[:r.left]
		}
		n, err := r.curR.Read(p)
		r.left -= int64(n)
		if err == io.EOF {
			r.closeCur()
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// prime opens the first part now rather than on the first Read.
func (r *blobReader) prime() error {
	if r.left <= 0 || r.curR != nil {
		return nil
	}
	if len(r.parts) == 0 {
		return fmt.Errorf("blob ends %d bytes early: %w", r.left, io.ErrUnexpectedEOF)
	}
	return r.open()
}

func (r *blobReader) open() error {
	p := r.parts[0]
	r.parts = r.parts[1:]
	ctx, cancel := context.WithTimeout(r.ctx, partDeadline(p.Size))
	rd, err := r.st.openObject(ctx, p.Name)
	if err != nil {
		cancel()
		return err
	}
	r.cur, r.stop = rd, cancel
	r.curR = rd
	if r.skip > 0 {
		if _, err := io.CopyN(io.Discard, rd, r.skip); err != nil {
			r.closeCur()
			return fmt.Errorf("seek in part %s: %w", p.Name, err)
		}
		r.skip = 0
	}
	return nil
}

func (r *blobReader) closeCur() {
	if r.cur != nil {
		_ = r.cur.Close()
		r.stop()
	}
	r.cur, r.curR, r.stop = nil, nil, nil
}

func (r *blobReader) Close() error {
	r.closeCur()
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
