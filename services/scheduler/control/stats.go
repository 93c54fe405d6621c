package control

import "sync/atomic"

// placementStats counts what the committers did, for benchmarks and
// operators: the conflict rate is Conflicts / TasksPlaced.
type placementStats struct {
	commits, conflicts, tasks, narrowed, widened atomic.Int64
}

// Stats is a snapshot of a replica's placement counters since it started.
type Stats struct {
	// Commits is the atomic batches this replica committed; Conflicts the
	// batches that lost a compare-and-set race (an expected revision was
	// stale) and were built again.
	Commits   int64
	Conflicts int64
	// TasksPlaced is the tasks this replica placed (RunTask, StartTask).
	TasksPlaced int64
	// Narrowed is the RunTask placements that fit on this replica's own
	// shards; Widened those that did not and were placed over the whole
	// cluster.
	Narrowed int64
	Widened  int64
	// Replicas is the live replicas this one knows of, Shards how many of
	// the placement shards it owns.
	Replicas int
	Shards   int
	// FeedReads is the holes in the feed of commits this replica read
	// from the state stream (a digest lost, or a replica that died between
	// its commit and its digest; feed.go).
	FeedReads int64
}

// Stats returns the replica's placement counters.
func (s *Service) Stats() Stats {
	o := s.members.Current()
	shards := o.Count()
	return Stats{
		Commits: s.stats.commits.Load(), Conflicts: s.stats.conflicts.Load(), TasksPlaced: s.stats.tasks.Load(),
		Narrowed: s.stats.narrowed.Load(), Widened: s.stats.widened.Load(),
		Replicas: o.Live, Shards: shards,
		FeedReads: s.feedReads(),
	}
}

func (s *Service) feedReads() int64 {
	if s.feed == nil {
		return 0
	}
	return s.feed.fetches.Load()
}
