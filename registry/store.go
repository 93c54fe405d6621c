package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/outbox"
)

// store is the registry's view of JetStream: the metadata bucket (read with
// revisions, written one key at a time with an expected revision) and the
// blob object store.
type store struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	kv        jetstream.KeyValue
	kvStream  jetstream.Stream
	obs       jetstream.ObjectStore
	objStream jetstream.Stream
	partSize  int
	chunkSize int
	readers   []*readConn // connections blob reads use, in turn
	nextRead  atomic.Uint32
	cache     *partCache // recently read parts
	log       *slog.Logger
	// out publishes the events a committed write carries.
	out *outbox.Publisher
}

// afterCommit, when set (tests only), runs right after every committed
// single-key write, before the events it carries are published.
var afterCommit atomic.Pointer[func(w natsutil.KVWrite)]

// Records stored in the registry bucket. They are the registry's private
// storage format: only the registry reads and writes them.

// repoRecord is repo.<repo>.
type repoRecord struct {
	Name          string             `json:"name"`
	CreatedAt     time.Time          `json:"createdAt"`
	TagMutability string             `json:"tagMutability"`
	Exclusions    []mutabilityFilter `json:"exclusions,omitempty"`
	ScanOnPush    bool               `json:"scanOnPush"`
	Encryption    string             `json:"encryption"`
	KMSKey        string             `json:"kmsKey,omitempty"`
	Tags          []resourceTag      `json:"tags,omitempty"`
}

type mutabilityFilter struct {
	Type   string `json:"type"`
	Filter string `json:"filter"`
}

type resourceTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// tagRecord is tag.<repo>.<tag>. A tag counts only while the manifest it
// names exists in the same incarnation: ManifestRev is the revision of the
// manifest record when the tag was set (0 in records older than the field),
// so a tag left behind by a deleted manifest never comes back with a later
// push of the same digest.
type tagRecord struct {
	Digest      string    `json:"digest"`
	UpdatedAt   time.Time `json:"updatedAt"`
	ManifestRev uint64    `json:"manifestRev,omitempty"`
}

// manifestRecord is man.<repo>.<alg>.<hex>: this JSON, a newline, then the
// manifest's exact bytes.
type manifestRecord struct {
	Digest          string            `json:"digest"`
	MediaType       string            `json:"mediaType"`
	Size            int64             `json:"size"`
	PushedAt        time.Time         `json:"pushedAt"`
	ArtifactType    string            `json:"artifactType,omitempty"`
	ConfigMediaType string            `json:"configMediaType,omitempty"`
	Subject         *descriptor       `json:"subject,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
	// Blobs are the config and layer digests that had to be linked.
	Blobs []string `json:"blobs,omitempty"`
	// Children are the manifests an index lists.
	Children []string `json:"children,omitempty"`
	// ImageSize is the config plus the layers, as ECR reports it.
	ImageSize int64 `json:"imageSize"`
	// ScanOnPush says the repository asked for a scan on push when the
	// manifest was pushed: the image then has a scan status (Berth has no
	// scanner, so it is UNSUPPORTED_IMAGE).
	ScanOnPush bool   `json:"scanOnPush,omitempty"`
	Bytes      []byte `json:"-"`
}

// linkRecord is link.<repo>.<alg>.<hex>.
type linkRecord struct {
	Size     int64     `json:"size"`
	LinkedAt time.Time `json:"linkedAt"`
}

// blobRecord is blob.<alg>.<hex>. Linking an existing blob rewrites it
// (TouchedAt) at its revision: the collector deletes a record only at the
// revision it found unlinked, so one of the two fails.
type blobRecord struct {
	Size      int64     `json:"size"`
	Parts     []part    `json:"parts"`
	CreatedAt time.Time `json:"createdAt"`
	TouchedAt time.Time `json:"touchedAt,omitzero"`
}

// part is one object of a blob: its name, size, and (in records written
// since they were added) its chunk subject's id, chunk count and the
// stream sequence of its first chunk, so reads need no metadata lookup and
// start right at the data.
type part struct {
	Name   string `json:"o"`
	Size   int64  `json:"n"`
	ID     string `json:"i,omitempty"`
	Chunks int    `json:"c,omitempty"`
	Seq    uint64 `json:"s,omitempty"`
	// Run says the chunks are at Seq, Seq+1, ... (one writer had the
	// stream to itself while it stored them); otherwise Seqs lists where
	// each chunk is, when known. Either lets a read ask for every chunk by
	// its sequence, many requests in flight at once (see seqReader).
	Run  bool     `json:"r,omitempty"`
	Seqs []uint64 `json:"q,omitempty"`
}

// chunkSeq returns where chunk i of the part is in the stream, if known.
func (p part) chunkSeq(i int) (uint64, bool) {
	switch {
	case p.ID == "" || p.Seq == 0 || i >= p.Chunks:
		return 0, false
	case p.Run || p.Chunks == 1:
		return p.Seq + uint64(i), true
	case len(p.Seqs) == p.Chunks:
		return p.Seqs[i], true
	}
	return 0, false
}

// seqKnown reports whether every chunk's sequence is known.
func (p part) seqKnown() bool {
	_, ok := p.chunkSeq(max(p.Chunks-1, 0))
	return ok || p.Size == 0
}

// uploadRecord is up.<id>.
type uploadRecord struct {
	ID        string    `json:"id"`
	Repo      string    `json:"repo"`
	Alg       string    `json:"alg"`
	Offset    int64     `json:"offset"`
	State     []byte    `json:"state,omitempty"`
	Parts     []part    `json:"parts,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Closing is the digest the session is being completed as: the parts
	// are final and no chunk may follow. A completion that was interrupted
	// is finished by the next PUT.
	Closing string `json:"closing,omitempty"`
}

