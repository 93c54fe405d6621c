package logs

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/logsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

const (
	maxFilterEvents = 10000
	// filterScanBytes and filterScanTime bound the work of one
	// FilterLogEvents call; past them it answers with a nextToken.
	filterScanBytes = 64 << 20
	filterScanTime  = 5 * time.Second
	// maxSubjectFilters is how many streams are filtered by subject; more
	// are filtered in the service.
	maxSubjectFilters = 100
)

func (s *Service) filterLogEvents(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.FilterLogEventsRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	group := groupFromIdentifier(in.LogGroupName, in.LogGroupIdentifier)
	if err := checkGroupName(group, "logGroupName"); err != nil {
		return nil, err
	}
	limit, err := checkLimit(in.Limit, maxFilterEvents)
	if err != nil {
		return nil, err
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return nil, apierr.InvalidParameter("Cannot specify both logStreamNames and logStreamNamePrefix")
	}
	if len(in.LogStreamNames) > 100 {
		return nil, validation("'[...]'", "logStreamNames", "Member must have length less than or equal to 100")
	}
	if in.StartTime != nil && in.EndTime != nil && *in.EndTime < *in.StartTime {
		return nil, apierr.InvalidParameter("endTime must be greater than or equal to startTime")
	}
	pat, err := ParsePattern(in.FilterPattern)
	if err != nil {
		return nil, apierr.InvalidParameter("Invalid filter pattern")
	}
	var from pos
	if in.NextToken != "" {
		p, ok := parsePos(in.NextToken, "n")
		if !ok {
			return nil, apierr.InvalidParameter("The specified nextToken is invalid.")
		}
		from = p
	}
	g, _, err := s.getGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	subjects, keep, err := s.filterSubjects(ctx, group, in.LogStreamNames, in.LogStreamNamePrefix)
	if err != nil {
		return nil, err
	}
	out := logsapi.FilterLogEventsResponse{Events: []logsapi.FilteredLogEvent{}, SearchedLogStreams: []logsapi.SearchedLogStream{}}
	if len(subjects) == 0 {
		return out, nil
	}
	r := rangeOf(in.StartTime, in.EndTime, s.retentionFloor(g), true)
	next, done, err := s.filterScan(ctx, subjects, keep, from, r, pat, limit, &out)
	if err != nil {
		return nil, err
	}
	if !done {
		out.NextToken = next.token("n")
	}
	return out, nil
}

// filterSubjects turns the stream selection into subject filters, plus a
// stream-name check when the selection is wider than the filters.
func (s *Service) filterSubjects(ctx context.Context, group string, names []string, prefix string) ([]string, func(string) bool, error) {
	all := func(string) bool { return true }
	if len(names) > 0 {
		subs := make([]string, 0, len(names))
		for _, n := range names {
			subs = append(subs, events.SubjLogs(group, n))
		}
		return subs, all, nil
	}
	if prefix == "" {
		return []string{events.SubjLogsGroup(group)}, all, nil
	}
	streams, err := s.listStreams(ctx, group)
	if err != nil {
		return nil, nil, err
	}
	var subs []string
	for _, st := range streams {
		if strings.HasPrefix(st.Name, prefix) {
			subs = append(subs, events.SubjLogs(group, st.Name))
		}
	}
	if len(subs) > maxSubjectFilters {
		return []string{events.SubjLogsGroup(group)}, func(name string) bool { return strings.HasPrefix(name, prefix) }, nil
	}
	return subs, all, nil
}

// filterScan fills out with matching events from `from` on. It returns the
// position to continue at and whether the stream's end was reached.
func (s *Service) filterScan(ctx context.Context, subjects []string, keep func(string) bool, from pos, r timeRange, pat Pattern, limit int, out *logsapi.FilterLogEventsResponse) (pos, bool, error) {
	next := from
	scanned := 0
	deadline := time.Now().Add(filterScanTime)
	stopped, pastEnd := false, false
	end, err := s.scan(ctx, subjects, scanStart(from, r), func(c chunk) bool {
		if r.max != math.MaxInt64 && c.ingest-maxAgeMS > r.max {
			pastEnd = true
			return false // later chunks cannot hold events before endTime
		}
		if scanned > filterScanBytes || time.Now().After(deadline) {
			next, stopped = pos{c.seq, 0}, true
			return false
		}
		scanned += len(c.data)
		name := streamName(c.subject)
		if !keep(name) {
			next = pos{c.seq + 1, 0}
			return true
		}
		full := false
		_ = events.ParseLogChunk(c.data, func(i int, ev events.LogEvent) bool {
			at := pos{c.seq, i}
			if at.less(from) || !r.has(ev.Timestamp) || !pat.Match(ev.Message) {
				return true
			}
			if len(out.Events) == limit {
				next, full = at, true
				return false
			}
			out.Events = append(out.Events, logsapi.FilteredLogEvent{
				EventId:       eventID(at),
				LogStreamName: name,
				Timestamp:     ptr(ev.Timestamp),
				IngestionTime: ptr(c.ingest),
				Message:       ev.Message,
			})
			return true
		})
		if full {
			stopped = true
			return false
		}
		next = pos{c.seq + 1, 0}
		return true
	})
	if err != nil {
		return pos{}, false, err
	}
	return next, (end || pastEnd) && !stopped, nil
}

// eventID is unique and stable: the chunk's sequence and the event's index.
func eventID(p pos) string { return fmt.Sprintf("%040d%016d", p.seq, p.idx) }
