package cron

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/natsutil"
)

// invocation is what one target invocation did.
type invocation struct {
	TaskArns []string `json:"taskArns,omitempty"`
	EventID  string   `json:"eventId,omitempty"`
}

// permanentError is a failure that a retry cannot fix (a client error of
// RunTask, a placement failure recorded under the clientToken, a bad
// Input): it is reported at once, without retries.
type permanentError struct {
	code string
	err  error
}

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(code string, format string, args ...any) error {
	return &permanentError{code: code, err: fmt.Errorf(format, args...)}
}

// clientToken is the RunTask clientToken of one invocation: the hash of the
// occurrence's message id and the target, so a redelivered or re-produced
// occurrence never starts a second task.
func clientToken(msgID, targetID string) string {
	sum := sha256.Sum256([]byte(msgID + "#" + targetID))
	return hex.EncodeToString(sum[:])
}

// runECS runs the ECS target p on cluster (an ARN) with input as task
// overrides.
func (s *Service) runECS(ctx context.Context, cluster string, p *EcsParameters, input, startedBy, token string) (invocation, error) {
	req := ecsapi.RunTaskRequest{
		Cluster: cluster, TaskDefinition: p.TaskDefinitionArn, Count: p.TaskCount, Group: p.Group,
		LaunchType: p.LaunchType, PlatformVersion: p.PlatformVersion, PropagateTags: p.PropagateTags,
		ReferenceId: p.ReferenceId, EnableECSManagedTags: p.EnableECSManagedTags, EnableExecuteCommand: p.EnableExecuteCommand,
		StartedBy: startedBy, ClientToken: token,
	}
	if err := recase(p.NetworkConfiguration, &req.NetworkConfiguration); err != nil {
		return invocation{}, permanent("InvalidParameter", "NetworkConfiguration: %v", err)
	}
	for _, x := range []struct{ from, to any }{
		{p.CapacityProviderStrategy, &req.CapacityProviderStrategy},
		{p.PlacementConstraints, &req.PlacementConstraints},
		{p.PlacementStrategy, &req.PlacementStrategy},
	} {
		if err := recase(x.from, x.to); err != nil {
			return invocation{}, permanent("InvalidParameter", "EcsParameters: %v", err)
		}
	}
	req.Tags = ecsTags(p.Tags)
	if strings.TrimSpace(input) != "" {
		var ov ecsapi.TaskOverride
		if err := recaseJSON([]byte(input), &ov); err != nil {
			return invocation{}, permanent("InvalidParameter", "Input is not ECS task overrides: %v", err)
		}
		req.Overrides = &ov
	}
	return s.callRunTask(ctx, &req)
}

// runUniversal runs the universal aws-sdk:ecs:runTask target: Input is the
// RunTask request (PascalCase as the SDKs name it, or camelCase).
func (s *Service) runUniversal(ctx context.Context, input, startedBy, token string) (invocation, error) {
	var req ecsapi.RunTaskRequest
	if err := recaseJSON([]byte(input), &req); err != nil {
		return invocation{}, permanent("InvalidParameter", "Input is not a RunTask request: %v", err)
	}
	if req.ClientToken == "" {
		req.ClientToken = token
	}
	if req.StartedBy == "" {
		req.StartedBy = startedBy
	}
	return s.callRunTask(ctx, &req)
}

func (s *Service) callRunTask(ctx context.Context, req *ecsapi.RunTaskRequest) (invocation, error) {
	var resp ecsapi.RunTaskResponse
	err := natsutil.Call(ctx, s.nc, events.SubjAPI(events.APIECS, "RunTask"), req, &resp)
	if e, ok := apierr.As(err); ok && !e.Code.Fault() {
		return invocation{}, &permanentError{code: string(e.Code), err: e}
	}
	if err != nil {
		return invocation{}, err
	}
	var inv invocation
	for _, t := range resp.Tasks {
		inv.TaskArns = append(inv.TaskArns, t.TaskArn)
	}
	if len(resp.Tasks) == 0 && len(resp.Failures) > 0 {
		f := resp.Failures[0]
		return inv, permanent("RunTaskFailure", "RunTask failed: %s %s", f.Reason, f.Detail)
	}
	return inv, nil
}

// putEvent publishes one event on the EVENTS stream, stored once per
// msgID.
func (s *Service) putEvent(ctx context.Context, bus, source, detailType string, resources []string, detail json.RawMessage, at time.Time, msgID string) (string, error) {
	id := ids.UUID()
	ev := events.Event{Version: "0", ID: id, DetailType: detailType, Source: source, Account: s.cfg.Account,
		Time: at.UTC().Format(time.RFC3339), Region: s.cfg.Region, Resources: resources, Detail: detail}
	if ev.Resources == nil {
		ev.Resources = []string{}
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	msg := &nats.Msg{Subject: events.SubjPutEvent(bus, source, id), Data: data}
	opts := []jetstream.PublishOpt{}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := s.js.PublishMsg(ctx, msg, opts...); err != nil {
		return "", fmt.Errorf("publish event: %w", err)
	}
	return id, nil
}

// publishCronEvent publishes an invocation or failure event.
func (s *Service) publishCronEvent(ctx context.Context, scope, kind, name, arn, detailType string, detail any, msgID string) {
	data, err := events.EncodeEvent(ids.UUID(), events.SourceCron, detailType, s.cfg.Account, s.cfg.Region, s.cfg.Now(), []string{arn}, detail)
	if err != nil {
		s.log.Error("build cron event", "arn", arn, "err", err)
		return
	}
	msg := &nats.Msg{Subject: events.SubjCronEvent(scope, kind, name), Data: data}
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID)); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("publish cron event", "subject", msg.Subject, "err", err)
	}
}

// ecsTags converts rule tags ([{Key, Value}]) or Scheduler tags
// ([{key: value}]) to ECS tags.
func ecsTags(raw json.RawMessage) []ecsapi.Tag {
	if len(raw) == 0 {
		return nil
	}
	var kv []Tag
	if json.Unmarshal(raw, &kv) == nil && len(kv) > 0 && kv[0].Key != "" {
		out := make([]ecsapi.Tag, 0, len(kv))
		for _, t := range kv {
			out = append(out, ecsapi.Tag{Key: t.Key, Value: t.Value})
		}
		return out
	}
	var maps []map[string]string
	if json.Unmarshal(raw, &maps) != nil {
		return nil
	}
	var out []ecsapi.Tag
	for _, m := range maps {
		for k, v := range m {
			out = append(out, ecsapi.Tag{Key: k, Value: v})
		}
	}
	return out
}

// recase converts v to ECS's camelCase members and decodes it into out.
func recase(v, out any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if string(data) == "null" {
		return nil
	}
	return recaseJSON(data, out)
}

// recaseJSON lowers the first letter of every object key (PascalCase as
// the SDKs spell ECS members, or as the EventBridge models do) and decodes
// the result into out.
func recaseJSON(data []byte, out any) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	data, err := json.Marshal(lowerKeys(v))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

func lowerKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r := []rune(k)
			if len(r) > 0 {
				r[0] = unicode.ToLower(r[0])
			}
			out[string(r)] = lowerKeys(e)
		}
		return out
	case []any:
		for i := range x {
			x[i] = lowerKeys(x[i])
		}
		return x
	}
	return v
}
