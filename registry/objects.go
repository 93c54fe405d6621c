package registry

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/berth-project/berth/events"
)

// The registry writes and reads its part objects itself, in the Object
// Store's format (chunks on $O.<bucket>.C.<nuid>, a rolled-up ObjectInfo on
// $O.<bucket>.M.<base64url(name)>), so the parts stay ordinary objects that
// ObjectStore.Get, List, Delete and `nats object` understand. Doing it here
// avoids what jetstream's Put and Get cost per object (a JetStream context
// and reply subscription per Put, an unbounded window of async publishes,
// a pipe and a second SHA-256 pass on every read). Reads do not re-hash:
// the content was verified when it was uploaded, and the file store
// checksums every message.

func (st *store) chunkSubject(id string) string {
	return "$O." + events.ObjectStoreBlobs.Name + ".C." + id
}

func (st *store) metaSubject(name string) string {
	return "$O." + events.ObjectStoreBlobs.Name + ".M." + base64.URLEncoding.EncodeToString([]byte(name))
}

// writeObject stores data as the object name, retrying a failed attempt
// under a fresh chunk subject (a full ingest buffer answers 429).
func (st *store) writeObject(ctx context.Context, name string, data []byte) error {
	var err error
	for attempt := range 5 {
		if err = st.writeObjectOnce(ctx, name, data); err == nil || ctx.Err() != nil {
			break
		}
		st.log.Warn("part write failed, retrying", "object", name, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(200*(attempt+1)) * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("store part %s: %w", name, err)
	}
	return nil
}

func (st *store) writeObjectOnce(ctx context.Context, name string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	id := nuid.Next()
	subj := st.chunkSubject(id)
	size := st.chunkSize
	h := sha256.New()
	var futs []jetstream.PubAckFuture
	fail := func(err error) error {
		// Wait for what is in flight, then drop whatever landed.
		for _, f := range futs {
			select {
			case <-f.Ok():
			case <-f.Err():
			case <-ctx.Done():
			}
		}
		_ = st.objStream.Purge(context.WithoutCancel(ctx), jetstream.WithPurgeSubject(subj))
		return err
	}
	for off := 0; off < len(data); off += size {
		c := data[off:min(off+size, len(data))]
		h.Write(c)
		f, err := st.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: c})
		if err != nil {
			return fail(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fail(err)
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
	info := jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: uint32(size)}},
		Bucket:     events.ObjectStoreBlobs.Name,
		NUID:       id,
		Size:       uint64(len(data)),
		Chunks:     uint32(len(futs)),
		Digest:     "SHA-256=" + base64.URLEncoding.EncodeToString(h.Sum(nil)),
	}
	raw, err := json.Marshal(info)
	if err != nil {
		return fail(err)
	}
	m := nats.NewMsg(st.metaSubject(name))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	m.Data = raw
	if _, err := st.js.PublishMsg(ctx, m); err != nil {
		return fail(err)
	}
	return nil
}

// partReader streams one part object.
type partReader struct {
	msgs  jetstream.MessagesContext
	left  uint32 // chunks still to read
	size  uint64
	got   uint64
	cur   []byte
	stop  func() bool
	errFn func() error
	drop  func()
}

// openObject starts reading an object; ctx bounds the whole read.
func (st *store) openObject(ctx context.Context, name string) (io.ReadCloser, error) {
	info, err := st.obs.GetInfo(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("part %s: %w", name, err)
	}
	if info.Size == 0 {
		return io.NopCloser(eofReader{}), nil
	}
	stream := st.objStream.CachedInfo().Config.Name
	cons, err := st.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{st.chunkSubject(info.NUID)},
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("part %s: %w", name, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(int(min(info.Chunks, 8))))
	if err != nil {
		return nil, fmt.Errorf("part %s: %w", name, err)
	}
	r := &partReader{msgs: it, left: info.Chunks, size: info.Size}
	r.stop = context.AfterFunc(ctx, it.Stop)
	r.errFn = ctx.Err
	r.drop = func() {
		// An ordered consumer outlives Stop until its inactivity threshold;
		// one per part adds up, so remove it now.
		name := cons.CachedInfo().Name
		go func() {
			dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = st.js.DeleteConsumer(dctx, stream, name)
		}()
	}
	return r, nil
}

func (r *partReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.left == 0 {
			if r.got != r.size {
				return 0, fmt.Errorf("part ended at %d of %d bytes: %w", r.got, r.size, io.ErrUnexpectedEOF)
			}
			return 0, io.EOF
		}
		m, err := r.msgs.Next()
		if err != nil {
			if cerr := r.errFn(); cerr != nil {
				return 0, cerr
			}
			return 0, fmt.Errorf("read part: %w", err)
		}
		r.cur = m.Data()
		r.left--
		r.got += uint64(len(r.cur))
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *partReader) Close() error {
	r.stop()
	r.msgs.Stop()
	r.drop()
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
