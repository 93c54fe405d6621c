package control

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/members"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/scheduler"
)

// Group commit. Every change of instance records (placing tasks, releasing
// a stopped task's resources) is an atomic batch that also writes tasks and
// assignments, expecting the revisions it was computed from. On a stream
// with one replica on disk, JetStream stages each atomic batch in a file
// store of its own and syncs it at commit, under the stream's lock: a batch
// costs about as much as a disk sync (10-15 ms here) whatever its size.
// So each replica runs one committer per cluster, which takes every job
// queued meanwhile, applies them in turn to one working copy of the
// cluster's instances and commits them as one batch. A lost race (another
// replica changed an instance or a task) refreshes what the round touched
// and runs every job of the round again.

// maxRoundMessages bounds one batch (JetStream allows 1000 messages).
const maxRoundMessages = 900

// job is one change that goes through a cluster's committer.
type job struct {
	// ctx is the submitter's: a job whose submitter gave up is dropped
	// before its next round (a RunTask retried with its clientToken finds
	// out what became of it).
	ctx context.Context
	// msgs bounds the messages the job adds to a batch.
	msgs int
	// token de-duplicates jobs within a round: a second job with the same
	// non-empty token waits for the next round (a RunTask clientToken).
	token string
	// prepare reads what the job needs before each round; true ends the
	// job (its result is set).
	prepare func(ctx context.Context) bool
	// apply adds the job's writes to the round, changing its working
	// instances; a job that adds none is finished (its result is set).
	apply func(r *round)
	// finish runs after the commit, with the batch's revisions; it updates
	// the cache and queues the job's events.
	finish func(r *round, revs []uint64)
	// fail sets the job's result to err.
	fail func(err error)

	// again is set by apply when the job found its inputs inconsistent
	// (a task read older than the instance snapshot): it adds nothing
	// this round and runs again in the next one, after the instances it
	// named in round.refresh were re-read.
	again bool
	// tries counts the rounds the job asked to run again, attempts the
	// rounds it lost.
	tries    int
	attempts int

	done chan struct{}
}

// committer serialises one replica's instance-changing commits in one
// cluster.
type committer struct {
	s       *Service
	cluster string
	queue   chan *job
	// post announces committed rounds, in order, off the commit path: the
	// next round is built and committed while the events of the last one
	// are published. A job is done once its events are stored.
	post chan *round
	// budget is the messages a round may take now: cut when a round loses
	// a race with another replica (a smaller round is less likely to
	// overlap another replica's), grown back as rounds land.
	budget int
	// flightTime is how long the last round took to land (an average);
	// with several replicas a round lingers for part of it (see linger).
	flightTime time.Duration
}

// maxLinger bounds how long a round waits for more jobs.
const maxLinger = 40 * time.Millisecond

// linger is how long a round waits for more jobs before it is built, or 0.
// A lone replica keeps its two-stage pipeline and never waits. With
// several replicas the server takes their batches in turn, each costing
// about as much whatever its size (on a one-replica file stream an atomic
// batch is staged and synced on its own), and each replica's share of the
// callers splits into the round in flight and the one being built: small
// rounds. So a replica commits one round at a time and lets the next one
// gather, for a quarter of the last round's flight, the callers it just
// answered.
func (c *committer) linger() time.Duration {
	if c.s.members.Current().All {
		return 0
	}
	return min(maxLinger, c.flightTime/2)
}

// placeMessages is what one RunTask of ten tasks adds to a batch (ten
// tasks, ten assignments, up to ten instances, the clientToken);
// minRoundMessages is the least budget, five of them: below that the
// fixed cost of a batch outweighs what a smaller round saves in lost
// races.
const placeMessages = 31

const minRoundMessages = 5 * placeMessages

// maxJobAttempts bounds the rounds a job may lose before it fails with a
// ServerException (SDKs retry those); in practice its submitter's deadline
// comes first.
const maxJobAttempts = 1000

