package cron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
)

// TypeFire is the type of a CRON_FIRES message.
const TypeFire = "berth.cron.fire.v1"

// fireMsg is one occurrence (kinds "sch" and "rule") or one matched event
// for one rule target (kind "match") to fire.
type fireMsg struct {
	Kind       string          `json:"kind"`
	Key        string          `json:"key"`
	Occurrence time.Time       `json:"occurrence"`
	TargetID   string          `json:"targetId,omitempty"`
	EventID    string          `json:"eventId,omitempty"`
	Event      json.RawMessage `json:"event,omitempty"`
}

// msgID is the message's Nats-Msg-Id: the same for every replica that
// produces the occurrence (or matches the event).
func (f *fireMsg) msgID() string {
	if f.Kind == "match" {
		return "match/" + f.Key + "/" + f.TargetID + "@" + f.EventID
	}
	return f.Kind + "/" + f.Key + "@" + f.Occurrence.UTC().Format(time.RFC3339Nano)
}

// startFiring consumes CRON_FIRES with the durable consumer shared by every
// replica, running up to Workers invocations at once. It returns a stop
// function that waits for the invocations in flight.
func (s *Service) startFiring(ctx context.Context) (func(), error) {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, events.StreamCronFires.Name, jetstream.ConsumerConfig{
		Durable:       firesConsumer,
		Description:   "cron replicas firing occurrences and matched events",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxAckPending: max(1000, 4*s.cfg.Workers),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("cron: fires consumer: %w", err)
	}
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	cc, err := cons.Consume(func(m jetstream.Msg) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.handleFire(ctx, m)
		}()
	}, jetstream.PullMaxMessages(s.cfg.Workers))
	if err != nil {
		return nil, fmt.Errorf("cron: consume fires: %w", err)
	}
	return func() { cc.Stop(); wg.Wait() }, nil
}

// target is one invocation to make for a fire message.
type target struct {
	id      string
	arn     string
	retry   *RetryPolicy
	invoke  func(ctx context.Context, token string) (invocation, error)
	onceDel func(ctx context.Context) // after success: ActionAfterCompletion DELETE
}

// owner is the schedule or rule a fire message belongs to.
type owner struct {
	scope, kind, name, arn string
}

// handleFire invokes the targets of one message; the message is
// acknowledged when every target succeeded, redelivered with a delay on a
// failure the RetryPolicy still allows, and terminated otherwise.
func (s *Service) handleFire(ctx context.Context, m jetstream.Msg) {
	var f fireMsg
	if err := json.Unmarshal(m.Data(), &f); err != nil || f.Key == "" {
		_ = m.TermWithReason("bad fire message")
		return
	}
	attempt := uint64(1)
	if md, err := m.Metadata(); err == nil {
		attempt = md.NumDelivered
	}
	own, targets, err := s.resolve(ctx, &f)
	if err != nil {
		s.log.Warn("resolve fire", "key", f.Key, "err", err)
		_ = m.NakWithDelay(s.cfg.RetryDelay)
		return
	}
	msgID := f.msgID()
	var failed error
	var failedT *target
	for i := range targets {
		t := &targets[i]
		ictx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		inv, err := t.invoke(ictx, clientToken(msgID, t.id))
		cancel()
		if err != nil {
			if failed == nil {
				failed, failedT = err, t
			}
			continue
		}
		s.publishCronEvent(ctx, own.scope, own.kind, own.name, own.arn, events.DetailCronInvocation, map[string]any{
			"arn": own.arn, "targetId": t.id, "targetArn": t.arn, "occurrence": f.Occurrence.UTC().Format(time.RFC3339Nano),
			"eventId": f.EventID, "attempt": attempt, "taskArns": inv.TaskArns, "putEventId": inv.EventID,
			"invokedAt": s.cfg.Now().UTC().Format(time.RFC3339Nano),
		}, "inv/"+msgID+"/"+t.id)
		if t.onceDel != nil {
			t.onceDel(ctx)
		}
	}
	if failed == nil {
		_ = m.Ack()
		return
	}
	s.failed(ctx, m, &f, own, failedT, failed, attempt)
}

