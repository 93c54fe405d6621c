package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/jsonx"
)

// Config configures a Publisher.
type Config struct {
	JS jetstream.JetStream
	// Stream is the events stream (default events.StreamEvents.Name) and
	// Window its Duplicates window (default events.StreamEvents.Duplicates).
	Stream string
	Window time.Duration
	// Remember bounds the ids kept as seen stored (default 1<<16: about
	// 3 MB, ten seconds of the scheduler at full speed).
	Remember int
	// Grace is how long Later waits before it publishes (default 1 s).
	Grace time.Duration
	// Share is a core NATS subject on which the replicas of one service
	// tell one another the ids they saw stored: after each Publish or
	// Ensure, one message with the ids' hashes (share.go). Run listens, so
	// that what another replica published counts as seen and its relay
	// skips it without a look-up. A message lost costs look-ups only.
	Share string
	Log   *slog.Logger
}

// Publisher publishes events with their Nats-Msg-Id, at most once per id
// as far as it can tell (see the package comment).
type Publisher struct {
	cfg Config
	nc  *nats.Conn
	// sender tells this Publisher's Share messages from the others'.
	sender string

	mu   sync.Mutex
	seen map[uint64]struct{}
	ring []uint64
	next int

	later chan laterEvent
	wg    sync.WaitGroup
}

type laterEvent struct {
	ev  Event
	due time.Time
}

// New returns a Publisher; Start runs its background publishing.
func New(cfg Config) *Publisher {
	if cfg.Stream == "" {
		cfg.Stream = events.StreamEvents.Name
	}
	if cfg.Window <= 0 {
		cfg.Window = events.StreamEvents.Duplicates
	}
	if cfg.Remember <= 0 {
		cfg.Remember = 1 << 16
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Grace <= 0 {
		cfg.Grace = time.Second
	}
	return &Publisher{
		cfg:    cfg,
		nc:     cfg.JS.Conn(),
		sender: nuid.Next(),
		seen:   make(map[uint64]struct{}, cfg.Remember),
		ring:   make([]uint64, cfg.Remember),
		later:  make(chan laterEvent, 1<<16),
	}
}

// Start runs Run in a goroutine; Wait waits for it.
func (p *Publisher) Start(ctx context.Context) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.Run(ctx)
	}()
}

// Run listens to the ids other replicas saw stored (Config.Share) and
// publishes what Later queues until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	if p.cfg.Share != "" {
		if stop, err := p.listen(); err != nil {
			p.cfg.Log.Warn("listen to stored event ids; relying on look-ups", "err", err)
		} else {
			defer stop()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case le := <-p.later:
			if !sleep(ctx, time.Until(le.due)) {
				return
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := p.Ensure(pctx, le.ev); err != nil && ctx.Err() == nil {
				p.cfg.Log.Warn("publish carried event", "subject", le.ev.Subject, "msg_id", le.ev.MsgID, "err", err)
			}
			cancel()
		}
	}
}

// Wait waits for the background publishing to end (after Start's context).
func (p *Publisher) Wait() { p.wg.Wait() }

// Later queues events (carried by a committed write) to Ensure in the
// background once Grace has passed. When the queue is full they are left
// to the relay, which sees them on the write.
func (p *Publisher) Later(evs ...Event) {
	due := time.Now().Add(p.cfg.Grace)
	for _, ev := range evs {
		if ev.Subject == "" || p.Seen(ev.MsgID) {
			continue
		}
		select {
		case p.later <- laterEvent{ev, due}:
		default:
			return
		}
	}
}

// Publish publishes evs (skipping those seen stored) and waits until the
// stream stored them; a copy the stream drops as a duplicate counts as
// stored. It is the fast path: an event is looked for on its subject first
// only when it is older than half the Duplicates window. The first error is
// returned; the other events are published anyway.
func (p *Publisher) Publish(ctx context.Context, evs ...Event) error {
	return p.publish(ctx, false, evs)
}

// Ensure is Publish for events that may have been published by someone
// else (the relay, carried events): each one not seen stored is looked for
// on its subject and published only when absent, so that plain
// subscribers of the subject see no second copy either.
func (p *Publisher) Ensure(ctx context.Context, evs ...Event) error {
	return p.publish(ctx, true, evs)
}

