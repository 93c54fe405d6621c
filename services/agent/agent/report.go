package agent

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/engine"
)

// Report publishing back-off.
const (
	reportRetryMin     = 200 * time.Millisecond
	reportRetryMax     = 10 * time.Second
	reportPublishLimit = 5 * time.Second
)

// toStateReport is the protocol's report of r, with an awsvpc task's
// network.
func (a *Agent) toStateReport(r engine.Report) events.TaskStateReport {
	out := toStateReport(r)
	if n := r.Network; n != nil {
		out.Network = &events.TaskNetworkReport{
			NetworkInterfaceID: events.ENIID(r.TaskARN),
			PrivateIPv4Address: n.IPv4Address,
			GatewayIPv4Address: n.Gateway,
			MacAddress:         n.MacAddress,
			Attached:           n.Attached,
		}
		if a.awsvpcSubnet.IsValid() {
			out.Network.SubnetIPv4CidrBlock = a.awsvpcSubnet.String()
		}
	}
	return out
}

// toStateReport maps an engine report onto the protocol's TaskStateReport.
// The engine's Seq (clock-based, growing across restarts) is kept, so a
// report and its retries share one Nats-Msg-Id.
func toStateReport(r engine.Report) events.TaskStateReport {
	status := r.LastStatus
	if status == engine.TaskNone {
		status = engine.TaskPending
	}
	out := events.TaskStateReport{
		TaskArn:            r.TaskARN,
		LastStatus:         status.String(),
		HealthStatus:       string(r.HealthStatus),
		StopCode:           r.StopCode,
		StoppedReason:      r.StoppedReason,
		PullStartedAt:      timePtr(r.PullStartedAt),
		PullStoppedAt:      timePtr(r.PullStoppedAt),
		StartedAt:          timePtr(r.StartedAt),
		ExecutionStoppedAt: timePtr(r.ExecutionStoppedAt),
		Seq:                r.Seq,
		Containers:         make([]events.ContainerStateReport, 0, len(r.Containers)),
	}
	for _, c := range r.Containers {
		cr := events.ContainerStateReport{
			Name:         c.Name,
			RuntimeID:    c.RuntimeID,
			ImageDigest:  c.ImageDigest,
			LastStatus:   c.LastStatus.Public(),
			Reason:       c.Reason,
			HealthStatus: string(c.HealthStatus),
		}
		if c.ExitCode != nil {
			code := int32(*c.ExitCode)
			cr.ExitCode = &code
		}
		for _, b := range c.NetworkBindings {
			cp, hp := int32(b.ContainerPort), int32(b.HostPort)
			cr.NetworkBindings = append(cr.NetworkBindings, ecsapi.NetworkBinding{
				BindIP: b.BindIP, ContainerPort: &cp, HostPort: &hp, Protocol: b.Protocol,
			})
		}
		out.Containers = append(out.Containers, cr)
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// outbox holds reports until JetStream has acknowledged them. Reports are
// full snapshots, so a newer report of a task in the same status replaces an
// unsent older one; one of a new status queues behind it. The queue is
// therefore bounded by tasks × statuses even during a long outage.
type outbox struct {
	mu    sync.Mutex
	items []outItem
	next  uint64
	wake  chan struct{}
}

type outItem struct {
	id uint64
	r  events.TaskStateReport
}

func newOutbox() *outbox { return &outbox{wake: make(chan struct{}, 1)} }

func (o *outbox) push(r events.TaskStateReport) {
	o.mu.Lock()
	o.next++
	item := outItem{id: o.next, r: r}
	replaced := false
	for i := len(o.items) - 1; i >= 0; i-- {
		if o.items[i].r.TaskArn != r.TaskArn {
			continue
		}
		if o.items[i].r.LastStatus == r.LastStatus {
			o.items[i] = item
			replaced = true
		}
		break
	}
	if !replaced {
		o.items = append(o.items, item)
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) head() (outItem, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.items) == 0 {
		return outItem{}, false
	}
	return o.items[0], true
}

// done removes the item with id if it is still at the head (it may have
// been replaced by a newer report while being sent).
func (o *outbox) done(id uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.items) > 0 && o.items[0].id == id {
		o.items = o.items[1:]
	}
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}

// publisher sends one report; agentproto.Client.Report in production.
type publisher func(ctx context.Context, r events.TaskStateReport) error

// runOutbox publishes queued reports in order until ctx ends, retrying
// each with back-off until JetStream acknowledges it: a report is never
// dropped while the agent runs.
func runOutbox(ctx context.Context, o *outbox, publish publisher, log *slog.Logger) {
	wait := reportRetryMin
	for {
		item, ok := o.head()
		if !ok {
			select {
			case <-o.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		pctx, cancel := context.WithTimeout(ctx, reportPublishLimit)
		err := publish(pctx, item.r)
		cancel()
		if err == nil {
			o.done(item.id)
			wait = reportRetryMin
			continue
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("report not published; retrying", "task_arn", item.r.TaskArn, "status", item.r.LastStatus,
			"pending", o.len(), "retry_in", wait, "err", err)
		select {
		case <-time.After(jitter(wait)):
		case <-ctx.Done():
			return
		}
		wait = min(2*wait, reportRetryMax)
	}
}

// flushOutbox tries to send what is left, for at most timeout (shutdown).
func flushOutbox(o *outbox, publish publisher, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		item, ok := o.head()
		if !ok {
			return 0
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := publish(ctx, item.r)
		cancel()
		if err != nil {
			break
		}
		o.done(item.id)
	}
	return o.len()
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}