// committerFor returns the cluster's committer, starting it on first use.
func (s *Service) committerFor(cluster string) *committer {
	cc := s.cache.cluster(cluster)
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	if cc.committer == nil {
		c := &committer{s: s, cluster: cluster, queue: make(chan *job, 1024), post: make(chan *round, 4), budget: maxRoundMessages}
		if !s.bg.goRun(func() { c.run(s.bgCtx) }) {
			return nil
		}
		s.bg.goRun(func() { c.announce(s.bgCtx) })
		cc.committer = c
	}
	return cc.committer
}

// submit queues j on the cluster's committer and waits for it.
func (s *Service) submit(ctx context.Context, cluster string, j *job) error {
	c := s.committerFor(cluster)
	if c == nil {
		return fmt.Errorf("control: shutting down")
	}
	j.done = make(chan struct{})
	j.ctx = ctx
	select {
	case c.queue <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.s.bgCtx.Done():
		return fmt.Errorf("control: shutting down")
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		// The job may still commit; its caller's retry (clientToken, or a
		// redelivered report) finds out.
		return ctx.Err()
	}
}

// flight is a round on its way: built, then committing.
type flight struct {
	r       *round
	writers []*job // the jobs whose writes are in the batch
	touched []*events.InstanceRecord
	result  chan flightResult
	start   time.Time
}

type flightResult struct {
	revs []uint64
	err  error
}

// run takes queued jobs, as many as fit in one batch, and commits them,
// until ctx ends. It is a two-stage pipeline: while one round's batch is
// being committed, the next round is built on top of that round's working
// instances, and launched once the first has landed (with the revisions it
// produced). If a round loses, the round built on it is thrown away and
// the jobs of both run again.
func (c *committer) run(ctx context.Context) {
	var carry []*job
	var fl *flight
	conflicts, rebuilt := 0, false
	for {
		if ctx.Err() != nil {
			if fl != nil {
				c.land(ctx, fl, &conflicts)
			}
			c.failAll(carry, fmt.Errorf("control: shutting down"))
			c.drain()
			return
		}
		linger := c.linger()
		if linger > 0 && fl != nil {
			// One round at a time: wait for it, then gather the next.
			retry, _ := c.land(ctx, fl, &conflicts)
			carry = append(carry, retry...)
			fl = nil
		}
		if fl != nil {
			// A round that has already landed is announced at once rather
			// than after the next one is built.
			select {
			case res := <-fl.result:
				fl.result <- res
				retry, _ := c.land(ctx, fl, &conflicts)
				carry = append(carry, retry...)
				fl = nil
			default:
			}
		}
		jobs, rest := c.gather(ctx, carry, fl == nil, linger)
		carry = rest
		if len(jobs) == 0 {
			if fl != nil {
				carry, _ = c.land(ctx, fl, &conflicts)
				fl = nil
			}
			continue
		}
		next, deferred := c.build(ctx, jobs, fl)
		carry = append(carry, deferred...)
		if fl != nil {
			retry, ok := c.land(ctx, fl, &conflicts)
			carry = append(carry, retry...)
			if !ok {
				// next was built on a round that did not land.
				carry = append(carry, next.writers...)
				fl = nil
				continue
			}
			next.r.resolve(fl)
			fl = nil
		}
		if len(next.writers) == 0 {
			continue
		}
		if !rebuilt && !next.r.current() {
			// The feed brought a newer revision of an instance the round
			// writes: it would lose at the server. Build it again, once
			// (under a steady stream of other replicas' commits a round
			// might never be current; the server has the last word).
			carry = append(carry, next.writers...)
			c.shrink()
			rebuilt = true
			continue
		}
		rebuilt = false
		c.launch(ctx, next)
		fl = next
	}
}

// shrink cuts the round budget by a quarter after a lost race; grow raises
// it by one placement after a landed round.
func (c *committer) shrink() { c.budget = max(minRoundMessages, c.budget*3/4) }
func (c *committer) grow()   { c.budget = min(maxRoundMessages, c.budget+placeMessages) }

