package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/natsutil"
)

// Upload sessions live in the registry bucket under up.<id>: any replica
// continues any session, and an old Location of a session stays valid
// because nothing about the session is in the URL but its id.

// startUpload opens a session hashing with alg.
func (s *Service) startUpload(ctx context.Context, repo, alg string) (*uploadRecord, error) {
	now := s.now()
	u := &uploadRecord{ID: ids.UUID(), Repo: repo, Alg: alg, StartedAt: now, UpdatedAt: now}
	if _, err := s.st.write(ctx, put(uploadKey(u.ID), mustJSON(u), 0)); err != nil {
		return nil, fmt.Errorf("start upload: %w", err)
	}
	return u, nil
}

// loadUpload reads a session of repo.
func (s *Service) loadUpload(ctx context.Context, repo, id string) (*uploadRecord, entry, error) {
	var u uploadRecord
	if !validUploadID(id) {
		return nil, entry{}, newErr(kindUploadUnknown, "blob upload unknown to registry")
	}
	e, ok, err := s.st.getJSON(ctx, uploadKey(id), &u)
	if err != nil {
		return nil, e, err
	}
	if !ok || u.Repo != repo {
		return nil, e, newErr(kindUploadUnknown, "blob upload unknown to registry")
	}
	return &u, e, nil
}

func validUploadID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return false
		}
	}
	return true
}

// chunk is the body of a PATCH or of a closing PUT.
type chunk struct {
	Body io.Reader
	// Start is the first byte the client says the chunk holds
	// (Content-Range), or -1 when it did not say.
	Start int64
	// Length is the exact chunk length, or -1 for "until EOF".
	Length int64
}

func rangeError(offset int64) *regError {
	return newErr(kindRangeInvalid, "the chunk does not start at the current offset %d of the upload", offset)
}

// appendChunk writes one chunk after what the session holds. The body is
// stored and hashed before the session moves; a concurrent writer on the
// same session makes this one fail with a range error and drop its parts.
func (s *Service) appendChunk(ctx context.Context, repo, id string, c chunk) (*uploadRecord, error) {
	u, e, err := s.loadUpload(ctx, repo, id)
	if err != nil {
		return nil, err
	}
	if u.Closing != "" {
		return nil, newErr(kindUploadUnknown, "blob upload unknown to registry")
	}
	if c.Start >= 0 && c.Start != u.Offset {
		return nil, rangeError(u.Offset)
	}
	next, _, err := s.writeChunk(ctx, u, c)
	if err != nil {
		return nil, err
	}
	if _, err := s.st.write(ctx, put(uploadKey(id), mustJSON(next), e.Rev)); err != nil {
		s.st.deleteParts(context.WithoutCancel(ctx), next.Parts[len(u.Parts):])
		if natsutil.IsConflict(err) {
			return nil, rangeError(u.Offset)
		}
		return nil, err
	}
	return next, nil
}

// writeChunk stores a chunk and returns the session as it would be after it
// (not committed) and the running hash.
func (s *Service) writeChunk(ctx context.Context, u *uploadRecord, c chunk) (*uploadRecord, []byte, error) {
	h, err := loadHash(u.Alg, u.State)
	if err != nil {
		return nil, nil, err
	}
	// The hash of a session's first chunk, when it fits one part, is that
	// part's Object Store digest too.
	parts, n, err := s.st.writeParts(ctx, u.ID, c.Body, h, c.Length, u.Alg == algSHA256 && u.Offset == 0)
	if err != nil {
		return nil, nil, bodyError(err)
	}
	state, err := saveHash(h)
	if err != nil {
		s.st.deleteParts(context.WithoutCancel(ctx), parts)
		return nil, nil, err
	}
	next := *u
	next.Offset += n
	next.State = state
	next.Parts = append(append([]part(nil), u.Parts...), parts...)
	next.UpdatedAt = s.now()
	return &next, h.Sum(nil), nil
}

// finishUpload closes a session with the digest the client claims, after an
// optional last chunk. The blob is committed (and the session removed) only
// when the content matches; a mismatch cancels the session.
//
// Completion is a sequence of single-key writes, each safe to repeat: the
// session is first marked closing with its final parts (this
// revision-checked write is what a concurrent PATCH or PUT on the same
// session loses to), then the blob record is created (the commit point) and
// linked, and the session is deleted. A PUT that finds its session closing
// (the previous attempt was cut off) resumes from there.
func (s *Service) finishUpload(ctx context.Context, repo, id string, d digest, c chunk) error {
	u, e, err := s.loadUpload(ctx, repo, id)
	if err != nil {
		return err
	}
	final := u
	if u.Closing == "" {
		if c.Start >= 0 && c.Start != u.Offset {
			return rangeError(u.Offset)
		}
		var sum []byte
		if final, sum, err = s.writeChunk(ctx, u, c); err != nil {
			return err
		}
		newParts := final.Parts[len(u.Parts):]
		got := digest{Alg: u.Alg, Hex: fmt.Sprintf("%x", sum)}
		if d.Alg != u.Alg {
			// The session was started for another algorithm: read it back.
			if got, err = s.st.rehash(ctx, final.Parts, d.Alg); err != nil {
				s.st.deleteParts(context.WithoutCancel(ctx), newParts)
				return err
			}
		}
		if got != d {
			_ = s.dropUpload(context.WithoutCancel(ctx), id, final.Parts)
			return newErr(kindDigestInvalid, "provided digest did not match uploaded content")
		}
		final.Closing = d.String()
		if _, err := s.st.write(ctx, put(uploadKey(id), mustJSON(final), e.Rev)); err != nil {
			s.st.deleteParts(context.WithoutCancel(ctx), newParts)
			if natsutil.IsConflict(err) {
				return rangeError(u.Offset)
			}
			return err
		}
	} else if u.Closing != d.String() {
		return newErr(kindDigestInvalid, "provided digest did not match uploaded content")
	}
	if err := s.storeBlob(ctx, repo, d, final.Parts, final.Offset); err != nil {
		return err
	}
	s.endUpload(ctx, id)
	return nil
}

// endUpload removes the record of a completed session (purged: a session
// id is never used again, so no delete marker needs to stay). Its parts
// now belong to a blob record (or were dropped as duplicates); a record
// left behind by a failure here expires like any idle session. A writer
// still holding the session's revision fails its revision check.
func (s *Service) endUpload(ctx context.Context, id string) {
	if err := s.st.purgeKey(context.WithoutCancel(ctx), uploadKey(id)); err != nil {
		s.log.Warn("delete completed upload session", "upload", id, "err", err)
	}
}

// cancelUpload removes a session and its parts. A closing session (its
// blob may already be committed with these parts) only loses its record:
// the collector removes parts nothing owns.
func (s *Service) cancelUpload(ctx context.Context, repo, id string) error {
	u, _, err := s.loadUpload(ctx, repo, id)
	if err != nil {
		return err
	}
	if u.Closing != "" {
		return s.dropUpload(ctx, id, nil)
	}
	return s.dropUpload(ctx, id, u.Parts)
}

// dropUpload removes the session record (purged, as in endUpload), then
// its parts.
func (s *Service) dropUpload(ctx context.Context, id string, parts []part) error {
	if err := s.st.purgeKey(ctx, uploadKey(id)); err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	s.st.deleteParts(ctx, parts)
	return nil
}

// decodeUpload is used by the collector.
func decodeUpload(v []byte) (*uploadRecord, error) {
	var u uploadRecord
	if err := json.Unmarshal(v, &u); err != nil {
		return nil, err
	}
	return &u, nil
}
