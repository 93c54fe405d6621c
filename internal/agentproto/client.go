package agentproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/natsutil"
)

// Client speaks the agent protocol for one registered container instance.
type Client struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	kv         jetstream.KeyValue
	log        *slog.Logger
	cluster    string
	instanceID string
	arn        string
	seq        atomic.Uint64
}

// Register registers the host (RegisterContainerInstance over NATS) and
// returns a client bound to the container instance. req.Cluster defaults to
// "default". The scheduler owns the agent streams and the state bucket: the
// agent only opens them, and waits (logging it) until the scheduler has
// created them and answers, so an agent may start before the scheduler.
func Register(ctx context.Context, nc *nats.Conn, req ecsapi.RegisterContainerInstanceRequest, log *slog.Logger) (*Client, *ecsapi.ContainerInstance, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := openScheduler(ctx, nc, log); err != nil {
		return nil, nil, err
	}
	var resp ecsapi.RegisterContainerInstanceResponse
	subj := events.SubjAPI(events.APIECS, "RegisterContainerInstance")
	if err := callRetry(ctx, nc, subj, req, &resp, log); err != nil {
		return nil, nil, fmt.Errorf("register container instance: %w", err)
	}
	c, err := bind(ctx, nc, resp.ContainerInstance, log)
	if err != nil {
		return nil, nil, err
	}
	return c, resp.ContainerInstance, nil
}

// openScheduler waits for the scheduler's streams to exist.
func openScheduler(ctx context.Context, nc *nats.Conn, log *slog.Logger) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for _, def := range []events.StreamDef{events.StreamHeartbeats, events.StreamAgentReports} {
		if _, err := OpenStream(ctx, js, def.Name, log); err != nil {
			return err
		}
	}
	return nil
}

// bind returns a client for the registered container instance ci on nc.
func bind(ctx context.Context, nc *nats.Conn, ci *ecsapi.ContainerInstance, log *slog.Logger) (*Client, error) {
	if ci == nil || ci.ContainerInstanceArn == "" {
		return nil, errors.New("register container instance: empty response")
	}
	arn, err := events.ParseECSARN(ci.ContainerInstanceArn)
	if err != nil || arn.Type != events.ResourceContainerInstance || arn.Cluster == "" {
		return nil, fmt.Errorf("register container instance: unexpected ARN %q: %v", ci.ContainerInstanceArn, err)
	}
	if err := openScheduler(ctx, nc, log); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := OpenKV(ctx, js, events.BucketECSState.Name, log)
	if err != nil {
		return nil, err
	}
	c := &Client{nc: nc, js: js, kv: kv, log: log, cluster: arn.Cluster, instanceID: arn.ID, arn: ci.ContainerInstanceArn}
	c.seq.Store(uint64(time.Now().UnixNano()))
	return c, nil
}