// failed reports a failed invocation and retries it as its RetryPolicy
// allows (defaults: 185 attempts, 24 hours).
func (s *Service) failed(ctx context.Context, m jetstream.Msg, f *fireMsg, own owner, t *target, err error, attempt uint64) {
	maxRetries, maxAge := int64(185), 24*time.Hour
	if p := t.retry; p != nil {
		if p.MaximumRetryAttempts != nil {
			maxRetries = int64(*p.MaximumRetryAttempts)
		}
		if p.MaximumEventAgeInSeconds != nil {
			maxAge = time.Duration(*p.MaximumEventAgeInSeconds) * time.Second
		}
	}
	code, msg := "InternalError", err.Error()
	var perm *permanentError
	isPerm := errors.As(err, &perm)
	if isPerm {
		code = perm.code
	} else if e, ok := apierr.As(err); ok {
		code = string(e.Code)
	}
	start := f.Occurrence
	if start.IsZero() {
		start = s.cfg.Now()
	}
	final := isPerm || int64(attempt)-1 >= maxRetries || s.cfg.Now().Sub(start) >= maxAge
	s.publishCronEvent(ctx, own.scope, own.kind, own.name, own.arn, events.DetailCronInvocationFailed, map[string]any{
		"arn": own.arn, "targetId": t.id, "targetArn": t.arn, "occurrence": f.Occurrence.UTC().Format(time.RFC3339Nano),
		"eventId": f.EventID, "attempt": attempt, "errorCode": code, "errorMessage": msg, "final": final,
	}, fmt.Sprintf("fail/%s/%s/%d", f.msgID(), t.id, attempt))
	s.log.Warn("invocation failed", "arn", own.arn, "target", t.id, "attempt", attempt, "final", final, "err", err)
	if final {
		_ = m.TermWithReason(code)
		return
	}
	delay := s.cfg.RetryDelay << min(attempt-1, 16)
	_ = m.NakWithDelay(min(delay, s.cfg.RetryMaxDelay))
}

// resolve loads the schedule or rule of f and returns the targets to
// invoke: none when it was deleted or disabled since.
func (s *Service) resolve(ctx context.Context, f *fireMsg) (owner, []target, error) {
	switch f.Kind {
	case "sch":
		var r scheduleRecord
		rev, ok, err := s.load(ctx, f.Key, &r)
		if err != nil || !ok || r.State != stateEnabled {
			return owner{}, nil, err
		}
		return owner{scope: r.Group, kind: "schedule", name: r.Name, arn: r.ARN}, []target{s.scheduleTarget(&r, rev, f.Occurrence)}, nil
	case "rule", "match":
		var r ruleRecord
		_, ok, err := s.load(ctx, f.Key, &r)
		if err != nil || !ok || r.State != stateEnabled {
			return owner{}, nil, err
		}
		own := owner{scope: r.Bus, kind: "rule", name: r.Name, arn: r.ARN}
		var out []target
		for i := range r.Targets {
			t := &r.Targets[i]
			if f.Kind == "match" && t.Id != f.TargetID {
				continue
			}
			out = append(out, s.ruleTarget(&r, t))
		}
		return own, out, nil
	}
	return owner{}, nil, nil
}

// scheduleTarget is the invocation of a schedule's target; with
// ActionAfterCompletion DELETE, the schedule is deleted after its last
// occurrence.
func (s *Service) scheduleTarget(r *scheduleRecord, rev uint64, occ time.Time) target {
	tg := r.Target
	startedBy := "scheduler/" + r.Name
	t := target{id: "0", arn: tg.Arn, retry: tg.RetryPolicy}
	switch targetKind(tg.Arn) {
	case targetECS:
		t.invoke = func(ctx context.Context, token string) (invocation, error) {
			return s.runECS(ctx, tg.Arn, tg.EcsParameters, tg.Input, startedBy, token)
		}
	case targetRunTask:
		t.invoke = func(ctx context.Context, token string) (invocation, error) {
			return s.runUniversal(ctx, tg.Input, startedBy, token)
		}
	case targetBus:
		t.invoke = func(ctx context.Context, token string) (invocation, error) {
			detail := json.RawMessage(tg.Input)
			if !json.Valid(detail) {
				detail, _ = json.Marshal(tg.Input)
			}
			if len(detail) == 0 {
				detail = json.RawMessage("{}")
			}
			id, err := s.putEvent(ctx, busName(tg.Arn), tg.EventBridgeParameters.Source, tg.EventBridgeParameters.DetailType, []string{r.ARN}, detail, occ, "put/"+token)
			return invocation{EventID: id}, err
		}
	default:
		t.invoke = func(context.Context, string) (invocation, error) {
			return invocation{}, permanent("UnsupportedTarget", "target %s is not supported", tg.Arn)
		}
	}
	if r.AfterCompletion == afterDelete {
		t.onceDel = func(ctx context.Context) {
			tm, err := r.timing(s.cfg.Minute)
			if err != nil {
				return
			}
			if _, more := tm.Next(occ); more {
				return
			}
			if err := s.remove(ctx, keyOfSchedule(r), rev); err != nil {
				s.log.Warn("delete completed schedule", "arn", r.ARN, "err", err)
			}
		}
	}
	return t
}

// ruleTarget is the invocation of one rule target.
func (s *Service) ruleTarget(r *ruleRecord, tg *RuleTarget) target {
	startedBy := "events-rule/" + r.Name
	t := target{id: tg.Id, arn: tg.Arn, retry: tg.RetryPolicy}
	switch targetKind(tg.Arn) {
	case targetECS:
		p := tg.EcsParameters
		t.invoke = func(ctx context.Context, token string) (invocation, error) {
			return s.runECS(ctx, tg.Arn, p, tg.Input, startedBy, token)
		}
	default:
		t.invoke = func(context.Context, string) (invocation, error) {
			return invocation{}, permanent("UnsupportedTarget", "target %s is not supported", tg.Arn)
		}
	}
	return t
}

func busName(arn string) string {
	_, name, _ := cutLast(arn, "/")
	return name
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}
