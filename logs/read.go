package logs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// fetchBatch is how many chunks one fetch asks for.
const fetchBatch = 64

// chunk is one stored message of the LOGS stream.
type chunk struct {
	seq     uint64
	subject string
	ingest  int64 // ms
	data    []byte
}

// scanFrom says where a scan starts: at a stream sequence, or at the first
// chunk ingested at or after a time.
type scanFrom struct {
	seq  uint64
	time time.Time
}

// scan reads the chunks on subjects in stream order from start, calling fn
// for each until fn returns false or the stream ends. It never holds more
// than one fetch (fetchBatch chunks) in memory. It returns whether the end
// of the stream was reached.
func (s *Service) scan(ctx context.Context, subjects []string, start scanFrom, fn func(c chunk) bool) (bool, error) {
	cons, pending, err := s.consumer(ctx, subjects, start)
	if err != nil {
		return false, err
	}
	defer s.dropConsumer(cons)
	// Fetches start small and grow: a page often ends within a few chunks.
	size := uint64(2)
	for pending > 0 {
		batch, err := cons.FetchNoWait(int(min(pending, size)))
		size = min(size*2, fetchBatch)
		if err != nil {
			return false, fmt.Errorf("fetch logs: %w", err)
		}
		got := 0
		stop := false
		for m := range batch.Messages() {
			got++
			if stop {
				continue
			}
			meta, err := m.Metadata()
			if err != nil {
				return false, fmt.Errorf("log chunk metadata: %w", err)
			}
			pending = meta.NumPending
			if !fn(chunk{seq: meta.Sequence.Stream, subject: m.Subject(), ingest: meta.Timestamp.UnixMilli(), data: m.Data()}) {
				stop = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return false, fmt.Errorf("fetch logs: %w", err)
		}
		if stop {
			return pending == 0, nil
		}
		if got == 0 {
			break // purged under us
		}
	}
	return true, nil
}

// consumer creates a throw-away consumer and returns how many chunks it
// has to deliver.
func (s *Service) consumer(ctx context.Context, subjects []string, start scanFrom) (jetstream.Consumer, uint64, error) {
	cfg := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 30 * time.Second,
		MemoryStorage:     true,
		Replicas:          1,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
	}
	if len(subjects) == 1 {
		cfg.FilterSubject = subjects[0]
	} else {
		cfg.FilterSubjects = subjects
	}
	switch {
	case start.seq > 0:
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = start.seq
	case !start.time.IsZero():
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		t := start.time
		cfg.OptStartTime = &t
	}
	cons, err := s.stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("read logs: %w", err)
	}
	return cons, cons.CachedInfo().NumPending, nil
}

func (s *Service) dropConsumer(cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.stream.DeleteConsumer(ctx, cons.CachedInfo().Name)
}

// countFrom is the number of chunks on subject at or after seq.
func (s *Service) countFrom(ctx context.Context, subject string, seq uint64) (uint64, error) {
	cons, n, err := s.consumer(ctx, []string{subject}, scanFrom{seq: max(seq, 1)})
	if err != nil {
		return 0, err
	}
	s.dropConsumer(cons)
	return n, nil
}

// startAtOrBefore finds the largest sequence x <= hi such that at least
// want chunks of subject lie in [x, hi] (1 when there are fewer).
func (s *Service) startAtOrBefore(ctx context.Context, subject string, hi uint64, want uint64) (uint64, error) {
	above, err := s.countFrom(ctx, subject, hi+1)
	if err != nil {
		return 0, err
	}
	lo, x := uint64(1), uint64(1)
	for lo <= hi {
		mid := lo + (hi-lo)/2
		n, err := s.countFrom(ctx, subject, mid)
		if err != nil {
			return 0, err
		}
		if n-above >= want {
			x = mid
			lo = mid + 1
		} else {
			if mid == 0 {
				break
			}
			hi = mid - 1
		}
	}
	return x, nil
}

// streamName recovers the log stream name from a chunk subject.
func streamName(subject string) string {
	i := len(subject) - 1
	for i >= 0 && subject[i] != '.' {
		i--
	}
	name, err := events.ParseToken(subject[i+1:])
	if err != nil {
		return subject[i+1:]
	}
	return name
}

// retentionFloor is the oldest timestamp a group still shows.
func (s *Service) retentionFloor(g events.LogGroupRecord) int64 {
	if g.RetentionInDays <= 0 {
		return -1 << 62
	}
	return s.nowMS() - int64(g.RetentionInDays)*retentionDayMS
}
