package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/natsutil"
)

// GCStats counts what one collection removed.
type GCStats struct {
	Uploads int // expired upload sessions
	Links   int // blob links no manifest of their repository references
	Blobs   int // blob records no repository links
	Objects int // part objects nothing refers to
	// Leftovers are keys that cut-off writes and deletes left behind (tags
	// and referrer entries without their manifest, contents of deleted
	// repositories).
	Leftovers int
}

// GC collects garbage. Nothing younger than the grace period is touched,
// and every delete expects the revision it was decided on, so a concurrent
// upload, mount or push makes the delete fail instead of losing data:
//
//  1. upload sessions idle longer than UploadTTL (their parts are left to
//     step 5: a session cut off while closing shares them with its blob);
//  2. what cut-off writes and deletes leave behind: tags that no longer
//     count, referrer entries without their manifest, and the manifests,
//     tags and referrer entries of repositories that no longer exist;
//  3. links not referenced by any manifest of their repository (a push
//     touches the links it references before its manifest exists);
//  4. blob records no repository links (links re-checked just before; a
//     mount links first, then touches the record);
//  5. part objects neither a blob record nor a live upload session owns,
//     and the metadata messages of deleted objects.
//
// Key spaces are read page by page (walk.go): the collector keeps the keys
// and revisions of manifests, the blob digests they reference, the links
// and the part names blob records own, never manifest or record contents.
//
// Any number of replicas may collect at once.
func (s *Service) GC(ctx context.Context) (GCStats, error) {
	g := &collector{s: s, ctx: ctx, now: s.now()}
	g.cutoff = g.now.Add(-s.cfg.GCGrace)
	for _, step := range []func() error{g.sessions, g.manifests, g.derived, g.links, g.blobs, g.objects} {
		if err := step(); err != nil {
			return g.st, err
		}
	}
	return g.st, nil
}

// collector is the state of one collection.
type collector struct {
	s      *Service
	ctx    context.Context
	st     GCStats
	now    time.Time
	cutoff time.Time
	repos  map[string]uint64 // repo key -> revision
	// manRevs holds the revision of every manifest kept, by key; used the
	// "<repo token>.<alg>.<hex>" of every blob a manifest references.
	manRevs map[string]uint64
	used    map[string]bool
	live    map[string]bool // upload ids of live sessions
	owned   map[string]bool // part objects blob records list
}

func (g *collector) old(t time.Time) bool { return t.Before(g.cutoff) }

