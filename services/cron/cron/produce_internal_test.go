package cron

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/members"
	"github.com/berth-project/berth/services/cron/expr"
)

// producerWith returns a producer over n rate(1 minute) schedules created
// 90 s before now, each with two occurrences due at now.
func producerWith(t *testing.T, now time.Time, n int) *producer {
	t.Helper()
	s := &Service{cfg: Config{Now: func() time.Time { return now }, CatchUp: 5 * time.Minute, Minute: time.Minute}, log: slog.New(slog.DiscardHandler)}
	s.cache = newCache(s)
	e, err := expr.Parse("rate(1 minute)", expr.Scheduler)
	if err != nil {
		t.Fatal(err)
	}
	created := now.Add(-90 * time.Second)
	s.cache.mu.Lock()
	for i := range n {
		name := fmt.Sprintf("s-%02d", i)
		s.cache.schedule(&item{key: "sch.default." + name, kind: "sch", scope: "default", name: name,
			timing: expr.Timing{Expr: e, Anchor: created, Minute: time.Minute}}, now, created)
	}
	s.cache.mu.Unlock()
	return &producer{s: s, skipKeep: 30 * time.Second}
}

// fireIDs names fires by key and occurrence, sorted.
func fireIDs(fs []fire) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.key+"@"+f.occurrence.Format(time.RFC3339))
	}
	slices.Sort(out)
	return out
}

// TestProducer_Share: a replica produces the occurrences of its share and
// keeps the others'; when its share grows (the other replica died before
// producing them) it produces those it now owns, once; together the two
// ticks produce exactly what a lone replica does. A failed publish comes
// back the next tick. Skipped occurrences older than skipKeep are dropped.
func TestProducer_Share(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 30, 0, time.UTC)
	half := members.ShareOf("me", []string{"me", "other"})
	alone := members.ShareOf("me", []string{"me"})

	p := producerWith(t, now, 40)
	mine := p.due(now, half)
	if len(mine) == 0 || len(mine) == 80 {
		t.Fatalf("half the share produced %d of 80 occurrences", len(mine))
	}
	for _, f := range mine {
		if !half.OwnsKey(f.key) {
			t.Fatalf("produced %s of the other replica's share", f.key)
		}
	}
	if again := p.due(now.Add(time.Second), half); len(again) != 0 {
		t.Fatalf("same share, nothing new due: produced %v", fireIDs(again))
	}
	taken := p.due(now.Add(2*time.Second), alone)
	for _, f := range taken {
		if half.OwnsKey(f.key) {
			t.Fatalf("took over %s, which was already this replica's", f.key)
		}
	}
	want := fireIDs(producerWith(t, now, 40).due(now, alone))
	if got := fireIDs(append(mine, taken...)); !slices.Equal(got, want) {
		t.Fatalf("produced over the two shares:\n%v\nwant, as a lone replica:\n%v", got, want)
	}
	if again := p.due(now.Add(3*time.Second), alone); len(again) != 0 {
		t.Fatalf("took over twice: %v", fireIDs(again))
	}

	p.retry = taken[:1]
	if got := fireIDs(p.due(now.Add(4*time.Second), alone)); !slices.Equal(got, fireIDs(taken[:1])) {
		t.Fatalf("retry: produced %v, want %v", got, fireIDs(taken[:1]))
	}

	p = producerWith(t, now, 40)
	p.due(now, half)
	late := now.Add(p.skipKeep + time.Second)
	for _, f := range p.due(late, alone) {
		if !f.occurrence.After(now) {
			t.Fatalf("took over %s@%s, skipped %s ago (keep %s)", f.key, f.occurrence, p.skipKeep+time.Second, p.skipKeep)
		}
	}
}