// gather returns the jobs of the next round, within the budget: carried
// jobs first (oldest first), then queued ones; the carried jobs that do not
// fit come back as rest. It blocks for a first job only when there is
// nothing else to do.
func (c *committer) gather(ctx context.Context, carry []*job, block bool, linger time.Duration) (jobs, rest []*job) {
	budget := c.budget
	for i, j := range carry {
		if len(jobs) > 0 && j.msgs > budget {
			return jobs, carry[i:]
		}
		jobs = append(jobs, j)
		budget -= j.msgs
	}
	if len(jobs) == 0 && block {
		select {
		case <-ctx.Done():
			return nil, nil
		case j := <-c.queue:
			jobs = append(jobs, j)
			budget -= j.msgs
		}
	}
	var deadline <-chan time.Time
	if linger > 0 && len(jobs) > 0 {
		t := time.NewTimer(linger)
		defer t.Stop()
		deadline = t.C
	}
	for budget > 0 {
		var j *job
		select {
		case j = <-c.queue:
		default:
			if deadline == nil {
				return jobs, nil
			}
			select {
			case j = <-c.queue:
			case <-deadline:
				return jobs, nil
			case <-ctx.Done():
				return jobs, nil
			}
		}
		if j.msgs > budget {
			return jobs, []*job{j}
		}
		jobs = append(jobs, j)
		budget -= j.msgs
	}
	return jobs, nil
}

// drain fails the jobs still queued at shutdown.
func (c *committer) drain() {
	for {
		select {
		case j := <-c.queue:
			j.fail(fmt.Errorf("control: shutting down"))
			close(j.done)
		default:
			return
		}
	}
}

// build prepares and applies jobs as one round, on top of the working
// instances of prev when a round is in flight. It returns the round and
// the jobs that must wait for a later one.
func (c *committer) build(ctx context.Context, jobs []*job, prev *flight) (*flight, []*job) {
	r := c.s.newRound(c.cluster)
	tokens := map[string]bool{}
	if prev != nil {
		r.overlay(prev.r)
		for _, j := range prev.writers {
			tokens[j.token] = j.token != ""
		}
	}
	f := &flight{r: r}
	var deferred []*job
	for _, j := range jobs {
		if err := j.ctx.Err(); err != nil {
			j.fail(err)
			close(j.done)
			continue
		}
		if j.token != "" && tokens[j.token] {
			deferred = append(deferred, j)
			continue
		}
		if j.prepare(ctx) {
			close(j.done)
			continue
		}
		tokens[j.token] = j.token != ""
		before := len(r.b.writes)
		j.again = false
		j.apply(r)
		switch {
		case j.again:
			j.tries++
			deferred = append(deferred, j)
		case len(r.b.writes) == before:
			close(j.done)
		default:
			f.writers = append(f.writers, j)
		}
	}
	if len(r.stale) > 0 {
		if err := c.s.refreshIDs(ctx, c.cluster, r.stale); err != nil {
			c.failAll(append(f.writers, deferred...), err)
			return &flight{r: r}, nil
		}
	}
	return f, deferred
}

// launch starts committing f's batch.
func (c *committer) launch(ctx context.Context, f *flight) {
	f.touched = f.r.addInstanceWrites()
	f.result = make(chan flightResult, 1)
	f.start = time.Now()
	go func() {
		revs, err := c.s.state.commit(ctx, f.r.b)
		f.result <- flightResult{revs, err}
	}()
}

