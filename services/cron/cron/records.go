package cron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/services/cron/expr"
)

// States of schedules, groups and rules.
const (
	stateEnabled  = "ENABLED"
	stateDisabled = "DISABLED"
	groupActive   = "ACTIVE"
	defaultGroup  = "default"
	defaultBus    = "default"
	afterDelete   = "DELETE"
	afterNone     = "NONE"
)

// scheduleRecord is a Scheduler schedule as stored at
// events.CronScheduleKey(group, name).
type scheduleRecord struct {
	Name            string             `json:"name"`
	Group           string             `json:"group"`
	ARN             string             `json:"arn"`
	Description     string             `json:"description,omitempty"`
	Expression      string             `json:"expression"`
	Timezone        string             `json:"timezone,omitempty"`
	Start           time.Time          `json:"start,omitzero"`
	End             time.Time          `json:"end,omitzero"`
	State           string             `json:"state"`
	Window          FlexibleTimeWindow `json:"window"`
	Target          SchedTarget        `json:"target"`
	AfterCompletion string             `json:"afterCompletion,omitempty"`
	KmsKeyARN       string             `json:"kmsKeyArn,omitempty"`
	Created         time.Time          `json:"created"`
	Modified        time.Time          `json:"modified"`
}

// groupRecord is a schedule group at events.CronGroupKey(name).
type groupRecord struct {
	Name     string    `json:"name"`
	ARN      string    `json:"arn"`
	State    string    `json:"state"`
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
	Tags     []Tag     `json:"tags,omitempty"`
}

// ruleRecord is an EventBridge rule with its targets at
// events.CronRuleKey(bus, name).
type ruleRecord struct {
	Name        string       `json:"name"`
	Bus         string       `json:"bus"`
	ARN         string       `json:"arn"`
	Description string       `json:"description,omitempty"`
	Expression  string       `json:"expression,omitempty"`
	Pattern     string       `json:"pattern,omitempty"`
	State       string       `json:"state"`
	RoleARN     string       `json:"roleArn,omitempty"`
	Created     time.Time    `json:"created"`
	Modified    time.Time    `json:"modified"`
	Targets     []RuleTarget `json:"targets,omitempty"`
	Tags        []Tag        `json:"tags,omitempty"`
}

// timing places a schedule's occurrences in time; minute is the length of
// a rate minute.
func (r *scheduleRecord) timing(minute time.Duration) (expr.Timing, error) {
	e, err := expr.Parse(r.Expression, expr.Scheduler)
	if err != nil {
		return expr.Timing{}, err
	}
	loc := time.UTC
	if r.Timezone != "" {
		if loc, err = time.LoadLocation(r.Timezone); err != nil {
			return expr.Timing{}, err
		}
	}
	return expr.Timing{Expr: e, Loc: loc, Start: r.Start, End: r.End, Anchor: r.Created, Minute: minute}, nil
}

// timing places a scheduled rule's occurrences: UTC; a rate rule first
// fires one interval after its creation.
func (r *ruleRecord) timing(minute time.Duration) (expr.Timing, error) {
	e, err := expr.Parse(r.Expression, expr.Rule)
	if err != nil {
		return expr.Timing{}, err
	}
	anchor := r.Created
	if e.Kind == expr.KindRate {
		anchor = anchor.Add(time.Duration(e.Every) * minute)
	}
	return expr.Timing{Expr: e, Loc: time.UTC, Anchor: anchor, Minute: minute}, nil
}

func scheduleARN(region, account, group, name string) string {
	return fmt.Sprintf("arn:aws:scheduler:%s:%s:schedule/%s/%s", region, account, group, name)
}

func groupARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:scheduler:%s:%s:schedule-group/%s", region, account, name)
}

func ruleARN(region, account, bus, name string) string {
	if bus == defaultBus {
		return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", region, account, name)
	}
	return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s/%s", region, account, bus, name)
}

func busARN(region, account, bus string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", region, account, bus)
}

// load reads key into v and returns its revision; ok is false when the key
// does not exist.
func (s *Service) load(ctx context.Context, key string, v any) (rev uint64, ok bool, err error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return e.Revision(), true, nil
}

// save writes v at key: created when rev is 0, else compare-and-set on rev.
// A lost race comes back as errConflict.
func (s *Service) save(ctx context.Context, key string, v any, rev uint64) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	var nrev uint64
	if rev == 0 {
		nrev, err = s.kv.Create(ctx, key, data)
	} else {
		nrev, err = s.kv.Update(ctx, key, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, fmt.Errorf("%s: %w", key, errConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return nrev, nil
}

// remove deletes key if it is still at rev.
func (s *Service) remove(ctx context.Context, key string, rev uint64) error {
	err := s.kv.Delete(ctx, key, jetstream.LastRevision(rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%s: %w", key, errConflict)
	}
	return err
}

// errConflict is a lost compare-and-set: the caller re-reads and retries.
var errConflict = errors.New("cron: concurrent change")

// retry runs f until it does not lose a race (at most 10 times).
func retry(f func() error) error {
	var err error
	for range 10 {
		if err = f(); !errors.Is(err, errConflict) {
			return err
		}
	}
	return err
}

// listKeys lists the keys under prefix (e.g. "sch.default.").
func (s *Service) listKeys(ctx context.Context, prefix string) ([]string, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range lister.Keys() {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	return keys, nil
}

// keyOf is the KV key of a record.
func keyOfSchedule(r *scheduleRecord) string { return events.CronScheduleKey(r.Group, r.Name) }
func keyOfRule(r *ruleRecord) string         { return events.CronRuleKey(r.Bus, r.Name) }
