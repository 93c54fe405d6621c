package logs

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/logsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

const (
	maxGetEvents = 10000
	maxPageBytes = 1048576
)

// pos is the position of an event: the chunk's stream sequence and the
// event's index in it.
type pos struct {
	seq uint64
	idx int
}

func (p pos) less(q pos) bool { return p.seq < q.seq || (p.seq == q.seq && p.idx < q.idx) }

// token renders a position as AWS-looking digits: 40 for the sequence, 16
// for the index (56 in all, like AWS's tokens).
func (p pos) token(prefix string) string {
	return fmt.Sprintf("%s/%040d%016d", prefix, p.seq, p.idx)
}

func parsePos(tok, prefix string) (pos, bool) {
	digits, ok := strings.CutPrefix(tok, prefix+"/")
	if !ok || len(digits) != 56 {
		return pos{}, false
	}
	seq, err1 := strconv.ParseUint(digits[:40], 10, 64)
	idx, err2 := strconv.Atoi(digits[40:])
	if err1 != nil || err2 != nil {
		return pos{}, false
	}
	return pos{seq, idx}, true
}

type timeRange struct {
	min, max int64 // min inclusive; max exclusive
}

func (r timeRange) has(ts int64) bool { return ts >= r.min && ts < r.max }

func rangeOf(start, end *int64, floor int64, endInclusive bool) timeRange {
	r := timeRange{min: floor, max: math.MaxInt64}
	if start != nil {
		r.min = max(r.min, *start)
	}
	if end != nil {
		r.max = *end
		if endInclusive && r.max < math.MaxInt64 {
			r.max++
		}
	}
	return r
}

// scanStart starts a scan at p, or when p is unset at the first chunk that
// can hold an event at or after r.min (an event is at most MaxFuture ahead
// of its ingestion).
func scanStart(p pos, r timeRange) scanFrom {
	if p.seq > 0 {
		return scanFrom{seq: p.seq}
	}
	if r.min > 0 {
		return scanFrom{time: time.UnixMilli(r.min - maxFutureMS)}
	}
	return scanFrom{seq: 1}
}

type pageEvent struct {
	at     pos
	stream string
	ts     int64
	ingest int64
	msg    string
}

func (s *Service) getLogEvents(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.GetLogEventsRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	group := groupFromIdentifier(in.LogGroupName, in.LogGroupIdentifier)
	if err := checkGroupName(group, "logGroupName"); err != nil {
		return nil, err
	}
	if err := checkStreamName(in.LogStreamName); err != nil {
		return nil, err
	}
	limit, err := checkLimit(in.Limit, maxGetEvents)
	if err != nil {
		return nil, err
	}
	g, _, err := s.getGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.getStream(ctx, group, in.LogStreamName); err != nil {
		return nil, err
	}
	r := rangeOf(in.StartTime, in.EndTime, s.retentionFloor(g), false)
	subject := events.SubjLogs(group, in.LogStreamName)
	fromHead := in.StartFromHead != nil && *in.StartFromHead
	var fwd, back pos
	switch {
	case in.NextToken == "":
	case strings.HasPrefix(in.NextToken, "f/"):
		p, ok := parsePos(in.NextToken, "f")
		if !ok {
			return nil, apierr.InvalidParameter("The specified nextToken is invalid.")
		}
		fwd, fromHead = p, true
	default:
		p, ok := parsePos(in.NextToken, "b")
		if !ok {
			return nil, apierr.InvalidParameter("The specified nextToken is invalid.")
		}
		back, fromHead = p, false
	}
	var page []pageEvent
	var next pos
	if fromHead {
		page, next, err = s.forward(ctx, subject, fwd, pos{seq: math.MaxUint64}, r, limit, maxPageBytes)
	} else {
		page, next, err = s.backward(ctx, subject, back, r, limit)
	}
	if err != nil {
		return nil, err
	}
	out := logsapi.GetLogEventsResponse{Events: make([]logsapi.OutputLogEvent, 0, len(page))}
	for _, ev := range page {
		out.Events = append(out.Events, logsapi.OutputLogEvent{Timestamp: ptr(ev.ts), IngestionTime: ptr(ev.ingest), Message: ev.msg})
	}
	switch {
	case len(page) > 0:
		out.NextForwardToken = next.token("f")
		out.NextBackwardToken = page[0].at.token("b")
	case in.NextToken != "":
		// At either end, the token sent comes back.
		out.NextForwardToken, out.NextBackwardToken = in.NextToken, in.NextToken
		if fromHead {
			out.NextBackwardToken = fwd.token("b")
		} else {
			out.NextForwardToken = back.token("f")
		}
	default:
		out.NextForwardToken = next.token("f")
		out.NextBackwardToken = next.token("b")
	}
	return out, nil
}