func (p *Publisher) publish(ctx context.Context, lookup bool, evs []Event) error {
	type pending struct {
		ev Event
		f  jetstream.PubAckFuture
	}
	futures := make([]pending, 0, len(evs))
	var found []uint64 // hashes of the events found stored by a look-up
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	for _, ev := range evs {
		if ev.Subject == "" || p.Seen(ev.MsgID) {
			continue
		}
		if lookup || p.old(ev) {
			ok, err := p.Stored(ctx, ev)
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				// Publish anyway: a second copy beats a lost event.
				p.cfg.Log.Warn("look for an event", "subject", ev.Subject, "msg_id", ev.MsgID, "err", err)
			}
			if ok {
				found = append(found, p.mark(ev.MsgID))
				continue
			}
		}
		msg := &nats.Msg{Subject: ev.Subject, Data: ev.Data, Header: nats.Header{}}
		f, err := p.cfg.JS.PublishMsgAsync(msg, jetstream.WithMsgID(ev.MsgID))
		if err != nil {
			keep(fmt.Errorf("publish %s: %w", ev.Subject, err))
			continue
		}
		futures = append(futures, pending{ev, f})
	}
	stored := make([]uint64, 0, len(futures)+len(found))
	stored = append(stored, found...)
	for _, pf := range futures {
		select {
		case <-pf.f.Ok():
			stored = append(stored, p.mark(pf.ev.MsgID))
		case err := <-pf.f.Err():
			keep(fmt.Errorf("publish %s: %w", pf.ev.Subject, err))
		case <-ctx.Done():
			p.share(stored)
			return ctx.Err()
		}
	}
	p.share(stored)
	return firstErr
}

// old reports whether an earlier copy of ev may have left the Duplicates
// window (its change is older than half of it).
func (p *Publisher) old(ev Event) bool {
	return time.Since(ev.At) > p.cfg.Window/2
}

// Seen reports whether msgID was seen stored by this Publisher or, as far
// as it heard (Config.Share), by another replica.
func (p *Publisher) Seen(msgID string) bool {
	h := idHash(msgID)
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.seen[h]
	return ok
}

// mark remembers msgID as stored and returns its hash.
func (p *Publisher) mark(msgID string) uint64 {
	h := idHash(msgID)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.markLocked(h)
	return h
}

func (p *Publisher) markLocked(h uint64) {
	if _, ok := p.seen[h]; ok {
		return
	}
	if old := p.ring[p.next]; old != 0 {
		delete(p.seen, old)
	}
	p.ring[p.next] = h
	p.next = (p.next + 1) % len(p.ring)
	p.seen[h] = struct{}{}
}

// maxScan bounds the messages Stored reads on one subject.
const maxScan = 1000

// errScan is returned when Stored gave up.
var errScan = errors.New("outbox: too many events on the subject to look for a copy")

// maxSkew is the clock difference between hosts Stored allows for.
const maxSkew = 5 * time.Second

// Stored reports whether the stream holds ev: a message on ev's subject
// with its Nats-Msg-Id, stored after ev.At (less maxSkew).
func (p *Publisher) Stored(ctx context.Context, ev Event) (bool, error) {
	start := ev.At.Add(-maxSkew)
	req := msgGetRequest{StartTime: &start, NextFor: ev.Subject}
	for range maxScan {
		m, err := p.getMsg(ctx, req)
		if err != nil || m == nil {
			return false, err
		}
		if len(m.Header) > 0 {
			h, err := nats.DecodeHeadersMsg(m.Header)
			if err == nil && h.Get(jetstream.MsgIDHeader) == ev.MsgID {
				return true, nil
			}
		}
		req = msgGetRequest{Seq: m.Seq + 1, NextFor: ev.Subject}
	}
	return false, errScan
}

type msgGetRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

type storedMsg struct {
	Seq    uint64 `json:"seq"`
	Header []byte `json:"hdrs,omitempty"`
}

type msgGetResponse struct {
	Message *storedMsg `json:"message"`
	Error   *struct {
		Code    int    `json:"code"`
		ErrCode int    `json:"err_code"`
		Desc    string `json:"description"`
	} `json:"error"`
}

// errNoMessageFound is JetStream's err_code for "no message found".
const errNoMessageFound = 10037

// getMsg reads one stored message (nil when there is none) with the
// stream API, which, unlike direct gets, takes a start time with a subject.
func (p *Publisher) getMsg(ctx context.Context, req msgGetRequest) (*storedMsg, error) {
	body, err := jsonx.Marshal(req)
	if err != nil {
		return nil, err
	}
	reply, err := p.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+p.cfg.Stream, body)
	if err != nil {
		return nil, fmt.Errorf("outbox: look up %s: %w", req.NextFor, err)
	}
	var resp msgGetResponse
	if err := jsonx.Unmarshal(reply.Data, &resp); err != nil {
		return nil, fmt.Errorf("outbox: look up %s: %w", req.NextFor, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == errNoMessageFound {
			return nil, nil
		}
		return nil, fmt.Errorf("outbox: look up %s: %s (err_code %d)", req.NextFor, resp.Error.Desc, resp.Error.ErrCode)
	}
	return resp.Message, nil
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
