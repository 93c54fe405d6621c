package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// series is one metric (namespace, name, dimensions) and its datapoints in
// time order.
type series struct {
	metric events.Metric
	points []events.StoredPoint
	sorted bool
	last   time.Time // newest datapoint timestamp
}

// seriesKey is the canonical key of a metric: dimensions sorted by name.
func seriesKey(ns, name string, dims []events.Dimension) string {
	d := slices.Clone(dims)
	sort.Slice(d, func(i, j int) bool { return d[i].Name < d[j].Name })
	var b strings.Builder
	b.WriteString(ns)
	b.WriteByte(0)
	b.WriteString(name)
	for _, x := range d {
		b.WriteByte(0)
		b.WriteString(x.Name)
		b.WriteByte(1)
		b.WriteString(x.Value)
	}
	return b.String()
}

// store is a replica's read view of StreamMetricData: every replica
// follows the whole stream with its own ordered consumer, and a query first
// waits until the view has caught up with the stream's last sequence, so a
// datapoint written through any replica is visible to the next read
// through any other.
type store struct {
	stream jetstream.Stream
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	changed *sync.Cond
	applied uint64
	byKey   map[string]*series
}

func newStore(stream jetstream.Stream, log *slog.Logger, now func() time.Time) *store {
	s := &store{stream: stream, log: log, now: now, byKey: map[string]*series{}}
	s.changed = sync.NewCond(&s.mu)
	return s
}

// follow applies the stream to the view until ctx ends.
func (s *store) follow(ctx context.Context) error {
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("metrics: follow datapoints: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		var b events.StoredBatch
		if err := json.Unmarshal(m.Data(), &b); err != nil {
			s.log.Warn("bad datapoint batch", "seq", md.Sequence.Stream, "err", err)
		}
		s.apply(md.Sequence.Stream, b.Points)
	})
	if err != nil {
		return fmt.Errorf("metrics: follow datapoints: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	s.mu.Lock()
	s.changed.Broadcast()
	s.mu.Unlock()
	return nil
}

func (s *store) apply(seq uint64, pts []events.StoredPoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range pts {
		k := seriesKey(p.Namespace, p.MetricName, p.Dimensions)
		sr := s.byKey[k]
		if sr == nil {
			sr = &series{metric: events.Metric{Namespace: p.Namespace, MetricName: p.MetricName, Dimensions: p.Dimensions}, sorted: true}
			if sr.metric.Dimensions == nil {
				sr.metric.Dimensions = []events.Dimension{}
			}
			s.byKey[k] = sr
		}
		if n := len(sr.points); n > 0 && p.Time.Before(sr.points[n-1].Time) {
			sr.sorted = false
		}
		sr.points = append(sr.points, p)
		if p.Time.After(sr.last) {
			sr.last = p.Time
		}
	}
	if seq > s.applied {
		s.applied = seq
	}
	s.changed.Broadcast()
}

// errNotCaughtUp: the view did not reach the stream's end in time.
var errNotCaughtUp = errors.New("metrics: datapoint view is behind the stream")

// sync waits until the view holds everything the stream held when sync
// was called.
func (s *store) sync(ctx context.Context) error {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("metrics: stream info: %w", err)
	}
	target := info.State.LastSeq
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.changed.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.applied < target {
		if ctx.Err() != nil {
			return errNotCaughtUp
		}
		s.changed.Wait()
	}
	return nil
}

// points calls fn with the series' points in [from, to), under the view's
// lock (fn must not keep the slice).
func (s *store) points(key string, from, to time.Time, fn func([]events.StoredPoint)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.byKey[key]
	if sr == nil {
		return
	}
	if !sr.sorted {
		sort.SliceStable(sr.points, func(i, j int) bool { return sr.points[i].Time.Before(sr.points[j].Time) })
		sr.sorted = true
	}
	lo := sort.Search(len(sr.points), func(i int) bool { return !sr.points[i].Time.Before(from) })
	hi := sort.Search(len(sr.points), func(i int) bool { return !sr.points[i].Time.Before(to) })
	fn(sr.points[lo:hi])
}

// metrics returns the metrics with a datapoint newer than since, in a
// stable order.
func (s *store) metrics(since time.Time) []events.Metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.byKey))
	for k, sr := range s.byKey {
		if sr.last.After(since) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]events.Metric, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.byKey[k].metric)
	}
	return out
}

// expire drops datapoints older than the stream keeps them.
func (s *store) expire(before time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sr := range s.byKey {
		kept := sr.points[:0]
		for _, p := range sr.points {
			if !p.Time.Before(before) {
				kept = append(kept, p)
			}
		}
		sr.points = kept
		if len(kept) == 0 && sr.last.Before(before) {
			delete(s.byKey, k)
		}
	}
}