func encodeManifest(m *manifestRecord) ([]byte, error) {
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(meta)+1+len(m.Bytes))
	out = append(out, meta...)
	out = append(out, '\n')
	return append(out, m.Bytes...), nil
}

func decodeManifest(v []byte) (*manifestRecord, error) {
	meta, raw, ok := bytes.Cut(v, []byte{'\n'})
	if !ok {
		return nil, errors.New("manifest record without body")
	}
	var m manifestRecord
	if err := json.Unmarshal(meta, &m); err != nil {
		return nil, fmt.Errorf("decode manifest record: %w", err)
	}
	m.Bytes = raw
	return &m, nil
}

// entry is the latest state of one key: its value, whether it exists, and
// its revision (the revision of the delete marker for a deleted key, 0 for
// a key never written), which is what a write must expect.
type entry struct {
	Key    string
	Value  []byte
	Rev    uint64
	Exists bool
	Time   time.Time
}

// get reads the latest state of key.
func (st *store) get(ctx context.Context, key string) (entry, error) {
	msg, err := st.kvStream.GetLastMsgForSubject(ctx, natsutil.KVSubject(events.BucketRegistry.Name, key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return entry{Key: key}, nil
	}
	if err != nil {
		return entry{}, fmt.Errorf("get %s: %w", key, err)
	}
	e := entry{Key: key, Rev: msg.Sequence, Time: msg.Time}
	switch msg.Header.Get("KV-Operation") {
	case "DEL", "PURGE":
	default:
		e.Exists = true
		e.Value = msg.Data
	}
	return e, nil
}

// getJSON reads key into v; ok is false when the key does not exist.
func (st *store) getJSON(ctx context.Context, key string, v any) (entry, bool, error) {
	e, err := st.get(ctx, key)
	if err != nil || !e.Exists {
		return e, false, err
	}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return e, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return e, true, nil
}

// scan returns every existing key matching filter with its value.
func (st *store) scan(ctx context.Context, filter string) ([]jetstream.KeyValueEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	w, err := st.kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", filter, err)
	}
	defer func() { _ = w.Stop() }()
	var out []jetstream.KeyValueEntry
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("scan %s: watcher closed", filter)
			}
			if e == nil {
				return out, nil
			}
			out = append(out, e)
		case <-ctx.Done():
			return nil, fmt.Errorf("scan %s: %w", filter, ctx.Err())
		}
	}
}