// forward reads events of subject from `from` (inclusive) up to `end`
// (exclusive), at most limit events and maxPageBytes. It returns the events
// and the position after the last one read.
func (s *Service) forward(ctx context.Context, subject string, from, end pos, r timeRange, limit, maxBytes int) ([]pageEvent, pos, error) {
	var page []pageEvent
	size := 0
	next := from
	if next.seq == 0 {
		next.seq = 1
	}
	_, err := s.scan(ctx, []string{subject}, scanStart(from, r), func(c chunk) bool {
		if c.seq > end.seq || (c.seq == end.seq && end.idx == 0) {
			return false
		}
		if r.max != math.MaxInt64 && c.ingest-maxAgeMS > r.max {
			next = pos{c.seq, 0}
			return false
		}
		full := false
		_ = events.ParseLogChunk(c.data, func(i int, ev events.LogEvent) bool {
			at := pos{c.seq, i}
			if at.less(from) {
				return true
			}
			if !at.less(end) {
				full = true
				return false
			}
			if r.has(ev.Timestamp) {
				if len(page) == limit || size+len(ev.Message)+EventOverhead > maxBytes {
					next = at
					full = true
					return false
				}
				size += len(ev.Message) + EventOverhead
				page = append(page, pageEvent{at: at, ts: ev.Timestamp, ingest: c.ingest, msg: ev.Message})
			}
			next = pos{c.seq, i + 1}
			return true
		})
		if full {
			return false
		}
		next = pos{c.seq + 1, 0}
		return true
	})
	return page, next, err
}

// backward reads the last events before `end` (exclusive; unset = the end
// of the stream): it reads windows of chunks backwards, each four times
// larger than the last, until the page is full. It returns the events and
// the position after the last one.
func (s *Service) backward(ctx context.Context, subject string, end pos, r timeRange, limit int) ([]pageEvent, pos, error) {
	if end.seq == 0 {
		last, _, err := s.lastCursor(ctx, subject)
		if err != nil {
			return nil, pos{}, err
		}
		end = pos{last + 1, 0}
	}
	after := end
	var page []pageEvent
	window := uint64(4)
	for {
		hi := end.seq
		if end.idx == 0 {
			hi--
		}
		if hi == 0 {
			break
		}
		x, err := s.startAtOrBefore(ctx, subject, hi, window)
		if err != nil {
			return nil, pos{}, err
		}
		part, _, err := s.forward(ctx, subject, pos{x, 0}, end, r, math.MaxInt, math.MaxInt)
		if err != nil {
			return nil, pos{}, err
		}
		if len(page) == 0 && len(part) > 0 {
			after = pos{part[len(part)-1].at.seq, part[len(part)-1].at.idx + 1}
		}
		page = trimFront(append(part, page...), limit)
		if len(page) >= limit || pageBytes(page) >= maxPageBytes || x <= 1 {
			break
		}
		end = pos{x, 0}
		window *= 4
	}
	return page, after, nil
}

// trimFront keeps the newest events that fit limit and maxPageBytes.
func trimFront(page []pageEvent, limit int) []pageEvent {
	if len(page) > limit {
		page = page[len(page)-limit:]
	}
	size := 0
	for i := len(page) - 1; i >= 0; i-- {
		size += len(page[i].msg) + EventOverhead
		if size > maxPageBytes {
			return page[i+1:]
		}
	}
	return page
}

func pageBytes(page []pageEvent) int {
	n := 0
	for _, ev := range page {
		n += len(ev.msg) + EventOverhead
	}
	return n
}