// callRetry retries while the scheduler is not up yet, logging the wait
// once.
func callRetry(ctx context.Context, nc *nats.Conn, subj string, in, out any, log *slog.Logger) error {
	wait := 100 * time.Millisecond
	logged := false
	for {
		err := natsutil.Call(ctx, nc, subj, in, out)
		if err == nil || !errors.Is(err, natsutil.ErrUnavailable) {
			return err
		}
		if !logged {
			logged = true
			log.Info("waiting for the scheduler to answer", "subject", subj, "err", err.Error())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Cluster is the cluster name the instance belongs to.
func (c *Client) Cluster() string { return c.cluster }

// InstanceID is the 32-hex container instance id.
func (c *Client) InstanceID() string { return c.instanceID }

// InstanceArn is the container instance ARN.
func (c *Client) InstanceArn() string { return c.arn }

// Heartbeat publishes one heartbeat.
func (c *Client) Heartbeat(ctx context.Context, hb events.Heartbeat) error {
	hb.ContainerInstanceArn = c.arn
	if hb.At.IsZero() {
		hb.At = time.Now().UTC()
	}
	raw, _ := jsonx.Marshal(hb)
	_, err := c.js.Publish(ctx, events.SubjAgentHeartbeat(c.cluster, c.instanceID), raw)
	return err
}

// RunHeartbeats publishes a heartbeat every interval (events.HeartbeatInterval
// when 0) until ctx ends; fill supplies the changing fields.
func (c *Client) RunHeartbeats(ctx context.Context, interval time.Duration, fill func() events.Heartbeat) {
	if interval <= 0 {
		interval = events.HeartbeatInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var hb events.Heartbeat
		if fill != nil {
			hb = fill()
		}
		if err := c.Heartbeat(ctx, hb); err != nil && ctx.Err() == nil {
			c.log.Warn("heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Report publishes a task state report, stamping ContainerInstanceArn,
// ReportedAt and a fresh Seq. Repeats of the same (task, status, seq) are
// dropped by the stream.
func (c *Client) Report(ctx context.Context, r events.TaskStateReport) error {
	r.ContainerInstanceArn = c.arn
	if r.ReportedAt.IsZero() {
		r.ReportedAt = time.Now().UTC()
	}
	if r.Seq == 0 {
		r.Seq = c.seq.Add(1)
	}
	if r.Containers == nil {
		r.Containers = []events.ContainerStateReport{}
	}
	raw, _ := jsonx.Marshal(r)
	_, err := c.js.Publish(ctx, events.SubjAgentReport(c.cluster, c.instanceID), raw, jetstream.WithMsgID(events.ReportMsgID(r)))
	if err != nil {
		return fmt.Errorf("report %s %s: %w", r.TaskArn, r.LastStatus, err)
	}
	return nil
}

// Assignments returns the instance's current desired state: every task
// assignment, keyed by task ARN.
func (c *Client) Assignments(ctx context.Context) (map[string]events.TaskAssignment, error) {
	// A watch's "all delivered" marker can be lost when a delete races
	// with it (nats.go waits for a message with nothing pending): each
	// attempt is bounded and made again.
	var last error
	for range 3 {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		out, err := c.assignmentsOnce(actx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return out, err
		}
		last = err
	}
	return nil, last
}

// assignmentsOnce reads them all with one filtered watch: an agent's
// identity may follow its own assignments and nothing else of the bucket.
func (c *Client) assignmentsOnce(ctx context.Context) (map[string]events.TaskAssignment, error) {
	w, err := c.kv.Watch(ctx, events.AssignmentFilter(c.cluster, c.instanceID), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list assignments: %w", err)
	}
	defer w.Stop()
	out := map[string]events.TaskAssignment{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list assignments: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("list assignments: watcher closed")
			}
			if e == nil {
				return out, nil
			}
			var a events.TaskAssignment
			if err := jsonx.Unmarshal(e.Value(), &a); err != nil {
				c.log.Error("bad assignment", "key", e.Key(), "err", err)
				continue
			}
			out[a.TaskArn] = a
		}
	}
}

// Update is one change of the desired state. Deleted means the scheduler has
// forgotten the task (it is STOPPED and recorded); Assignment is then empty.
type Update struct {
	// TaskID is the 32-hex id of the task (the last token of its key).
	TaskID     string
	Assignment events.TaskAssignment
	Deleted    bool
	// Synced is true on the marker sent once the initial assignments have
	// all been delivered.
	Synced bool
}

// Watch delivers the instance's assignments: first every current one, then a
// Synced marker, then changes, until ctx ends. After a watcher failure it
// starts again from the current values (so the consumer re-reads its whole
// desired state, as after a reconnect).
func (c *Client) Watch(ctx context.Context) <-chan Update {
	out := make(chan Update, 64)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			if err := c.watchOnce(ctx, out); err != nil && ctx.Err() == nil {
				c.log.Warn("assignment watch restarting", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
			}
		}
	}()
	return out
}

func (c *Client) watchOnce(ctx context.Context, out chan<- Update) error {
	w, err := c.kv.Watch(ctx, events.AssignmentFilter(c.cluster, c.instanceID))
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watcher closed")
			}
			var u Update
			if e != nil {
				u.TaskID = e.Key()[strings.LastIndexByte(e.Key(), '.')+1:]
			}
			switch {
			case e == nil:
				u.Synced = true
			case e.Operation() != jetstream.KeyValuePut:
				u.Deleted = true
			default:
				if err := jsonx.Unmarshal(e.Value(), &u.Assignment); err != nil {
					c.log.Error("bad assignment", "key", e.Key(), "err", err)
					continue
				}
			}
			select {
			case out <- u:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

func jsonBody(v any) ([]byte, error) { return jsonx.Marshal(v) }
