package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// The collector reads whole key spaces (every manifest, link, blob record,
// part object). It does so page by page through a pull consumer, so what it
// holds at once is one page (walkPage messages, at most walkBytes), never
// the whole key space: a registry with many large manifests is collected
// in bounded memory.
const (
	walkPage  = 64
	walkBytes = 1 << 20
)

// item is the latest message of one subject of a walk.
type item struct {
	Subject string
	Rev     uint64
	Time    time.Time
	Data    []byte
	Deleted bool // a KV delete or purge marker
}

// walkLast calls fn, page by page, with the last message of every subject
// of stream matching filter (delete markers included). fn may write to the
// stream; what it writes is visited again at the end (a delete marker, for
// a delete).
func (st *store) walkLast(ctx context.Context, stream jetstream.Stream, filter string, fn func(item) error) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cons, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     filter,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", filter, err)
	}
	defer func() { _ = stream.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name) }()
	pending := cons.CachedInfo().NumPending
	big := false // the next message is larger than walkBytes
	for pending > 0 {
		// A single message may be larger than walkBytes (a manifest record
		// is up to max_payload): such a page holds just it.
		n, maxBytes := int(min(pending, walkPage)), walkBytes
		if big {
			n, maxBytes = 1, int(st.nc.MaxPayload())+64<<10
		}
		batch, err := cons.Fetch(n, jetstream.FetchMaxBytes(maxBytes), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("walk %s: %w", filter, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("walk %s: %w", filter, err)
			}
			pending = meta.NumPending
			op := m.Headers().Get("KV-Operation")
			it := item{Subject: m.Subject(), Rev: meta.Sequence.Stream, Time: meta.Timestamp, Data: m.Data(), Deleted: op == "DEL" || op == "PURGE"}
			if err := fn(it); err != nil {
				return err
			}
		}
		err = batch.Error()
		if big = got == 0 && errors.Is(err, jetstream.ErrMaxBytesExceeded); big {
			continue
		}
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("walk %s: %w", filter, err)
		}
		if got == 0 {
			// Nothing came in time: what was pending was purged meanwhile.
			return ctx.Err()
		}
	}
	return nil
}

// kvItem is one key of the registry bucket met by walkKeys.
type kvItem struct {
	item
	Key string
}

// walkKeys walks the keys of the registry bucket matching filter (deleted
// ones included when deleted is true).
func (st *store) walkKeys(ctx context.Context, filter string, deleted bool, fn func(kvItem) error) error {
	prefix := "$KV." + events.BucketRegistry.Name + "."
	return st.walkLast(ctx, st.kvStream, prefix+filter, func(it item) error {
		if it.Deleted && !deleted {
			return nil
		}
		return fn(kvItem{item: it, Key: strings.TrimPrefix(it.Subject, prefix)})
	})
}

// walkObjects walks the part objects' metadata (deleted ones included).
func (st *store) walkObjects(ctx context.Context, fn func(name string, it item, info *jetstream.ObjectInfo) error) error {
	prefix := "$O." + events.ObjectStoreBlobs.Name + ".M."
	return st.walkLast(ctx, st.objStream, prefix+">", func(it item) error {
		raw, err := base64.URLEncoding.DecodeString(strings.TrimPrefix(it.Subject, prefix))
		if err != nil {
			return nil // not one of ours
		}
		var info jetstream.ObjectInfo
		if err := json.Unmarshal(it.Data, &info); err != nil {
			return nil
		}
		return fn(string(raw), it, &info)
	})
}

// purgeKey removes every message of a key from the bucket, delete marker
// included: for keys never written again (upload sessions have unique
// ids), a delete would leave its marker behind forever.
func (st *store) purgeKey(ctx context.Context, key string) error {
	err := st.kvStream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+events.BucketRegistry.Name+"."+key))
	if err != nil {
		return fmt.Errorf("purge %s: %w", key, err)
	}
	return nil
}
