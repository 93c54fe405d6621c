package control

import (
	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// SetAfterCommit sets a hook that runs right after every commit of the
// state bucket, before its events are published (nil: none). Set it before
// starting a service.
func SetAfterCommit(f func(writes []natsutil.KVWrite)) { afterCommit = f }

// SetLoseDigests makes every replica drop its feed digests instead of
// publishing them (false: publish again).
func SetLoseDigests(lose bool) { loseDigests.Store(lose) }

// CachedTask returns a task's lastStatus as this replica's cache holds it.
func (s *Service) CachedTask(cluster, id string) (string, bool) {
	for _, t := range s.cache.tasks(cluster, func(t *taskEntry) bool { return t.ID == id }) {
		return t.LastStatus, true
	}
	return "", false
}

// DecodeInstance decodes a stored instance record (instcodec.go).
func DecodeInstance(b []byte) (*events.InstanceRecord, error) { return decodeInstance(b) }

// CachedInstances returns how many instances of cluster this replica's
// cache holds.
func (s *Service) CachedInstances(cluster string) int { return len(s.cache.instances(cluster)) }
