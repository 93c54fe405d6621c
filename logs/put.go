package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/logsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// PutLogEvents limits (AWS's).
const (
	MaxBatchEvents   = 10000
	MaxBatchBytes    = 1048576
	EventOverhead    = 26
	MaxBatchSpan     = 24 * time.Hour
	MaxFuture        = 2 * time.Hour
	MaxAge           = 14 * 24 * time.Hour
	retentionDayMS   = int64(24 * time.Hour / time.Millisecond)
	maxFutureMS      = int64(MaxFuture / time.Millisecond)
	maxAgeMS         = int64(MaxAge / time.Millisecond)
	maxBatchSpanMS   = int64(MaxBatchSpan / time.Millisecond)
	storeStatRetries = 50
)

// batchCheck is the outcome of AWS's batch rules: either an error (nothing
// is stored) or the accepted range [from, to) plus what was rejected.
type batchCheck struct {
	from, to int
	rejected *logsapi.RejectedLogEventsInfo
}

// CheckBatch applies PutLogEvents' rules to a batch at time now (epoch ms)
// for a group with the given retention (0: none).
func CheckBatch(evs []logsapi.InputLogEvent, now int64, retentionDays int32) (from, to int, rejected *logsapi.RejectedLogEventsInfo, err error) {
	c, err := checkBatch(evs, now, retentionDays)
	return c.from, c.to, c.rejected, err
}

