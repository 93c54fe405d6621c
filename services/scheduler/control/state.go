package control

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/members"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/outbox"
)

// stateStore reads and writes events.BucketECSState: container instances,
// tasks, the agents' assignments and this service's index keys. Writes that
// belong together go out in one atomic batch with the revisions read.
type stateStore struct {
	nc     *nats.Conn
	kv     jetstream.KeyValue
	stream jetstream.Stream // KV_<bucket>, for reading delete markers
	bucket string
	// out publishes, after a commit, the events its writes carry.
	out *outbox.Publisher
}

// loseDigests, when set (tests only), drops every feed digest instead of
// publishing it: the replicas must read what they missed from the stream.
var loseDigests atomic.Bool

// afterCommit, when set (tests only), runs right after every successful
// commit, before anything is published: a test stops the process there.
var afterCommit func(writes []natsutil.KVWrite)

// getInstance reads an instance record (nil, 0 when absent).
func (s *stateStore) getInstance(ctx context.Context, cluster, id string) (*events.InstanceRecord, uint64, error) {
	return getDecoded(ctx, s.kv, events.InstanceKey(cluster, id), decodeInstance)
}

// getTask reads a task record (nil, 0 when absent).
func (s *stateStore) getTask(ctx context.Context, cluster, id string) (*events.TaskRecord, uint64, error) {
	return getJSON[events.TaskRecord](ctx, s.kv, events.TaskKey(cluster, id))
}

// last returns the latest message stored for key, delete markers included:
// its value (nil for a marker), its revision (0 when the key was never
// written or its history is gone) and whether it is a marker. A Create of a
// key that was deleted must expect the marker's revision.
func (s *stateStore) last(ctx context.Context, key string) ([]byte, uint64, bool, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, natsutil.KVSubject(s.bucket, key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("get %s: %w", key, err)
	}
	if kvDeleted(m.Header) {
		return nil, m.Sequence, true, nil
	}
	return m.Data, m.Sequence, false, nil
}

// kvDeleted reports whether a stored message of a KV bucket is a delete or
// purge marker.
func kvDeleted(h nats.Header) bool {
	switch h.Get("KV-Operation") {
	case "DEL", "PURGE":
		return true
	}
	return false
}

// batch collects the writes of one atomic commit.
type batch struct {
	bucket string
	writes []natsutil.KVWrite
	// forms holds, by write index, what the feed announces instead of a
	// write's value (feed.go).
	forms map[int]feedForm
}

// feedForm is what the feed announces of a write instead of its value: a
// task's summary, the only part of a task record the caches keep, or an
// instance's placement delta (instdelta.go).
type feedForm struct {
	delta   bool
	payload []byte
}

// announceAs makes the feed announce write i in the form f.
func (b *batch) announceAs(i int, f feedForm) {
	if b.forms == nil {
		b.forms = map[int]feedForm{}
	}
	b.forms[i] = f
}

func (s *stateStore) newBatch() *batch { return &batch{bucket: s.bucket} }

// put adds a write of v at key, which must have revision rev (0: the key
// must not exist). It returns the write's index.
func (b *batch) put(key string, v any, rev uint64) int {
	return b.add(natsutil.KVWrite{Bucket: b.bucket, Key: key, Value: mustJSON(v), Revision: rev})
}

// putInstance adds a write of the instance record r at the instance's key,
// in its stored form (instcodec.go), if the key is still at rev.
func (b *batch) putInstance(cluster, id string, r *events.InstanceRecord, rev uint64) int {
	return b.put(events.InstanceKey(cluster, id), instanceValue(r), rev)
}

// putPlacement is putInstance for a placement round's write, which
// changes only the placement fields of the record at rev: the feed
// announces it as a delta from rev (instdelta.go).
func (b *batch) putPlacement(r *events.InstanceRecord, rev uint64) int {
	i := b.putInstance(r.Cluster, r.ID, r, rev)
	b.announceAs(i, feedForm{delta: true, payload: placementDelta(rev, r)})
	return i
}

// putTask adds a write of the task record t, if its key is still at rev
// (0: it must not exist), and returns the write's index. The feed
// announces the task's summary.
func (b *batch) putTask(t *events.TaskRecord, rev uint64) int {
	i := b.put(events.TaskKey(t.Cluster, t.ID), t, rev)
	b.announceAs(i, feedForm{payload: mustJSON(summarize(t))})
	return i
}