// land waits for f's commit. On success it updates the cache and hands
// the round to announce; ok is true. On a lost race it refreshes what the
// round touched and returns its jobs to run again (those that have not
// lost too often).
func (c *committer) land(ctx context.Context, f *flight, conflicts *int) (retry []*job, ok bool) {
	var res flightResult
	select {
	case res = <-f.result:
	case <-ctx.Done():
		res = flightResult{err: ctx.Err()}
	}
	if natsutil.IsConflict(res.err) {
		c.s.stats.conflicts.Add(1)
		*conflicts++
		c.shrink()
		if err := c.s.refreshInstances(ctx, c.cluster, f.touched); err != nil {
			c.failAll(f.writers, err)
			return nil, false
		}
		for _, j := range f.writers {
			if j.attempts++; j.attempts >= maxJobAttempts {
				j.fail(fmt.Errorf("commit in %s: %w", c.cluster, errTooMuchContention))
				close(j.done)
				continue
			}
			retry = append(retry, j)
		}
		if *conflicts > 2 {
			sleepCtx(ctx, time.Duration(rand.IntN(1+min(*conflicts, 20)))*time.Millisecond)
		}
		return retry, false
	}
	if res.err != nil {
		c.failAll(f.writers, fmt.Errorf("commit in %s: %w", c.cluster, res.err))
		return nil, false
	}
	*conflicts = 0
	c.s.stats.commits.Add(1)
	c.flightTime = (3*c.flightTime + time.Since(f.start)) / 4
	c.grow()
	f.r.landedRevs = res.revs
	for i, rec := range f.touched {
		c.s.cache.putInstance(rec, res.revs[f.r.instAt[i]])
	}
	for _, j := range f.writers {
		j.finish(f.r, res.revs)
	}
	f.r.pubInsts, f.r.jobs = f.touched, f.writers
	select {
	case c.post <- f.r:
	case <-ctx.Done():
		c.failAll(f.writers, ctx.Err())
	}
	return nil, true
}

// announce publishes the events of committed rounds and then lets their
// jobs go.
func (c *committer) announce(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case r := <-c.post:
					for _, j := range r.jobs {
						close(j.done)
					}
				default:
					return
				}
			}
		case r := <-c.post:
			evs := make([]outEvent, 0, len(r.pubTasks)+len(r.pubInsts))
			for _, t := range r.pubTasks {
				evs = append(evs, c.s.pub.taskEvent(t))
			}
			for _, rec := range r.pubInsts {
				evs = append(evs, c.s.pub.instanceEvent(rec))
			}
			c.s.pub.publish(ctx, evs...)
			for _, j := range r.jobs {
				close(j.done)
			}
		}
	}
}

func (c *committer) failAll(jobs []*job, err error) {
	for _, j := range jobs {
		j.fail(err)
		close(j.done)
	}
}

// round is one batch in the making: a working copy of the cluster's
// instances as the jobs so far changed them, and the batch.
type round struct {
	s       *Service
	cluster string
	snap    *snapshot
	insts   []scheduler.Instance // the working copies; snap.insts until changed
	cloned  bool
	dirty   map[int]bool
	// base holds, for instances the previous round (still in flight when
	// this one was built) changes, that round's index of its write: their
	// records and expected revisions come from it once it landed.
	base       map[int]int
	recs       []*events.InstanceRecord
	revs       []uint64
	ownRecs    bool // recs and revs are this round's copies, not the snapshot's
	landedRevs []uint64
	b          *batch
	now        time.Time
	// allowed marks the instances of this replica's shards (nil: all of
	// them), for the ownership it was computed for.
	allowed    []bool
	allowedOf  *members.Ownership
	instAt     []int    // batch index of each touched instance's write
	touchedIdx []int    // working index of each touched instance
	stale      []string // instance ids to re-read before the next round

	// After the commit: what to announce, and the jobs to let go then.
	pubTasks []*events.TaskRecord
	pubInsts []*events.InstanceRecord
	jobs     []*job
}

func (s *Service) newRound(cluster string) *round {
	snap := s.cache.placeSnapshot(cluster)
	return &round{s: s, cluster: cluster, snap: snap, insts: snap.insts, recs: snap.recs, revs: snap.revs, dirty: map[int]bool{}, b: s.state.newBatch(), now: s.cfg.Now().UTC()}
}

// overlay starts the round from the working instances of prev, a round
// in flight: what prev writes is what this round builds on.
func (r *round) overlay(prev *round) {
	r.base = map[int]int{}
	for k, i := range prev.touchedIdx {
		j := r.index(prev.snap.insts[i].ID)
		if j < 0 {
			continue
		}
		r.cloneInsts()
		r.insts[j] = prev.insts[i]
		r.base[j] = k
	}
}

