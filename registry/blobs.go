package registry

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-project/berth/internal/natsutil"
)

// statBlob returns the link of a blob in a repository: a blob the
// repository does not link is unknown there, whatever other repositories
// hold. A link counts only with its blob record (a mount that lost its blob
// to the collector may leave a link behind for a moment).
func (s *Service) statBlob(ctx context.Context, repo string, d digest) (linkRecord, error) {
	l, _, err := s.linkedBlob(ctx, repo, d)
	return l, err
}

// linkedBlob returns the link and the blob record of a blob linked in repo.
func (s *Service) linkedBlob(ctx context.Context, repo string, d digest) (linkRecord, *blobRecord, error) {
	var l linkRecord
	var b blobRecord
	var lok, bok bool
	err := each(2, 2, func(i int) error {
		var err error
		if i == 0 {
			_, lok, err = s.st.getJSON(ctx, linkKey(repo, d), &l)
		} else {
			_, bok, err = s.st.getJSON(ctx, blobKey(d), &b)
		}
		return err
	})
	if err != nil {
		return l, nil, err
	}
	if !lok || !bok {
		return l, nil, s.notFound(ctx, repo, newErr(kindBlobUnknown, "blob unknown to registry"))
	}
	return l, &b, nil
}

// notFound returns miss, or kindRepoNotFound when the repository itself is
// missing.
func (s *Service) notFound(ctx context.Context, repo string, miss error) error {
	if _, _, err := s.getRepo(ctx, repo); err != nil {
		return err
	}
	return miss
}

// openBlob returns the blob record of a blob linked in repo.
func (s *Service) openBlob(ctx context.Context, repo string, d digest) (*blobRecord, error) {
	_, b, err := s.linkedBlob(ctx, repo, d)
	return b, err
}

