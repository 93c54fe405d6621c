package registry

import (
	"context"
	"encoding/json"
	"errors"
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
//  5. part objects neither a blob record nor a live upload session owns.
//
// Any number of replicas may collect at once.
func (s *Service) GC(ctx context.Context) (GCStats, error) {
	var st GCStats
	now := s.now()
	cutoff := now.Add(-s.cfg.GCGrace)
	old := func(e jetstream.KeyValueEntry) bool { return e.Created().Before(cutoff) }
	drop := func(e jetstream.KeyValueEntry) (bool, error) {
		if _, err := s.st.write(ctx, del(e.Key(), e.Revision())); err != nil {
			if natsutil.IsConflict(err) {
				return false, nil
			}
			return false, err
		}
		return true, nil
	}

	// 1. Expired sessions.
	ups, err := s.st.scan(ctx, "up.*")
	if err != nil {
		return st, err
	}
	for _, e := range ups {
		u, err := decodeUpload(e.Value())
		if err != nil || now.Sub(u.UpdatedAt) < s.cfg.UploadTTL {
			continue
		}
		ok, err := drop(e)
		if err != nil {
			return st, err
		}
		if ok {
			st.Uploads++
		}
	}

	// 2. Leftovers. Repositories are read before their contents, so a
	// repository created meanwhile only has young contents.
	repos, err := s.st.revisions(ctx, "repo.*")
	if err != nil {
		return st, err
	}
	hasRepo := func(key string) bool { return repos["repo."+strings.Split(key, ".")[1]] != 0 }
	mans, err := s.st.scan(ctx, "man.>")
	if err != nil {
		return st, err
	}
	manRevs := map[string]uint64{} // man key -> revision, of the manifests kept
	kept := mans[:0]
	for _, e := range mans {
		if !hasRepo(e.Key()) && old(e) {
			ok, err := drop(e)
			if err != nil {
				return st, err
			}
			if ok {
				st.Leftovers++
				continue
			}
		}
		manRevs[e.Key()] = e.Revision()
		kept = append(kept, e)
	}
	mans = kept
	if err := s.gcDerived(ctx, &st, hasRepo, manRevs, old, drop); err != nil {
		return st, err
	}

	// 3. Links no manifest references.
	used := map[string]bool{} // "<repo token>.<alg>.<hex>"
	for _, e := range mans {
		m, err := decodeManifest(e.Value())
		if err != nil {
			return st, fmt.Errorf("gc: %s: %w", e.Key(), err)
		}
		repoTok := strings.Split(e.Key(), ".")[1]
		for _, b := range m.Blobs {
			if d, err := parseDigest(b); err == nil {
				used[repoTok+"."+d.key()] = true
			}
		}
	}
	links, err := s.st.scan(ctx, "link.>")
	if err != nil {
		return st, err
	}
	for _, e := range links {
		if used[strings.TrimPrefix(e.Key(), "link.")] || !old(e) {
			continue
		}
		ok, err := drop(e)
		if err != nil {
			return st, err
		}
		if ok {
			st.Links++
		}
	}

	// 4. Blob records nothing links. Live sessions are read first, so an
	// upload that completes during the sweep is seen either as a session
	// (its parts are spared in step 5) or as a blob: a completion creates
	// the blob record before it deletes its session.
	live := map[string]bool{}
	if ups, err = s.st.scan(ctx, "up.*"); err != nil {
		return st, err
	}
	for _, e := range ups {
		live[strings.TrimPrefix(e.Key(), "up.")] = true
	}
	if links, err = s.st.scan(ctx, "link.>"); err != nil {
		return st, err
	}
	linked := map[string]bool{}
	for _, e := range links {
		linked[lastTokens(e.Key(), 2)] = true
	}
	blobs, err := s.st.scan(ctx, "blob.>")
	if err != nil {
		return st, err
	}
	owned := map[string]bool{}
	for _, e := range blobs {
		var b blobRecord
		if err := json.Unmarshal(e.Value(), &b); err != nil {
			return st, fmt.Errorf("gc: %s: %w", e.Key(), err)
		}
		dk := strings.TrimPrefix(e.Key(), "blob.")
		if linked[dk] || !old(e) || s.linkedAnywhere(ctx, dk) {
			for _, p := range b.Parts {
				owned[p.Name] = true
			}
			continue
		}
		ok, err := drop(e)
		if err != nil {
			return st, err
		}
		if !ok {
			for _, p := range b.Parts {
				owned[p.Name] = true
			}
			continue
		}
		s.st.deleteParts(ctx, b.Parts)
		st.Blobs++
	}

	// 5. Objects nobody owns.
	lister, err := s.st.obs.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return st, fmt.Errorf("gc: list objects: %w", err)
	}
	for _, info := range lister {
		if owned[info.Name] || info.ModTime.After(cutoff) {
			continue
		}
		if owner, _, _ := strings.Cut(info.Name, "."); live[owner] {
			continue
		}
		s.st.deleteParts(ctx, []part{{Name: info.Name}})
		st.Objects++
	}
	return st, nil
}

// gcDerived removes, when older than the grace period, tags that no longer
// count and referrer entries without their manifest (both also when their
// repository is gone). manRevs holds every manifest kept, by key.
func (s *Service) gcDerived(ctx context.Context, st *GCStats, hasRepo func(string) bool, manRevs map[string]uint64,
	old func(jetstream.KeyValueEntry) bool, drop func(jetstream.KeyValueEntry) (bool, error)) error {
	tags, err := s.st.scan(ctx, "tag.>")
	if err != nil {
		return err
	}
	var stale []jetstream.KeyValueEntry
	for _, e := range tags {
		if !old(e) {
			continue
		}
		var t tagRecord
		if json.Unmarshal(e.Value(), &t) != nil {
			continue
		}
		d, err := parseDigest(t.Digest)
		if err != nil {
			continue
		}
		manKey := "man." + strings.Split(e.Key(), ".")[1] + "." + d.key()
		if !hasRepo(e.Key()) || !tagValid(&t, manRevs[manKey]) {
			stale = append(stale, e)
		}
	}
	refs, err := s.st.scan(ctx, "ref.>")
	if err != nil {
		return err
	}
	for _, e := range refs {
		manKey := "man." + strings.Split(e.Key(), ".")[1] + "." + lastTokens(e.Key(), 2)
		if old(e) && (!hasRepo(e.Key()) || manRevs[manKey] == 0) {
			stale = append(stale, e)
		}
	}
	for _, e := range stale {
		ok, err := drop(e)
		if err != nil {
			return err
		}
		if ok {
			st.Leftovers++
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
