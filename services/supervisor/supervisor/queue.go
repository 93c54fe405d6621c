package supervisor

import "sync"

// queue holds the services due for a reconcile in this replica: a key is
// queued at most once, and handed to one worker at a time (a key queued
// again while a worker has it comes back once the worker is done).
type queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	order   []string
	queued  map[string]bool
	busy    map[string]bool
	again   map[string]bool
	stopped bool
}

func newQueue() *queue {
	q := &queue{queued: map[string]bool{}, busy: map[string]bool{}, again: map[string]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues key.
func (q *queue) add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.busy[key]:
		q.again[key] = true
	case !q.queued[key]:
		q.queued[key] = true
		q.order = append(q.order, key)
		q.cond.Signal()
	}
}

// next blocks for a key; ok is false once the queue is stopped.
func (q *queue) next() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.stopped {
		q.cond.Wait()
	}
	if q.stopped {
		return "", false
	}
	key := q.order[0]
	q.order = q.order[1:]
	delete(q.queued, key)
	q.busy[key] = true
	return key, true
}

// done releases key, queueing it again if it was added meanwhile.
func (q *queue) done(key string) {
	q.mu.Lock()
	delete(q.busy, key)
	again := q.again[key]
	delete(q.again, key)
	q.mu.Unlock()
	if again {
		q.add(key)
	}
}

// stop wakes every waiting worker.
func (q *queue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