// putAny adds a write of v at key whatever its revision. Only for keys that
// are always written together with a key checked in the same batch.
func (b *batch) putAny(key string, v any) int {
	return b.add(natsutil.KVWrite{Bucket: b.bucket, Key: key, Value: mustJSON(v), AnyRevision: true})
}

// del adds a delete of key; with rev 0 its revision is not checked.
func (b *batch) del(key string, rev uint64) int {
	return b.add(natsutil.KVWrite{Bucket: b.bucket, Key: key, Delete: true, Revision: rev, AnyRevision: rev == 0})
}

// carry makes write i carry evs: events of the record it replaces that may
// not have been published (internal/outbox). They are published after the
// commit, and the relay finds them on the write.
func (b *batch) carry(i int, evs ...outbox.Event) {
	w := &b.writes[i]
	if w.Header == nil {
		w.Header = nats.Header{}
	}
	outbox.Attach(w.Header, evs...)
}

// eventIDHeader names, on a task or instance record write, the
// Nats-Msg-Id of the record's event, so the relay can tell it was
// published without decoding the record.
const eventIDHeader = "Berth-Event-Id"

// eventID marks write i as the record whose event has Nats-Msg-Id id.
func (b *batch) eventID(i int, id string) {
	w := &b.writes[i]
	if w.Header == nil {
		w.Header = nats.Header{}
	}
	w.Header.Set(eventIDHeader, id)
}

func (b *batch) add(w natsutil.KVWrite) int {
	b.writes = append(b.writes, w)
	return len(b.writes) - 1
}

// commit writes the batch atomically and returns each write's new revision
// (an atomic batch is stored as consecutive stream sequences). A stale
// revision anywhere returns an error matching natsutil.ErrConflict and
// changes nothing.
func (s *stateStore) commit(ctx context.Context, b *batch) ([]uint64, error) {
	if len(b.writes) == 0 {
		return nil, nil
	}
	last, err := natsutil.CommitKV(ctx, s.nc, b.writes)
	if err != nil {
		return nil, err
	}
	if afterCommit != nil {
		afterCommit(b.writes)
	}
	s.announce(last-uint64(len(b.writes)-1), b)
	for _, w := range b.writes {
		if len(w.Header) > 0 && s.out != nil {
			evs, _ := outbox.Attached(w.Header)
			s.out.Later(evs...)
		}
	}
	revs := make([]uint64, len(b.writes))
	for i := range revs {
		revs[i] = last - uint64(len(revs)-1-i)
	}
	return revs, nil
}

// put writes v at key whatever its revision, as a commit of its own (so
// that it is announced like every other write).
func (s *stateStore) put(ctx context.Context, key string, v any) error {
	b := s.newBatch()
	b.putAny(key, v)
	_, err := s.commit(ctx, b)
	return err
}

// del deletes key, which must be at revision rev, as a commit of its own.
func (s *stateStore) del(ctx context.Context, key string, rev uint64) error {
	b := s.newBatch()
	b.del(key, rev)
	_, err := s.commit(ctx, b)
	return err
}

// announce publishes the feed digests of a commit whose first write is at
// sequence first, for every replica's cache (feed.go). A digest that does
// not go out is not an error here: the replicas read the hole from the
// stream.
func (s *stateStore) announce(first uint64, b *batch) {
	if loseDigests.Load() {
		return
	}
	limit := min(maxDigestBytes, int(s.nc.MaxPayload())/2)
	for _, d := range encodeDigests(first, b.writes, b.forms, limit) {
		_ = s.nc.Publish(subjFeed, d)
	}
}

func mustJSON(v any) []byte {
	raw, err := jsonx.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("control: marshal %T: %v", v, err))
	}
	return raw
}

// background runs the service's long-lived loops: the state watch, the
// heartbeat tracker, the connectivity detector, the report consumer and the
// janitor.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	stops  []func()

	mu      sync.Mutex
	stopped bool
}

// goRun runs fn until the background stops; it reports false (and runs
// nothing) once stopping has begun.
func (b *background) goRun(fn func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
	return true
}

// stop ends every loop and waits for them; it may be called more than once.
func (b *background) stop() {
	b.once.Do(func() {
		for _, f := range b.stops {
			f()
		}
		b.mu.Lock()
		b.stopped = true
		b.mu.Unlock()
		b.cancel()
		b.wg.Wait()
	})
}