// linkExisting links an already stored blob into repo (a mount, or an upload
// of content the registry already has) and returns its record, or nil when
// the registry does not hold the blob.
//
// The link is written first, then the blob record is rewritten at the
// revision it was read at (touched). The collector deletes a record only at
// the revision it found unlinked, after checking links once more; so either
// the touch fails (the record is gone: the link is taken back and the blob
// reported missing) or the collector's delete fails, and a successful link
// is never left without its blob.
func (s *Service) linkExisting(ctx context.Context, repo string, d digest) (*blobRecord, error) {
	var linkRev uint64
	for attempt := 0; ; attempt++ {
		var b blobRecord
		be, ok, err := s.st.getJSON(ctx, blobKey(d), &b)
		if err != nil {
			return nil, err
		}
		if !ok {
			if linkRev != 0 {
				// The collector took the blob: take the link back (unless
				// another push rewrote it meanwhile; its own touch fails too).
				if _, err := s.st.write(ctx, del(linkKey(repo, d), linkRev)); err != nil && !natsutil.IsConflict(err) {
					return nil, err
				}
			}
			return nil, nil
		}
		if linkRev == 0 {
			if linkRev, err = s.st.write(ctx, putAny(linkKey(repo, d), mustJSON(linkRecord{Size: b.Size, LinkedAt: s.now()}))); err != nil {
				return nil, err
			}
			if testHookLinked != nil {
				testHookLinked()
			}
		}
		b.TouchedAt = s.now()
		_, err = s.st.write(ctx, put(blobKey(d), mustJSON(&b), be.Rev))
		if err == nil {
			return &b, nil
		}
		if !natsutil.IsConflict(err) {
			return nil, err
		}
		if attempt >= 20 {
			return nil, fmt.Errorf("link %s: too much contention: %w", d, err)
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// testHookLinked, when set (by tests), runs between a link's write and its
// blob record's touch.
var testHookLinked func()

// mountBlob links d into repo from another repository (from != "") or from
// anywhere in the registry (from == ""). It reports whether it mounted.
func (s *Service) mountBlob(ctx context.Context, repo, from string, d digest) (bool, error) {
	if from != "" {
		if !validRepoName(from) {
			return false, nil
		}
		if _, err := s.statBlob(ctx, from, d); err != nil {
			if _, ok := asRegError(err); ok {
				return false, nil
			}
			return false, err
		}
	}
	b, err := s.linkExisting(ctx, repo, d)
	return b != nil, err
}

// storeBlob records a verified blob made of parts and links it into repo.
// The blob record, created only if absent, is the commit point; the link
// follows it (a record without links is collected after the grace period).
// When the registry already has the blob, the existing one is linked and
// the new parts are dropped (except those the existing record lists: a
// completion retried after the commit point finds its own record).
func (s *Service) storeBlob(ctx context.Context, repo string, d digest, parts []part, size int64) error {
	for attempt := 0; ; attempt++ {
		be, err := s.st.get(ctx, blobKey(d))
		if err != nil {
			return err
		}
		if be.Exists {
			old, err := s.linkExisting(ctx, repo, d)
			if err != nil {
				return err
			}
			if old != nil {
				s.st.deleteParts(context.WithoutCancel(ctx), partsNotIn(parts, old.Parts))
				return nil
			}
			continue // collected meanwhile: store ours
		}
		now := s.now()
		_, err = s.st.write(ctx, put(blobKey(d), mustJSON(blobRecord{Size: size, Parts: parts, CreatedAt: now}), be.Rev))
		if err == nil {
			_, err = s.st.write(ctx, putAny(linkKey(repo, d), mustJSON(linkRecord{Size: size, LinkedAt: now})))
			return err
		}
		if !natsutil.IsConflict(err) {
			return err
		}
		if attempt >= 20 {
			return fmt.Errorf("store blob %s: too much contention: %w", d, err)
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// partsNotIn returns the parts of ps that keep does not list.
func partsNotIn(ps, keep []part) []part {
	kept := make(map[string]bool, len(keep))
	for _, p := range keep {
		kept[p.Name] = true
	}
	var out []part
	for _, p := range ps {
		if !kept[p.Name] {
			out = append(out, p)
		}
	}
	return out
}

// putBlob stores a whole blob sent in one request (POST ?digest=), checking
// its digest before anything is committed. It runs as a one-request upload
// session, so the collector spares its parts however long the body takes.
func (s *Service) putBlob(ctx context.Context, repo string, d digest, body io.Reader, length int64) error {
	u, err := s.startUpload(ctx, repo, d.Alg)
	if err != nil {
		return err
	}
	h := newHash(d.Alg)
	parts, size, err := s.st.writeParts(ctx, u.ID, body, h, length, d.Alg == algSHA256)
	if err != nil {
		_ = s.dropUpload(context.WithoutCancel(ctx), u.ID, nil)
		return bodyError(err)
	}
	if got := sumDigest(d.Alg, h); got != d {
		_ = s.dropUpload(context.WithoutCancel(ctx), u.ID, parts)
		return newErr(kindDigestInvalid, "provided digest did not match uploaded content")
	}
	if err := s.storeBlob(ctx, repo, d, parts, size); err != nil {
		return err
	}
	s.endUpload(ctx, u.ID)
	return nil
}

// unlinkBlob removes a blob from a repository (the content stays until the
// collector finds it unreferenced).
func (s *Service) unlinkBlob(ctx context.Context, repo string, d digest) error {
	return retry(ctx, func() error {
		e, err := s.st.get(ctx, linkKey(repo, d))
		if err != nil {
			return err
		}
		if !e.Exists {
			return s.notFound(ctx, repo, newErr(kindBlobUnknown, "blob unknown to registry"))
		}
		_, err = s.st.write(ctx, del(linkKey(repo, d), e.Rev))
		return err
	})
}

// bodyError turns a failed body read into the caller's mistake where it is
// one.
func bodyError(err error) error {
	switch err {
	case errShortBody, errTooLong:
		return newErr(kindSizeInvalid, "provided length did not match content length")
	}
	return err
}