// drop deletes key at rev; false when it changed meanwhile.
func (g *collector) drop(key string, rev uint64) (bool, error) {
	if _, err := g.s.st.write(g.ctx, del(key, rev)); err != nil {
		if natsutil.IsConflict(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func (g *collector) hasRepo(key string) bool {
	return g.repos["repo."+strings.Split(key, ".")[1]] != 0
}

// sessions removes expired upload sessions (step 1): deleted at the
// revision found idle, then purged with their delete markers (and those
// that older versions left).
func (g *collector) sessions() error {
	return g.s.st.walkKeys(g.ctx, "up.*", true, func(e kvItem) error {
		if e.Deleted {
			if g.old(e.Time) {
				return g.s.st.purgeKey(g.ctx, e.Key)
			}
			return nil
		}
		u, err := decodeUpload(e.Data)
		if err != nil || g.now.Sub(u.UpdatedAt) < g.s.cfg.UploadTTL {
			return nil
		}
		ok, err := g.drop(e.Key, e.Rev)
		if err != nil || !ok {
			return err
		}
		g.st.Uploads++
		return g.s.st.purgeKey(g.ctx, e.Key)
	})
}

// manifests removes the manifests of repositories that no longer exist and
// notes, for the others, their revision and the blobs they reference.
// Repositories are read before their contents, so a repository created
// meanwhile only has young contents.
func (g *collector) manifests() error {
	var err error
	if g.repos, err = g.s.st.revisions(g.ctx, "repo.*"); err != nil {
		return err
	}
	g.manRevs, g.used = map[string]uint64{}, map[string]bool{}
	return g.s.st.walkKeys(g.ctx, "man.>", false, func(e kvItem) error {
		if !g.hasRepo(e.Key) && g.old(e.Time) {
			ok, err := g.drop(e.Key, e.Rev)
			if err != nil {
				return err
			}
			if ok {
				g.st.Leftovers++
				return nil
			}
		}
		m, err := decodeManifest(e.Data)
		if err != nil {
			return fmt.Errorf("gc: %s: %w", e.Key, err)
		}
		g.manRevs[e.Key] = e.Rev
		repoTok := strings.Split(e.Key, ".")[1]
		for _, b := range m.Blobs {
			if d, err := parseDigest(b); err == nil {
				g.used[repoTok+"."+d.key()] = true
			}
		}
		return nil
	})
}

// links removes links no manifest references (step 3).
func (g *collector) links() error {
	return g.s.st.walkKeys(g.ctx, "link.>", false, func(e kvItem) error {
		if g.used[strings.TrimPrefix(e.Key, "link.")] || !g.old(e.Time) {
			return nil
		}
		ok, err := g.drop(e.Key, e.Rev)
		if ok {
			g.st.Links++
		}
		return err
	})
}

// blobs removes blob records nothing links (step 4). Live sessions are
// read first, so an upload that completes during the sweep is seen either
// as a session (its parts are spared in step 5) or as a blob: a completion
// creates the blob record before it deletes its session.
func (g *collector) blobs() error {
	g.live, g.owned = map[string]bool{}, map[string]bool{}
	if err := g.s.st.walkKeys(g.ctx, "up.*", false, func(e kvItem) error {
		g.live[strings.TrimPrefix(e.Key, "up.")] = true
		return nil
	}); err != nil {
		return err
	}
	linked := map[string]bool{}
	if err := g.s.st.walkKeys(g.ctx, "link.>", false, func(e kvItem) error {
		linked[lastTokens(e.Key, 2)] = true
		return nil
	}); err != nil {
		return err
	}
	return g.s.st.walkKeys(g.ctx, "blob.>", false, func(e kvItem) error {
		var b blobRecord
		if err := json.Unmarshal(e.Data, &b); err != nil {
			return fmt.Errorf("gc: %s: %w", e.Key, err)
		}
		dk := strings.TrimPrefix(e.Key, "blob.")
		keep := linked[dk] || !g.old(e.Time) || g.s.linkedAnywhere(g.ctx, dk)
		if !keep {
			ok, err := g.drop(e.Key, e.Rev)
			if err != nil {
				return err
			}
			keep = !ok
		}
		if keep {
			for _, p := range b.Parts {
				g.owned[p.Name] = true
			}
			return nil
		}
		g.s.st.deleteParts(g.ctx, b.Parts)
		g.st.Blobs++
		return nil
	})
}

// objects removes part objects nobody owns, and the metadata that
// deleted objects left (step 5).
func (g *collector) objects() error {
	return g.s.st.walkObjects(g.ctx, func(name string, it item, info *jetstream.ObjectInfo) error {
		if !g.old(it.Time) {
			return nil
		}
		if info.Deleted {
			g.s.st.deleteParts(g.ctx, []part{{Name: name, ID: info.NUID}})
			return nil
		}
		if g.owned[name] {
			return nil
		}
		if owner, _, _ := strings.Cut(name, "."); g.live[owner] {
			return nil
		}
		g.s.st.deleteParts(g.ctx, []part{{Name: name, ID: info.NUID}})
		g.st.Objects++
		return nil
	})
}

// derived removes, when older than the grace period, tags that no longer
// count and referrer entries without their manifest (both also when their
// repository is gone).
func (g *collector) derived() error {
	type stale struct {
		key string
		rev uint64
	}
	var drops []stale
	if err := g.s.st.walkKeys(g.ctx, "tag.>", false, func(e kvItem) error {
		if !g.old(e.Time) {
			return nil
		}
		var t tagRecord
		if json.Unmarshal(e.Data, &t) != nil {
			return nil
		}
		d, err := parseDigest(t.Digest)
		if err != nil {
			return nil
		}
		manKey := "man." + strings.Split(e.Key, ".")[1] + "." + d.key()
		if !g.hasRepo(e.Key) || !tagValid(&t, g.manRevs[manKey]) {
			drops = append(drops, stale{e.Key, e.Rev})
		}
		return nil
	}); err != nil {
		return err
	}
	if err := g.s.st.walkKeys(g.ctx, "ref.>", false, func(e kvItem) error {
		manKey := "man." + strings.Split(e.Key, ".")[1] + "." + lastTokens(e.Key, 2)
		if g.old(e.Time) && (!g.hasRepo(e.Key) || g.manRevs[manKey] == 0) {
			drops = append(drops, stale{e.Key, e.Rev})
		}
		return nil
	}); err != nil {
		return err
	}
	for _, e := range drops {
		ok, err := g.drop(e.key, e.rev)
		if err != nil {
			return err
		}
		if ok {
			g.st.Leftovers++
		}
	}
	return nil
}

// linkedAnywhere re-checks, just before a blob record is deleted, whether
// any repository links it (dk is "<alg>.<hex>").
func (s *Service) linkedAnywhere(ctx context.Context, dk string) bool {
	keys, err := s.st.keys(ctx, "link.*."+dk)
	return err != nil || len(keys) > 0
}

// gcLoop collects every GCInterval until ctx ends.
func (s *Service) gcLoop(ctx context.Context) {
	if s.cfg.GCInterval <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st, err := s.GC(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("garbage collection", "err", err)
				}
				continue
			}
			s.log.Info("garbage collection", "uploads", st.Uploads, "links", st.Links, "blobs", st.Blobs, "objects", st.Objects)
		}
	}
}
