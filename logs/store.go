package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// AWS's words.
const (
	msgGroupNotFound  = "The specified log group does not exist."
	msgStreamNotFound = "The specified log stream does not exist."
	msgGroupExists    = "The specified log group already exists"
	msgStreamExists   = "The specified log stream already exists"
)

func errGroupNotFound() error {
	return apierr.New(events.CodeResourceNotFound, msgGroupNotFound)
}

func errStreamNotFound() error {
	return apierr.New(events.CodeResourceNotFound, msgStreamNotFound)
}

// validation is AWS's "1 validation error detected" InvalidParameterException.
func validation(value, member, constraint string) error {
	return apierr.InvalidParameter("1 validation error detected: Value %s at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

var groupNameRE = regexp.MustCompile(`^[\.\-_/#A-Za-z0-9]+$`)

func checkGroupName(name, member string) error {
	switch {
	case name == "":
		return validation("null", member, "Member must not be null")
	case utf8.RuneCountInString(name) > 512:
		return validation("'"+name+"'", member, "Member must have length less than or equal to 512")
	case !groupNameRE.MatchString(name):
		return validation("'"+name+"'", member, `Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+`)
	}
	return nil
}

func checkStreamName(name string) error {
	switch {
	case name == "":
		return validation("null", "logStreamName", "Member must not be null")
	case utf8.RuneCountInString(name) > 512:
		return validation("'"+name+"'", "logStreamName", "Member must have length less than or equal to 512")
	case strings.ContainsAny(name, ":*"):
		return validation("'"+name+"'", "logStreamName", "Member must satisfy regular expression pattern: [^:*]*")
	}
	return nil
}

func groupKey(group string) string { return "g." + events.Token(group) }
func streamKey(group, stream string) string {
	return "s." + events.Token(group) + "." + events.Token(stream)
}
func streamKeys(group string) string { return "s." + events.Token(group) + ".*" }

// groupARN is the log group ARN without the trailing :*.
func (s *Service) groupARN(group string) string {
	return "arn:aws:logs:" + s.cfg.Region + ":" + s.cfg.Account + ":log-group:" + group
}

func (s *Service) streamARN(group, stream string) string {
	return s.groupARN(group) + ":log-stream:" + stream
}

// groupFromIdentifier accepts a name or an ARN (logGroupIdentifier).
func groupFromIdentifier(name, ident string) string {
	if name != "" {
		return name
	}
	if rest, ok := strings.CutPrefix(ident, "arn:"); ok {
		if i := strings.Index(rest, ":log-group:"); i >= 0 {
			return strings.TrimSuffix(rest[i+len(":log-group:"):], ":*")
		}
	}
	return ident
}

func (s *Service) getGroup(ctx context.Context, name string) (events.LogGroupRecord, uint64, error) {
	var rec events.LogGroupRecord
	e, err := s.kv.Get(ctx, groupKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, 0, errGroupNotFound()
	}
	if err != nil {
		return rec, 0, fmt.Errorf("get group %s: %w", name, err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return rec, 0, fmt.Errorf("decode group %s: %w", name, err)
	}
	return rec, e.Revision(), nil
}

func (s *Service) getStream(ctx context.Context, group, name string) (events.LogStreamRecord, uint64, error) {
	var rec events.LogStreamRecord
	e, err := s.kv.Get(ctx, streamKey(group, name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, 0, errStreamNotFound()
	}
	if err != nil {
		return rec, 0, fmt.Errorf("get stream %s/%s: %w", group, name, err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return rec, 0, fmt.Errorf("decode stream %s/%s: %w", group, name, err)
	}
	return rec, e.Revision(), nil
}

// updateGroup applies fn to a group record with optimistic concurrency.
func (s *Service) updateGroup(ctx context.Context, name string, fn func(*events.LogGroupRecord) error) (events.LogGroupRecord, error) {
	for range 20 {
		rec, rev, err := s.getGroup(ctx, name)
		if err != nil {
			return rec, err
		}
		if err := fn(&rec); err != nil {
			return rec, err
		}
		b, _ := json.Marshal(rec)
		if _, err := s.kv.Update(ctx, groupKey(name), b, rev); err != nil {
			if natsutil.IsConflict(err) {
				continue
			}
			return rec, fmt.Errorf("update group %s: %w", name, err)
		}
		return rec, nil
	}
	return events.LogGroupRecord{}, fmt.Errorf("update group %s: too many conflicts", name)
}

// listValues reads every value under a key filter in one watch (metadata
// only: a group's streams, or every group).
func listValues[T any](ctx context.Context, kv jetstream.KeyValue, filter string) ([]T, error) {
	w, err := kv.WatchFiltered(ctx, []string{filter}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", filter, err)
	}
	defer func() { _ = w.Stop() }()
	var out []T
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return out, nil
			}
			if e == nil {
				return out, nil
			}
			var v T
			if err := json.Unmarshal(e.Value(), &v); err != nil {
				return nil, fmt.Errorf("decode %s: %w", e.Key(), err)
			}
			out = append(out, v)
		}
	}
}

func (s *Service) listGroups(ctx context.Context) ([]events.LogGroupRecord, error) {
	gs, err := listValues[events.LogGroupRecord](ctx, s.kv, "g.*")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(gs, func(a, b events.LogGroupRecord) int { return strings.Compare(a.Name, b.Name) })
	return gs, nil
}

func (s *Service) listStreams(ctx context.Context, group string) ([]events.LogStreamRecord, error) {
	return listValues[events.LogStreamRecord](ctx, s.kv, streamKeys(group))
}