// startState ensures the bucket and streams of the scheduler's state,
// loads the caches and starts the background loops.
func (s *Service) startState(ctx context.Context) (*background, error) {
	kv, err := natsutil.EnsureKV(ctx, s.js, events.BucketECSState, s.cfg.Replicas)
	if err != nil {
		return nil, err
	}
	st, err := s.js.Stream(ctx, "KV_"+events.BucketECSState.Name)
	if err != nil {
		return nil, fmt.Errorf("control: state stream: %w", err)
	}
	for _, def := range []events.StreamDef{events.StreamEvents, events.StreamHeartbeats, events.StreamAgentReports} {
		if _, err := natsutil.EnsureStream(ctx, s.js, def, s.cfg.Replicas); err != nil {
			return nil, err
		}
	}
	out := outbox.New(outbox.Config{JS: s.js, Log: s.log, Share: events.SubjEventsStored(events.ServiceScheduler)})
	s.state = &stateStore{nc: s.nc, kv: kv, stream: st, bucket: events.BucketECSState.Name, out: out}
	s.pub = &publisher{out: out, region: s.cfg.Region, account: s.cfg.Account, log: s.log, counts: s.cache.taskCounts}

	bctx, cancel := context.WithCancel(context.Background())
	bg := &background{cancel: cancel}
	s.bg, s.bgCtx = bg, bctx
	fail := func(err error) (*background, error) {
		bg.stop()
		return nil, err
	}
	s.feed = &feed{
		stream: st, bucket: events.BucketECSState.Name, log: s.log, grace: feedGrace,
		apply: func(e feedEntry) bool { return s.cache.apply(e, s.log) },
	}
	synced := make(chan error, 1)
	bg.goRun(func() { s.followState(bctx, synced) })
	if err := waitSynced(ctx, synced); err != nil {
		return fail(fmt.Errorf("control: load state: %w", err))
	}
	if s.members, err = members.Join(ctx, s.js, members.Config{
		Bucket: events.BucketSchedMembers, Replicas: s.cfg.Replicas, Interval: s.cfg.MemberInterval,
		What: "placement shards", Log: s.log,
	}); err != nil {
		return fail(fmt.Errorf("control: %w", err))
	}
	bg.stops = append(bg.stops, s.members.Start(bctx))
	s.cache.members.Store(s.members)
	hbSynced := make(chan error, 1)
	bg.goRun(func() { s.hb.run(bctx, s.js, s.log, hbSynced) })
	if err := waitSynced(ctx, hbSynced); err != nil {
		return fail(fmt.Errorf("control: load heartbeats: %w", err))
	}
	bg.goRun(func() { out.Run(bctx) })
	// The relay announces what a replica committed and did not publish
	// (it died first): task and instance records, once Grace old.
	relay, err := out.Relay(ctx, outbox.RelayConfig{
		Bucket:  events.BucketECSState.Name,
		Keys:    []string{recordsFilter},
		Events:  s.pub.relayEvents,
		Grace:   s.cfg.RelayGrace,
		AckWait: s.cfg.RelayAckWait,
	})
	if err != nil {
		return fail(err)
	}
	bg.stops = append(bg.stops, relay.Stop)
	reports, err := s.startReports(bctx)
	if err != nil {
		return fail(err)
	}
	bg.stops = append(bg.stops, reports.stop)
	bg.goRun(func() { s.runDetector(bctx) })
	bg.goRun(func() { s.runJanitor(bctx) })
	return bg, nil
}

// followState loads the cache and keeps it current with the feed until ctx
// ends; the load's outcome goes to synced. The feed hears digests from
// before the stream's last sequence is read (the subscription is in place
// first), so every commit after that sequence reaches the cache.
func (s *Service) followState(ctx context.Context, synced chan<- error) {
	sub, err := s.feed.subscribe(s.nc)
	if err != nil {
		synced <- err
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	info, err := s.state.stream.Info(ctx)
	if err != nil {
		synced <- fmt.Errorf("control: state stream: %w", err)
		return
	}
	if err := s.cache.load(ctx, s.state.kv, s.log); err != nil {
		synced <- err
		return
	}
	s.feed.start(info.State.LastSeq)
	synced <- nil
	s.feed.run(ctx)
}

func waitSynced(ctx context.Context, synced <-chan error) error {
	select {
	case err := <-synced:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
