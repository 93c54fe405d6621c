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
}

// GC collects garbage. Nothing younger than the grace period is touched,
// and every delete expects the revision it was decided on, so a concurrent
// upload, mount or push makes the delete fail instead of losing data.
//
//  1. upload sessions idle longer than UploadTTL, with their parts;
//  2. links not referenced by any manifest of their repository;
//  3. blob records no repository links (links re-checked just before);
//  4. part objects neither a blob record nor a live upload session owns.
//
// Any number of replicas may collect at once.
func (s *Service) GC(ctx context.Context) (GCStats, error) {
	var st GCStats
	now := s.now()
	cutoff := now.Add(-s.cfg.GCGrace)

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
		if _, err := s.st.commit(ctx, []natsutil.KVWrite{del(e.Key(), e.Revision())}); err != nil {
			if natsutil.IsConflict(err) {
				continue
			}
			return st, err
		}
		s.st.deleteParts(ctx, u.Parts)
		st.Uploads++
	}

	// 2. Links no manifest references.
	mans, err := s.st.scan(ctx, "man.>")
	if err != nil {
		return st, err
	}
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
		if used[strings.TrimPrefix(e.Key(), "link.")] || e.Created().After(cutoff) {
			continue
		}
		if _, err := s.st.commit(ctx, []natsutil.KVWrite{del(e.Key(), e.Revision())}); err != nil {
			if natsutil.IsConflict(err) {
				continue
			}
			return st, err
		}
		st.Links++
	}

	// 3. Blob records nothing links. Live sessions are read first, so an
	// upload that completes during the sweep is seen either as a session
	// (its parts are spared in step 4) or as a blob.
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
		if linked[dk] || e.Created().After(cutoff) || s.linkedAnywhere(ctx, dk) {
			for _, p := range b.Parts {
				owned[p.Name] = true
			}
			continue
		}
		if _, err := s.st.commit(ctx, []natsutil.KVWrite{del(e.Key(), e.Revision())}); err != nil {
			if natsutil.IsConflict(err) {
				for _, p := range b.Parts {
					owned[p.Name] = true
				}
				continue
			}
			return st, err
		}
		s.st.deleteParts(ctx, b.Parts)
		st.Blobs++
	}

	// 4. Objects nobody owns.
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
