package cron

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/services/cron/expr"
	"github.com/berth-project/berth/services/cron/pattern"
)

// cache is one replica's view of the bucket, fed by a KV watch: the
// schedules and scheduled rules ordered by their next due time (for the
// producer), and the enabled event-pattern rules (for matching). It holds
// no state of its own that another replica needs.
type cache struct {
	s  *Service
	mu sync.Mutex
	// items maps a key to its current item; heap items no longer in items
	// are stale and dropped when popped.
	items map[string]*item
	queue itemHeap
	// patterns are the enabled rules with an event pattern, by key.
	patterns map[string]*patternRule
	ready    chan struct{}
	wg       sync.WaitGroup
}

// item is a schedule or scheduled rule waiting for its next occurrence.
type item struct {
	key    string
	kind   string // "sch" or "rule"
	scope  string // group or bus
	name   string
	timing expr.Timing
	window time.Duration // flexible time window
	next   time.Time     // the occurrence
	due    time.Time     // when to fire it: next + a flexible offset
	index  int
}

// patternRule is an enabled event-pattern rule.
type patternRule struct {
	key     string
	rule    *ruleRecord
	pattern *pattern.Pattern
}

func newCache(s *Service) *cache {
	return &cache{s: s, items: map[string]*item{}, patterns: map[string]*patternRule{}, ready: make(chan struct{})}
}

// start watches the bucket until ctx ends and waits for the initial values.
func (c *cache) start(ctx context.Context) error {
	w, err := c.s.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", events.BucketCron.Name, err)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { _ = w.Stop() }()
		initial := true
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					if initial {
						initial = false
						close(c.ready)
					}
					continue
				}
				c.apply(e)
			}
		}
	}()
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return fmt.Errorf("watch %s: no initial values", events.BucketCron.Name)
	}
}

func (c *cache) wait() { c.wg.Wait() }

// apply takes one KV change into the cache.
func (c *cache) apply(e jetstream.KeyValueEntry) {
	key := e.Key()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.items, key)
	delete(c.patterns, key)
	if e.Operation() != jetstream.KeyValuePut {
		return
	}
	now := c.s.cfg.Now()
	switch {
	case strings.HasPrefix(key, "sch."):
		var r scheduleRecord
		if err := json.Unmarshal(e.Value(), &r); err != nil || r.State != stateEnabled {
			return
		}
		t, err := r.timing(c.s.cfg.Minute)
		if err != nil {
			c.s.log.Warn("schedule timing", "key", key, "err", err)
			return
		}
		var window time.Duration
		if r.Window.Mode == "FLEXIBLE" && r.Window.MaximumWindowInMinutes != nil {
			window = time.Duration(*r.Window.MaximumWindowInMinutes) * c.s.cfg.Minute
		}
		c.schedule(&item{key: key, kind: "sch", scope: r.Group, name: r.Name, timing: t, window: window}, now, r.Modified)
	case strings.HasPrefix(key, "rule."):
		var r ruleRecord
		if err := json.Unmarshal(e.Value(), &r); err != nil || r.State != stateEnabled {
			return
		}
		if r.Pattern != "" {
			p, err := pattern.Compile([]byte(r.Pattern))
			if err != nil {
				c.s.log.Warn("rule pattern", "key", key, "err", err)
				return
			}
			c.patterns[key] = &patternRule{key: key, rule: &r, pattern: p}
			return
		}
		t, err := r.timing(c.s.cfg.Minute)
		if err != nil {
			c.s.log.Warn("rule timing", "key", key, "err", err)
			return
		}
		c.schedule(&item{key: key, kind: "rule", scope: r.Bus, name: r.Name, timing: t}, now, r.Modified)
	}
}

// schedule queues it at its first occurrence after the later of its last
// change and now minus the catch-up horizon. Called with c.mu held.
func (c *cache) schedule(it *item, now, modified time.Time) {
	after := now.Add(-c.s.cfg.CatchUp)
	if m := modified.Add(-time.Nanosecond); m.After(after) {
		after = m
	}
	next, ok := it.timing.Next(after)
	if !ok {
		return
	}
	it.setNext(next)
	c.items[it.key] = it
	heap.Push(&c.queue, it)
}

// setNext sets the occurrence and its due time: within a flexible window,
// a fixed offset derived from the key and the occurrence, so every replica
// picks the same one.
func (it *item) setNext(next time.Time) {
	it.next, it.due = next, next
	if it.window > 0 {
		h := fnv.New64a()
		h.Write([]byte(it.key + "@" + next.Format(time.RFC3339Nano)))
		it.due = next.Add(time.Duration(h.Sum64() % uint64(it.window)))
	}
}

// fire is one occurrence to publish.
type fire struct {
	kind, scope, name, key string
	occurrence             time.Time
}

// takeDue pops every occurrence due at now, queues each item's next one,
// and returns those to publish (occurrences older than the catch-up
// horizon are dropped).
func (c *cache) takeDue(now time.Time) []fire {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []fire
	horizon := now.Add(-c.s.cfg.CatchUp)
	for c.queue.Len() > 0 && !c.queue[0].due.After(now) {
		it := heap.Pop(&c.queue).(*item)
		if c.items[it.key] != it {
			continue // replaced or deleted
		}
		if !it.next.Before(horizon) {
			out = append(out, fire{kind: it.kind, scope: it.scope, name: it.name, key: it.key, occurrence: it.next})
		}
		next, ok := it.timing.Next(it.next)
		if !ok {
			delete(c.items, it.key)
			continue
		}
		it.setNext(next)
		heap.Push(&c.queue, it)
	}
	return out
}

// nextDue is the due time of the earliest queued occurrence.
func (c *cache) nextDue() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queue.Len() == 0 {
		return time.Time{}, false
	}
	return c.queue[0].due, true
}

// matching returns the enabled pattern rules that match event.
func (c *cache) matching(event []byte) []*patternRule {
	c.mu.Lock()
	rules := make([]*patternRule, 0, len(c.patterns))
	for _, r := range c.patterns {
		rules = append(rules, r)
	}
	c.mu.Unlock()
	var out []*patternRule
	for _, r := range rules {
		if r.pattern.MatchJSON(event) {
			out = append(out, r)
		}
	}
	return out
}

// itemHeap orders items by due time.
type itemHeap []*item

func (h itemHeap) Len() int           { return len(h) }
func (h itemHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h itemHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *itemHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *itemHeap) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return it
}
