package logs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/logsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

func (s *Service) createLogStream(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.CreateLogStreamRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	if err := checkStreamName(in.LogStreamName); err != nil {
		return nil, err
	}
	return nil, s.createStream(ctx, in.LogGroupName, in.LogStreamName)
}

func (s *Service) createStream(ctx context.Context, group, name string) error {
	if _, _, err := s.getGroup(ctx, group); err != nil {
		return err
	}
	b, _ := json.Marshal(events.LogStreamRecord{Name: name, CreationTime: s.nowMS()})
	if _, err := s.kv.Create(ctx, streamKey(group, name), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return apierr.New(events.CodeResourceAlreadyExists, msgStreamExists)
		}
		return fmt.Errorf("create stream %s/%s: %w", group, name, err)
	}
	return nil
}

func (s *Service) deleteLogStream(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.DeleteLogStreamRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	if err := checkStreamName(in.LogStreamName); err != nil {
		return nil, err
	}
	if _, _, err := s.getGroup(ctx, in.LogGroupName); err != nil {
		return nil, err
	}
	if _, _, err := s.getStream(ctx, in.LogGroupName, in.LogStreamName); err != nil {
		return nil, err
	}
	if err := s.kv.Purge(ctx, streamKey(in.LogGroupName, in.LogStreamName)); err != nil {
		return nil, fmt.Errorf("delete stream: %w", err)
	}
	return nil, s.purge(ctx, events.SubjLogs(in.LogGroupName, in.LogStreamName), 0)
}

func (s *Service) describeLogStreams(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.DescribeLogStreamsRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	group := groupFromIdentifier(in.LogGroupName, in.LogGroupIdentifier)
	if err := checkGroupName(group, "logGroupName"); err != nil {
		return nil, err
	}
	limit, err := checkLimit(in.Limit, 50)
	if err != nil {
		return nil, err
	}
	switch in.OrderBy {
	case "", "LogStreamName", "LastEventTime":
	default:
		return nil, validation("'"+in.OrderBy+"'", "orderBy", "Member must satisfy enum value set: [LogStreamName, LastEventTime]")
	}
	if in.OrderBy == "LastEventTime" && in.LogStreamNamePrefix != "" {
		return nil, apierr.InvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	offset, err := parseOffset(in.NextToken)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.getGroup(ctx, group); err != nil {
		return nil, err
	}
	all, err := s.listStreams(ctx, group)
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(r events.LogStreamRecord) bool {
		return !strings.HasPrefix(r.Name, in.LogStreamNamePrefix)
	})
	desc := in.Descending != nil && *in.Descending
	slices.SortFunc(all, func(a, b events.LogStreamRecord) int {
		c := strings.Compare(a.Name, b.Name)
		if in.OrderBy == "LastEventTime" {
			c = cmp.Or(cmp.Compare(a.LastEventTimestamp, b.LastEventTimestamp), c)
		}
		if desc {
			return -c
		}
		return c
	})
	out := logsapi.DescribeLogStreamsResponse{LogStreams: []logsapi.LogStream{}}
	for i := offset; i < len(all) && i < offset+limit; i++ {
		out.LogStreams = append(out.LogStreams, s.streamOut(group, all[i]))
	}
	if offset+limit < len(all) {
		out.NextToken = strconv.Itoa(offset + limit)
	}
	return out, nil
}

func (s *Service) streamOut(group string, r events.LogStreamRecord) logsapi.LogStream {
	out := logsapi.LogStream{
		LogStreamName: r.Name,
		Arn:           s.streamARN(group, r.Name),
		CreationTime:  &r.CreationTime,
		StoredBytes:   &r.StoredBytes,
	}
	if r.LastIngestionTime > 0 {
		out.FirstEventTimestamp = &r.FirstEventTimestamp
		out.LastEventTimestamp = &r.LastEventTimestamp
		out.LastIngestionTime = &r.LastIngestionTime
		out.UploadSequenceToken = sequenceToken(uint64(r.LastIngestionTime))
	}
	return out
}

// sequenceToken renders a number the way AWS's tokens look (56 digits).
func sequenceToken(n uint64) string { return fmt.Sprintf("%056d", n) }