func checkBatch(evs []logsapi.InputLogEvent, now int64, retentionDays int32) (batchCheck, error) {
	var c batchCheck
	switch {
	case evs == nil:
		return c, validation("null", "logEvents", "Member must not be null")
	case len(evs) == 0:
		return c, validation("'[]'", "logEvents", "Member must have length greater than or equal to 1")
	case len(evs) > MaxBatchEvents:
		return c, validation("'[...]'", "logEvents", "Member must have length less than or equal to 10000")
	}
	size := 0
	for i, ev := range evs {
		member := "logEvents." + strconv.Itoa(i+1) + ".member."
		if ev.Timestamp == nil {
			return c, validation("null", member+"timestamp", "Member must not be null")
		}
		if ev.Message == "" {
			return c, validation("''", member+"message", "Member must have length greater than or equal to 1")
		}
		size += len(ev.Message) + EventOverhead
		if i > 0 && *ev.Timestamp < *evs[i-1].Timestamp {
			return c, apierr.InvalidParameter("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}
	if size > MaxBatchBytes {
		return c, apierr.InvalidParameter("Upload too large: %d bytes exceeds limit of %d", size, MaxBatchBytes)
	}
	if *evs[len(evs)-1].Timestamp-*evs[0].Timestamp > maxBatchSpanMS {
		return c, apierr.InvalidParameter("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	c.from, c.to = 0, len(evs)
	var info logsapi.RejectedLogEventsInfo
	tooOld := now - maxAgeMS
	expired := int64(-1 << 62)
	if retentionDays > 0 {
		expired = now - int64(retentionDays)*retentionDayMS
	}
	for i, ev := range evs {
		ts := *ev.Timestamp
		if ts < tooOld {
			info.TooOldLogEventEndIndex = ptr(int32(i + 1))
			c.from = max(c.from, i+1)
		}
		if ts < expired {
			info.ExpiredLogEventEndIndex = ptr(int32(i + 1))
			c.from = max(c.from, i+1)
		}
		if ts > now+maxFutureMS && c.to == len(evs) {
			info.TooNewLogEventStartIndex = ptr(int32(i))
			c.to = i
		}
	}
	if c.to < c.from {
		c.to = c.from
	}
	if info != (logsapi.RejectedLogEventsInfo{}) {
		c.rejected = &info
	}
	return c, nil
}

func ptr[T any](v T) *T { return &v }

func (s *Service) putLogEvents(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.PutLogEventsRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	if err := checkStreamName(in.LogStreamName); err != nil {
		return nil, err
	}
	g, _, err := s.getGroup(ctx, in.LogGroupName)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.getStream(ctx, in.LogGroupName, in.LogStreamName); err != nil {
		return nil, err
	}
	now := s.nowMS()
	c, err := checkBatch(in.LogEvents, now, g.RetentionInDays)
	if err != nil {
		return nil, err
	}
	out := logsapi.PutLogEventsResponse{RejectedLogEventsInfo: c.rejected}
	accepted := make([]events.LogEvent, 0, c.to-c.from)
	for _, ev := range in.LogEvents[c.from:c.to] {
		accepted = append(accepted, events.LogEvent{Timestamp: *ev.Timestamp, Message: ev.Message})
	}
	seq, err := s.store(ctx, in.LogGroupName, in.LogStreamName, accepted, nil)
	if err != nil {
		return nil, err
	}
	out.NextSequenceToken = sequenceToken(seq)
	return out, nil
}

// store writes accepted events as one chunk (nothing when empty), then
// updates the stream's statistics. hdr adds headers (the agent's cursor and
// expected last sequence). It returns the chunk's stream sequence.
func (s *Service) store(ctx context.Context, group, stream string, evs []events.LogEvent, hdr nats.Header) (uint64, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	size := 0
	for _, ev := range evs {
		size += len(ev.Message) + 24
	}
	body := make([]byte, 0, size)
	var bytes int64
	for _, ev := range evs {
		body = events.AppendLogChunk(body, ev)
		bytes += int64(len(ev.Message))
	}
	msg := nats.NewMsg(events.SubjLogs(group, stream))
	msg.Data = body
	for k, v := range hdr {
		msg.Header[k] = v
	}
	msg.Header.Set(events.HeaderLogCount, strconv.Itoa(len(evs)))
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		return 0, err
	}
	s.updateStats(ctx, group, stream, evs[0].Timestamp, evs[len(evs)-1].Timestamp, bytes)
	return ack.Sequence, nil
}

// updateStats folds a stored chunk into the stream record. The events are
// already stored: a failure here only leaves the statistics stale.
func (s *Service) updateStats(ctx context.Context, group, stream string, first, last, bytes int64) {
	now := s.nowMS()
	for range storeStatRetries {
		rec, rev, err := s.getStream(ctx, group, stream)
		if err != nil {
			return
		}
		if rec.FirstEventTimestamp == 0 || first < rec.FirstEventTimestamp {
			rec.FirstEventTimestamp = first
		}
		rec.LastEventTimestamp = max(rec.LastEventTimestamp, last)
		rec.LastIngestionTime = max(rec.LastIngestionTime, now)
		rec.StoredBytes += bytes
		b, _ := json.Marshal(rec)
		_, err = s.kv.Update(ctx, streamKey(group, stream), b, rev)
		if err == nil || !natsutil.IsConflict(err) {
			if err != nil {
				s.cfg.Log.Warn("stream statistics", "group", group, "stream", stream, "err", err)
			}
			return
		}
	}
}

// ship stores a batch of container output from an agent, exactly once: the
// last chunk of the stream carries the cursor of its last event; events at
// or before it are dropped, and the chunk is written only if no other chunk
// was stored since it was read (expected last subject sequence).
func (s *Service) ship(ctx context.Context, req *natsutil.Request) (any, error) {
	var in events.LogShipRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	if err := checkStreamName(in.LogStreamName); err != nil {
		return nil, err
	}
	g, err := s.ensureGroupStream(ctx, in)
	if err != nil {
		return nil, err
	}
	subject := events.SubjLogs(in.LogGroupName, in.LogStreamName)
	for attempt := 0; ; attempt++ {
		lastSeq, cursor, err := s.lastCursor(ctx, subject)
		if err != nil {
			return nil, err
		}
		now := s.nowMS()
		var evs []events.LogEvent
		for _, ev := range in.Events {
			if ev.Cursor <= cursor || ev.Message == "" || ev.Timestamp > now+maxFutureMS || ev.Timestamp < now-maxAgeMS ||
				(g.RetentionInDays > 0 && ev.Timestamp < now-int64(g.RetentionInDays)*retentionDayMS) {
				continue
			}
			evs = append(evs, events.LogEvent{Timestamp: ev.Timestamp, Message: ev.Message})
		}
		newCursor := cursor
		if n := len(in.Events); n > 0 && in.Events[n-1].Cursor > cursor {
			newCursor = in.Events[n-1].Cursor
		}
		if newCursor == cursor {
			return events.LogShipResponse{Cursor: cursor}, nil
		}
		if len(evs) == 0 {
			// Everything new was rejected: store an empty chunk so that the
			// cursor still moves.
			evs = nil
		}
		hdr := nats.Header{}
		hdr.Set(events.HeaderLogCursor, newCursor)
		hdr.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(lastSeq, 10))
		_, err = s.storeShip(ctx, in.LogGroupName, in.LogStreamName, evs, hdr)
		if err == nil {
			return events.LogShipResponse{Stored: len(evs), Cursor: newCursor}, nil
		}
		if !isWrongLastSeq(err) || attempt > 20 {
			return nil, fmt.Errorf("ship: %w", err)
		}
	}
}

func (s *Service) storeShip(ctx context.Context, group, stream string, evs []events.LogEvent, hdr nats.Header) (uint64, error) {
	if len(evs) > 0 {
		return s.store(ctx, group, stream, evs, hdr)
	}
	msg := nats.NewMsg(events.SubjLogs(group, stream))
	for k, v := range hdr {
		msg.Header[k] = v
	}
	msg.Header.Set(events.HeaderLogCount, "0")
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == 10164)
}

// lastCursor returns the sequence and cursor of a subject's last chunk
// (0 and "" when there is none).
func (s *Service) lastCursor(ctx context.Context, subject string) (uint64, string, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("last chunk of %s: %w", subject, err)
	}
	return m.Sequence, m.Header.Get(events.HeaderLogCursor), nil
}

func (s *Service) ensureGroupStream(ctx context.Context, in events.LogShipRequest) (events.LogGroupRecord, error) {
	g, _, err := s.getGroup(ctx, in.LogGroupName)
	if apierr.HasCode(err, events.CodeResourceNotFound) && in.CreateGroup {
		err = s.createGroup(ctx, events.LogGroupRecord{Name: in.LogGroupName, CreationTime: s.nowMS()})
		if err == nil || apierr.HasCode(err, events.CodeResourceAlreadyExists) {
			g, _, err = s.getGroup(ctx, in.LogGroupName)
		}
	}
	if err != nil {
		return g, err
	}
	if _, _, err := s.getStream(ctx, in.LogGroupName, in.LogStreamName); apierr.HasCode(err, events.CodeResourceNotFound) {
		if err := s.createStream(ctx, in.LogGroupName, in.LogStreamName); err != nil && !apierr.HasCode(err, events.CodeResourceAlreadyExists) {
			return g, err
		}
	} else if err != nil {
		return g, err
	}
	return g, nil
}
