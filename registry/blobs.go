package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/berth-project/berth/internal/natsutil"
)

// statBlob returns the link of a blob in a repository: a blob the
// repository does not link is unknown there, whatever other repositories
// hold.
func (s *Service) statBlob(ctx context.Context, repo string, d digest) (linkRecord, error) {
	var l linkRecord
	_, ok, err := s.st.getJSON(ctx, linkKey(repo, d), &l)
	if err != nil {
		return l, err
	}
	if !ok {
		return l, s.notFound(ctx, repo, newErr(kindBlobUnknown, "blob unknown to registry"))
	}
	return l, nil
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
	if _, err := s.statBlob(ctx, repo, d); err != nil {
		return nil, err
	}
	var b blobRecord
	_, ok, err := s.st.getJSON(ctx, blobKey(d), &b)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, newErr(kindBlobUnknown, "blob unknown to registry")
	}
	return &b, nil
}

// linkExisting links an already stored blob into repo (a mount, or an upload
// of content the registry already has). The blob record is rewritten at its
// revision in the same batch, so a collector deleting that record in the
// meantime makes one of the two fail. It reports false when the blob is not
// stored at all.
func (s *Service) linkExisting(ctx context.Context, repo string, d digest, extra func() ([]natsutil.KVWrite, error)) (bool, error) {
	found := false
	err := retry(ctx, func() error {
		be, err := s.st.get(ctx, blobKey(d))
		if err != nil {
			return err
		}
		if found = be.Exists; !found {
			return nil
		}
		var b blobRecord
		if err := json.Unmarshal(be.Value, &b); err != nil {
			return fmt.Errorf("decode blob %s: %w", d, err)
		}
		ws := []natsutil.KVWrite{
			put(blobKey(d), be.Value, be.Rev),
			putAny(linkKey(repo, d), mustJSON(linkRecord{Size: b.Size, LinkedAt: s.now()})),
		}
		if extra != nil {
			more, err := extra()
			if err != nil {
				return err
			}
			ws = append(ws, more...)
		}
		_, err = s.st.commit(ctx, ws)
		return err
	})
	return found, err
}

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
	return s.linkExisting(ctx, repo, d, nil)
}

// storeBlob records a verified blob made of parts and links it into repo.
// extra adds writes to the same atomic batch (closing an upload session);
// it is called on every attempt and may fail with a caller mistake. When
// the registry already had the blob, the new parts are dropped.
func (s *Service) storeBlob(ctx context.Context, repo string, d digest, parts []part, size int64, extra func() ([]natsutil.KVWrite, error)) error {
	err := retry(ctx, func() error {
		be, err := s.st.get(ctx, blobKey(d))
		if err != nil {
			return err
		}
		if be.Exists {
			return errDuplicate
		}
		ws := []natsutil.KVWrite{
			put(blobKey(d), mustJSON(blobRecord{Size: size, Parts: parts, CreatedAt: s.now()}), be.Rev),
			putAny(linkKey(repo, d), mustJSON(linkRecord{Size: size, LinkedAt: s.now()})),
		}
		if extra != nil {
			more, err := extra()
			if err != nil {
				return err
			}
			ws = append(ws, more...)
		}
		_, err = s.st.commit(ctx, ws)
		return err
	})
	if err != errDuplicate {
		return err
	}
	found, err := s.linkExisting(ctx, repo, d, extra)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("blob %s vanished while linking", d)
	}
	s.st.deleteParts(context.WithoutCancel(ctx), parts)
	return nil
}

// errDuplicate is internal: the blob was already stored.
var errDuplicate = fmt.Errorf("blob already stored")

// putBlob stores a whole blob sent in one request (POST ?digest=), checking
// its digest before anything is committed. It runs as a one-request upload
// session, so the collector spares its parts however long the body takes.
func (s *Service) putBlob(ctx context.Context, repo string, d digest, body io.Reader, length int64) error {
	u, err := s.startUpload(ctx, repo, d.Alg)
	if err != nil {
		return err
	}
	h := newHash(d.Alg)
	parts, size, err := s.st.writeParts(ctx, u.ID, body, h, length)
	if err != nil {
		_ = s.dropUpload(context.WithoutCancel(ctx), u.ID, nil)
		return bodyError(err)
	}
	if got := sumDigest(d.Alg, h); got != d {
		_ = s.dropUpload(context.WithoutCancel(ctx), u.ID, parts)
		return newErr(kindDigestInvalid, "provided digest did not match uploaded content")
	}
	closeSession := func() ([]natsutil.KVWrite, error) {
		return []natsutil.KVWrite{delAny(uploadKey(u.ID))}, nil
	}
	return s.storeBlob(ctx, repo, d, parts, size, closeSession)
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
		_, err = s.st.commit(ctx, []natsutil.KVWrite{del(linkKey(repo, d), e.Rev)})
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
