package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// RelayConfig configures a relay on one KV bucket.
type RelayConfig struct {
	// Bucket is the KV bucket whose commits carry events.
	Bucket string
	// Durable names the consumer (default "outbox"); one per bucket,
	// shared by every replica of its owner.
	Durable string
	// Keys filters the keys whose writes carry events ("task.>"); default
	// every key. One filter costs the server less than several (with
	// several, it searches the block's subject tree for each next message).
	Keys []string
	// Events returns the events of a committed write (default: the events
	// it carries in its Berth-Outbox header).
	Events func(m jetstream.Msg) ([]Event, error)
	// HeadersOnly delivers the writes without their values (when Events
	// reads only headers).
	HeadersOnly bool
	// Grace is how old a write must be before the relay looks at it,
	// leaving the fast path time to publish (default 1 s).
	Grace time.Duration
	// AckWait is how long a write a replica took stays with it before it
	// is delivered again (default 30 s).
	AckWait time.Duration
}

// Relay republishes the events of committed writes (see the package
// comment). Stop ends it.
type Relay struct {
	p      *Publisher
	cfg    RelayConfig
	cc     jetstream.ConsumeContext
	cancel context.CancelFunc
	wg     sync.WaitGroup
	queue  chan jetstream.Msg
}

// maxRelayPending bounds the writes the consumer hands out unacknowledged
// (Grace × commit rate must fit).
const maxRelayPending = 20000

// Relay starts relaying the bucket's writes on this replica.
func (p *Publisher) Relay(ctx context.Context, cfg RelayConfig) (*Relay, error) {
	if cfg.Durable == "" {
		cfg.Durable = "outbox"
	}
	if cfg.Events == nil {
		cfg.Events = func(m jetstream.Msg) ([]Event, error) { return Attached(m.Headers()) }
	}
	if cfg.Grace <= 0 {
		cfg.Grace = time.Second
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	filters := []string{"$KV." + cfg.Bucket + ".>"}
	if len(cfg.Keys) > 0 {
		filters = filters[:0]
		for _, k := range cfg.Keys {
			filters = append(filters, "$KV."+cfg.Bucket+"."+k)
		}
	}
	stream := "KV_" + cfg.Bucket
	cons, err := p.cfg.JS.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:        cfg.Durable,
		Description:    "republishes the events of committed writes (internal/outbox)",
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        cfg.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  maxRelayPending,
		FilterSubjects: filters,
		HeadersOnly:    cfg.HeadersOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: relay consumer on %s: %w", stream, err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Relay{p: p, cfg: cfg, cancel: cancel, queue: make(chan jetstream.Msg, 1024)}
	r.cc, err = cons.Consume(func(m jetstream.Msg) {
		select {
		case r.queue <- m:
		case <-rctx.Done():
			_ = m.Nak()
		}
	}, jetstream.PullMaxMessages(1024))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("outbox: relay on %s: %w", stream, err)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.run(rctx)
	}()
	return r, nil
}

// Stop stops taking writes and hands those taken and not relayed back to
// the consumer, for another replica: the write in hand and those that
// arrive while the subscription drains are negatively acknowledged.
func (r *Relay) Stop() {
	r.cancel()
	r.cc.Drain()
	select {
	case <-r.cc.Closed():
	case <-time.After(5 * time.Second):
		r.cc.Stop()
	}
	r.wg.Wait()
	for {
		select {
		case m := <-r.queue:
			_ = m.Nak()
		default:
			return
		}
	}
}

func (r *Relay) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-r.queue:
			r.relay(ctx, m)
		}
	}
}

// relay publishes what one write announces, once it is Grace old, and
// acknowledges it.
func (r *Relay) relay(ctx context.Context, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	if !sleep(ctx, time.Until(md.Timestamp.Add(r.cfg.Grace))) {
		_ = m.Nak()
		return
	}
	evs, err := r.cfg.Events(m)
	if err != nil {
		// A write that cannot be read now cannot be read later.
		r.p.cfg.Log.Error("relay: events of a write", "subject", m.Subject(), "err", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = r.p.Ensure(pctx, evs...)
	cancel()
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			r.p.cfg.Log.Warn("relay: publish", "subject", m.Subject(), "err", err)
		}
		_ = m.NakWithDelay(time.Second)
		return
	}
	_ = m.Ack()
}