// resolve takes the records and revisions of the instances this round
// built on from prev, which has landed.
func (r *round) resolve(prev *flight) {
	if len(r.base) == 0 {
		return
	}
	r.recs = append([]*events.InstanceRecord(nil), r.recs...)
	r.revs = append([]uint64(nil), r.revs...)
	for j, k := range r.base {
		r.recs[j] = prev.touched[k]
		r.revs[j] = prev.r.landedRevs[prev.r.instAt[k]]
	}
}

// current reports whether every instance the round writes still has, in
// the cache, the revision the round expects (those built on the previous
// round have just landed and are current by construction).
func (r *round) current() bool {
	for i := range r.dirty {
		if _, fromPrev := r.base[i]; fromPrev {
			continue
		}
		if rev, ok := r.s.cache.instanceRev(r.cluster, r.snap.insts[i].ID); ok && rev != r.revs[i] {
			return false
		}
	}
	return true
}

func (r *round) cloneInsts() {
	if !r.cloned {
		r.insts = append([]scheduler.Instance(nil), r.insts...)
		r.cloned = true
	}
}

// index returns the working index of instance id, or -1.
func (r *round) index(id string) int {
	i := sort.Search(len(r.snap.insts), func(i int) bool { return r.snap.insts[i].ID >= id })
	if i < len(r.snap.insts) && r.snap.insts[i].ID == id {
		return i
	}
	return -1
}

// share returns which working instances belong to this replica's shards,
// or nil when it places onto the whole cluster (it is the only replica, or
// owns none of these instances).
func (r *round) share() []bool {
	o := r.s.members.Current()
	if o.All {
		return nil
	}
	if r.allowedOf != o {
		r.allowedOf, r.allowed = o, make([]bool, len(r.snap.insts))
		some := false
		for i := range r.snap.insts {
			r.allowed[i] = o.Shards[members.ShardOf(r.snap.insts[i].ID)]
			some = some || r.allowed[i]
		}
		if !some {
			r.allowed = nil
		}
	}
	return r.allowed
}

// refresh asks for instance id to be re-read from the bucket before the
// next round.
func (r *round) refresh(id string) { r.stale = append(r.stale, id) }

// fresh returns working instance i, first brought up to date when the
// cache has a newer version than the snapshot: the placement snapshot may
// keep instances outside this replica's shards stale (see cache), and a
// release must start from what the instance holds now. An instance this
// round already changed, or builds on from the previous round, is kept.
func (r *round) fresh(i int) scheduler.Instance {
	if _, fromPrev := r.base[i]; fromPrev || r.dirty[i] {
		return r.insts[i]
	}
	id := r.snap.insts[i].ID
	if rev, ok := r.s.cache.instanceRev(r.cluster, id); !ok || rev == r.revs[i] {
		return r.insts[i]
	}
	rec, rev, ok := r.s.cache.instance(r.cluster, id)
	if !ok {
		return r.insts[i]
	}
	if !r.ownRecs {
		r.recs = slices.Clone(r.recs)
		r.revs = slices.Clone(r.revs)
		r.ownRecs = true
	}
	r.recs[i], r.revs[i] = rec, rev
	r.cloneInsts()
	r.insts[i] = schedInstance(rec, r.s.cache.running(r.cluster, id))
	return r.insts[i]
}

// set replaces working instance i.
func (r *round) set(i int, in scheduler.Instance) {
	r.cloneInsts()
	r.insts[i] = in
	r.dirty[i] = true
}

// addInstanceWrites adds a write of every changed instance, expecting the
// revision of the snapshot, and returns the new records in order.
func (r *round) addInstanceWrites() []*events.InstanceRecord {
	idx := make([]int, 0, len(r.dirty))
	for i := range r.dirty {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	touched := make([]*events.InstanceRecord, 0, len(idx))
	for _, i := range idx {
		next := withSched(r.recs[i], r.insts[i])
		next.Version++
		next.UpdatedAt = r.now
		touched = append(touched, next)
		r.touchedIdx = append(r.touchedIdx, i)
		at := r.b.putPlacement(next, r.revs[i])
		r.b.eventID(at, events.ECSEventMsgID(next.ARN, next.Version))
		r.s.pub.carryInstance(r.b, at, r.recs[i])
		r.instAt = append(r.instAt, at)
	}
	return touched
}