// keys lists the existing keys matching filter.
func (st *store) keys(ctx context.Context, filter string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	l, err := st.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", filter, err)
	}
	var out []string
	for k := range l.Keys() {
		out = append(out, k)
	}
	return out, ctx.Err()
}

// put, putAny, del and delAny build single-key writes: with an expected
// revision (0: the key must never have been written, or its delete marker's
// revision), or unconditional.
func put(key string, value []byte, rev uint64) natsutil.KVWrite {
	return natsutil.KVWrite{Bucket: events.BucketRegistry.Name, Key: key, Value: value, Revision: rev}
}

func putAny(key string, value []byte) natsutil.KVWrite {
	return natsutil.KVWrite{Bucket: events.BucketRegistry.Name, Key: key, Value: value, AnyRevision: true}
}

func del(key string, rev uint64) natsutil.KVWrite {
	return natsutil.KVWrite{Bucket: events.BucketRegistry.Name, Key: key, Delete: true, Revision: rev}
}

func delAny(key string) natsutil.KVWrite {
	return natsutil.KVWrite{Bucket: events.BucketRegistry.Name, Key: key, Delete: true, AnyRevision: true}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("registry: marshal %T: %v", v, err))
	}
	return b
}

// write commits one key (a JetStream publish with the expected revision:
// about 80 µs, where a multi-key atomic batch costs milliseconds on file
// storage) and returns its new revision; a stale revision is
// natsutil.ErrConflict. Changes that span keys are ordered so that one write
// is the commit point and the others are derived from it: written before it
// they stay invisible until it exists, written after it they are re-created
// by a retry or ignored (and collected) when found without it.
//
// A write may carry events (announce): they are published once it is
// committed, here, and by the relay if this replica dies first.
func (st *store) write(ctx context.Context, w natsutil.KVWrite) (uint64, error) {
	rev, err := natsutil.CommitKV(ctx, st.nc, []natsutil.KVWrite{w})
	if err != nil || len(w.Header) == 0 {
		return rev, err
	}
	if f := afterCommit.Load(); f != nil {
		(*f)(w)
	}
	evs, _ := outbox.Attached(w.Header)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if perr := st.out.Publish(pctx, evs...); perr != nil {
		st.log.Warn("publish event; the relay will", "key", w.Key, "err", perr)
	}
	return rev, nil
}

// revisions returns the existing keys matching filter with their revisions,
// without reading their values.
func (st *store) revisions(ctx context.Context, filter string) (map[string]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	w, err := st.kv.Watch(ctx, filter, jetstream.IgnoreDeletes(), jetstream.MetaOnly())
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", filter, err)
	}
	defer func() { _ = w.Stop() }()
	out := map[string]uint64{}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("scan %s: watcher closed", filter)
			}
			if e == nil {
				return out, nil
			}
			out[e.Key()] = e.Revision()
		case <-ctx.Done():
			return nil, fmt.Errorf("scan %s: %w", filter, ctx.Err())
		}
	}
}

// each runs fn(0..n-1), at most limit at a time, and returns the first
// error.
func each(n, limit int, fn func(i int) error) error {
	if n == 1 {
		return fn(0)
	}
	sem := make(chan struct{}, limit)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- fn(i)
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// retry runs fn until it succeeds or fails with something other than a
// revision conflict; fn re-reads what it needs on every attempt.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range 20 {
		if err = fn(); err == nil || !natsutil.IsConflict(err) {
			return err
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
	return fmt.Errorf("too much contention: %w", err)
}

// backoff waits a little longer with every attempt, randomly.
func backoff(ctx context.Context, attempt int) error {
	wait := time.Duration(1+min(attempt*attempt, 100)) * time.Millisecond
	wait += time.Duration(rand.Int64N(int64(wait)))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
		return nil
	}
}
