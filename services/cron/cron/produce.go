package cron

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/members"
)

// producer publishes, every tick, the due occurrences of this replica's
// share of the schedules and scheduled rules (members.Ownership over the
// records' keys). It keeps the others' occurrences it skipped for
// skipKeep: when its share grows (a replica died or left), it publishes
// those now its own, since their old owner may have died before it
// produced them. An occurrence produced twice (by the old owner and the
// new one, or by two replicas that disagree on the share for a moment)
// is stored once: CRON_FIRES deduplicates by Nats-Msg-Id. Occurrences
// whose publish failed are tried again the next tick while they are
// within the catch-up horizon.
type producer struct {
	s *Service
	// own is the share the last tick produced with.
	own     *members.Ownership
	skipped []skippedFire // oldest first
	retry   []fire
	// skipKeep is how long a skipped occurrence is kept: well beyond the
	// time a dead replica's share takes to move (three member intervals).
	skipKeep time.Duration
}

// skippedFire is another replica's occurrence and when it was skipped.
type skippedFire struct {
	fire
	at time.Time
}

// produce runs the producer until ctx ends.
func (s *Service) produce(ctx context.Context) {
	p := &producer{s: s, skipKeep: 30 * s.cfg.MemberInterval}
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		p.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tick publishes what is due now and this replica's part of it.
func (p *producer) tick(ctx context.Context) {
	now := p.s.cfg.Now()
	out := p.due(now, p.s.members.Current())
	if len(out) == 0 {
		return
	}
	failed := p.s.publishFires(ctx, out)
	horizon := now.Add(-p.s.cfg.CatchUp)
	for _, f := range failed {
		if !f.occurrence.Before(horizon) {
			p.retry = append(p.retry, f)
		}
	}
}

// due returns the occurrences to publish at now under share o: those
// skipped in the last skipKeep that o newly owns, the retries, and o's
// part of what the cache has due; it keeps the rest as skipped.
func (p *producer) due(now time.Time, o *members.Ownership) []fire {
	old := 0
	for old < len(p.skipped) && now.Sub(p.skipped[old].at) > p.skipKeep {
		old++
	}
	p.skipped = p.skipped[old:]
	var out []fire
	if p.own != nil && o != p.own {
		kept := p.skipped[:0]
		for _, f := range p.skipped {
			if o.OwnsKey(f.key) {
				out = append(out, f.fire)
			} else {
				kept = append(kept, f)
			}
		}
		clear(p.skipped[len(kept):])
		p.skipped = kept
		if len(out) > 0 {
			p.s.log.Info("producing occurrences of a share taken over", "occurrences", len(out), "owned", o.Count(), "live", o.Live)
		}
	}
	p.own = o
	out = append(out, p.retry...)
	p.retry = nil
	for _, f := range p.s.cache.takeDue(now) {
		if o.OwnsKey(f.key) {
			out = append(out, f)
		} else {
			p.skipped = append(p.skipped, skippedFire{fire: f, at: now})
		}
	}
	return out
}

// publishFires publishes each occurrence on CRON_FIRES with its message
// id and returns those whose publish failed.
func (s *Service) publishFires(ctx context.Context, due []fire) (failed []fire) {
	type sent struct {
		fire
		fut jetstream.PubAckFuture
	}
	futures := make([]sent, 0, len(due))
	for _, d := range due {
		f := fireMsg{Kind: d.kind, Key: d.key, Occurrence: d.occurrence}
		data, _ := json.Marshal(f)
		msg := &nats.Msg{Subject: events.SubjCronFire(d.kind, d.scope, d.name), Data: data, Header: nats.Header{"Berth-Type": {TypeFire}}}
		fut, err := s.js.PublishMsgAsync(msg, jetstream.WithMsgID(f.msgID()))
		if err != nil {
			s.log.Warn("produce occurrence", "key", d.key, "err", err)
			failed = append(failed, d)
			continue
		}
		futures = append(futures, sent{d, fut})
	}
	for i, f := range futures {
		select {
		case <-f.fut.Ok():
		case err := <-f.fut.Err():
			s.log.Warn("produce occurrence", "subject", f.fut.Msg().Subject, "err", err)
			failed = append(failed, f.fire)
		case <-ctx.Done():
			for _, rest := range futures[i:] {
				failed = append(failed, rest.fire)
			}
			return failed
		}
	}
	return failed
}
