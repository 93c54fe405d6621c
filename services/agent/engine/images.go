package engine

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/berth-project/berth/services/agent/docker"
)

// ImageCleanup configures removal of images the engine pulled, like the ECS
// agent's image cleanup. Only images this engine process pulled itself are
// candidates (never images that were already on the host, never images used
// with prefer-cached), and only once no container, in any state, uses them.
type ImageCleanup struct {
	Disabled bool
	// Interval between cleanup cycles. Default 30 min (ECS_IMAGE_CLEANUP_INTERVAL).
	Interval time.Duration
	// MinAge: an image is removed only when pulled and last used at least
	// this long ago. Default 3 h, the container cleanup delay: deliberately
	// more conservative than ECS's 1 h.
	MinAge time.Duration
	// MaxPerCycle caps removals per cycle. Default 5 (ECS_NUM_IMAGES_DELETE_PER_CYCLE).
	MaxPerCycle int
}

func (c ImageCleanup) withDefaults() ImageCleanup {
	if c.Interval <= 0 {
		c.Interval = 30 * time.Minute
	}
	if c.MinAge <= 0 {
		c.MinAge = 3 * time.Hour
	}
	if c.MaxPerCycle <= 0 {
		c.MaxPerCycle = 5
	}
	return c
}

type trackedImage struct {
	id       string
	pulledAt time.Time
	lastUsed time.Time
}

// imageTracker remembers the images the engine pulled and when they were
// last used to create a container.
type imageTracker struct {
	mu     sync.Mutex
	images map[string]*trackedImage // by reference
}

func newImageTracker() *imageTracker { return &imageTracker{images: map[string]*trackedImage{}} }

func (t *imageTracker) pulled(ref, id string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.images[ref] = &trackedImage{id: id, pulledAt: now, lastUsed: now}
}

func (t *imageTracker) touch(ref string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if im := t.images[ref]; im != nil {
		im.lastUsed = time.Now()
	}
}

// candidates returns references old enough to remove, least recently used first.
func (t *imageTracker) candidates(minAge time.Duration) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var refs []string
	for ref, im := range t.images {
		if time.Since(im.pulledAt) >= minAge && time.Since(im.lastUsed) >= minAge {
			refs = append(refs, ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return t.images[refs[i]].lastUsed.Before(t.images[refs[j]].lastUsed) })
	return refs
}

func (t *imageTracker) forget(ref string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.images, ref)
}

func (t *imageTracker) id(ref string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if im := t.images[ref]; im != nil {
		return im.id
	}
	return ""
}

// cleanImages runs one image cleanup cycle.
func (e *Engine) cleanImages(ctx context.Context) {
	defer e.imageCycles.Add(1)
	cands := e.images.candidates(e.cfg.ImageCleanup.MinAge)
	if len(cands) == 0 {
		return
	}
	all, err := e.rt.ListContainers(ctx, nil)
	if err != nil {
		e.log.Warn("image cleanup: list containers", "err", err)
		return
	}
	inUse := map[string]bool{}
	for _, s := range all {
		inUse[s.ImageID] = true
		inUse[s.Image] = true
	}
	removed := 0
	for _, ref := range cands {
		if removed >= e.cfg.ImageCleanup.MaxPerCycle {
			break
		}
		if inUse[ref] || inUse[e.images.id(ref)] {
			e.images.touch(ref)
			continue
		}
		err := e.rt.RemoveImage(ctx, ref)
		switch {
		case err == nil, errors.Is(err, docker.ErrNotFound):
			e.images.forget(ref)
			removed++
			e.log.Info("image removed", "image", ref)
		case errors.Is(err, docker.ErrConflict):
			e.images.touch(ref)
		default:
			e.log.Warn("image cleanup: remove", "image", ref, "err", err)
		}
	}
}
