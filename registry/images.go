package registry

import (
	"context"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// putRequest is a manifest push, from the distribution API or PutImage.
type putRequest struct {
	Repo string
	Body []byte
	// Declared is the media type the client declared (Content-Type or
	// imageManifestMediaType), "" for none.
	Declared string
	// Digest is the digest the manifest was pushed by (zero when pushed by
	// tag only); the content must match it.
	Digest digest
	Tags   []string
	// ECR applies PutImage's rules: pushing what is already there is
	// ImageAlreadyExistsException, and the repository must exist.
	ECR bool
}

// putResult is a committed manifest push.
type putResult struct {
	Digest digest
	Record *manifestRecord
	Rev    uint64
}

// putManifest checks and commits a manifest with its tags and referrer
// entry, as single-key writes in this order:
//
//  1. every config and layer link is touched (rewritten at its revision),
//     so a collector that found it unused before this manifest existed
//     fails to delete it; a link that is gone is MANIFEST_BLOB_UNKNOWN;
//  2. the referrer entry, which counts only while its manifest exists;
//  3. the manifest record, created if absent: the commit point;
//  4. the tags, each revision-checked, naming the manifest's revision.
//
// A push cut off anywhere leaves nothing visible but what it committed; a
// retry completes it.
func (s *Service) putManifest(ctx context.Context, req putRequest) (*putResult, error) {
	var repo *repoRecord
	var err error
	if req.ECR {
		repo, _, err = s.getRepo(ctx, req.Repo)
	} else {
		repo, err = s.repoForPush(ctx, req.Repo)
	}
	if err != nil {
		return nil, err
	}
	var d digest
	if !req.Digest.isZero() {
		if d = digestOf(req.Digest.Alg, req.Body); d != req.Digest {
			return nil, newErr(kindDigestInvalid, "provided digest did not match uploaded content")
		}
	} else if d, err = s.canonicalDigest(ctx, req.Repo, req.Body); err != nil {
		return nil, err
	}
	p, err := parseManifest(req.Body, req.Declared)
	if err != nil {
		return nil, err
	}
	if err := s.touchLinks(ctx, req.Repo, p.Blobs); err != nil {
		return nil, err
	}
	imageSize, err := s.checkChildren(ctx, req.Repo, p)
	if err != nil {
		return nil, err
	}
	// Refuse a tag that cannot be set before anything is written.
	for _, tag := range req.Tags {
		if _, err := s.tagWrite(ctx, repo, req, tag, d, nil, 0, false); err != nil {
			return nil, err
		}
	}
	rec := &manifestRecord{
		Digest:          d.String(),
		MediaType:       p.MediaType,
		Size:            int64(len(req.Body)),
		PushedAt:        s.now(),
		ArtifactType:    p.Doc.ArtifactType,
		ConfigMediaType: p.configMediaType(),
		Subject:         p.SubjectD,
		Annotations:     p.Doc.Annotations,
		ImageSize:       imageSize,
		ScanOnPush:      repo != nil && repo.ScanOnPush,
		Bytes:           req.Body,
	}
	for _, b := range p.Blobs {
		rec.Blobs = append(rec.Blobs, b.String())
	}
	for _, c := range p.Children {
		rec.Children = append(rec.Children, c.String())
	}
	if !p.Subject.isZero() {
		if _, err := s.st.write(ctx, putAny(refKey(req.Repo, p.Subject, d), mustJSON(referrerDescriptor(rec, p)))); err != nil {
			return nil, err
		}
	}
	rec, manRev, created, err := s.commitManifest(ctx, req.Repo, d, rec, len(req.Tags) == 0)
	if err != nil {
		return nil, err
	}
	if req.ECR && len(req.Tags) == 0 && !created {
		return nil, newErr(kindImageAlreadyExists, "Image with digest '%s' already exists in the repository with name '%s' in registry with id '%s'", d, req.Repo, s.cfg.Account)
	}
	res := &putResult{Digest: d, Record: rec, Rev: manRev}
	for _, tag := range req.Tags {
		rev, err := s.tagWrite(ctx, repo, req, tag, d, rec, manRev, true)
		if err != nil {
			return nil, err
		}
		res.Rev = max(res.Rev, rev)
	}
	return res, nil
}

// canonicalDigest is the digest a manifest pushed by tag is known by:
// sha256, unless the repository already holds these bytes under their
// sha512 digest only (pushed by that digest earlier).
func (s *Service) canonicalDigest(ctx context.Context, repo string, body []byte) (digest, error) {
	d := digestOf(algSHA256, body)
	e, err := s.st.get(ctx, manKey(repo, d))
	if err != nil || e.Exists {
		return d, err
	}
	d512 := digestOf(algSHA512, body)
	if e, err = s.st.get(ctx, manKey(repo, d512)); err != nil || !e.Exists {
		return d, err
	}
	return d512, nil
}

// touchLinks checks that repo links every blob, with its blob record, and
// rewrites each link at the revision it was read at (LinkedAt): the
// collector deletes a link only at the revision it found unused, so either
// its delete or this touch fails. Links are touched in parallel.
func (s *Service) touchLinks(ctx context.Context, repo string, blobs []digest) error {
	var uniq []digest
	seen := map[digest]bool{}
	for _, b := range blobs {
		if !seen[b] {
			seen[b] = true
			uniq = append(uniq, b)
		}
	}
	missing := make([]bool, len(uniq))
	err := each(len(uniq), 16, func(i int) error {
		return retry(ctx, func() error {
			b := uniq[i]
			var l linkRecord
			e, ok, err := s.st.getJSON(ctx, linkKey(repo, b), &l)
			if err != nil {
				return err
			}
			if ok {
				be, err := s.st.get(ctx, blobKey(b))
				if err != nil {
					return err
				}
				ok = be.Exists
			}
			if missing[i] = !ok; !ok {
				return nil
			}
			l.LinkedAt = s.now()
			_, err = s.st.write(ctx, put(linkKey(repo, b), mustJSON(l), e.Rev))
			return err
		})
	})
	if err != nil {
		return err
	}
	var names []string
	for i, m := range missing {
		if m {
			names = append(names, uniq[i].String())
		}
	}
	if len(names) > 0 {
		e := newErr(kindManifestBlobUnknown, "blob unknown to registry")
		e.digests = names
		return e
	}
	return nil
}

// checkChildren checks that every manifest an index lists is in the
// repository and returns the image size ECR reports (the largest child's).
func (s *Service) checkChildren(ctx context.Context, repo string, p *parsedManifest) (int64, error) {
	imageSize := p.ImageSize
	var missing []string
	for _, c := range p.Children {
		e, err := s.st.get(ctx, manKey(repo, c))
		if err != nil {
			return 0, err
		}
		if !e.Exists {
			missing = append(missing, c.String())
			continue
		}
		if child, err := decodeManifest(e.Value); err == nil && child.ImageSize > imageSize {
			imageSize = child.ImageSize
		}
	}
	if len(missing) > 0 {
		e := newErr(kindManifestChildUnknown, "manifest unknown to registry")
		e.digests = missing
		return 0, e
	}
	return imageSize, nil
}

// commitManifest creates the manifest record unless it exists, and returns
// the record in store, its revision and whether this call created it. A
// manifest record is never rewritten: its revision names its incarnation.
// With push (a push without tags), the creation carries the PUSH event.
func (s *Service) commitManifest(ctx context.Context, repo string, d digest, rec *manifestRecord, push bool) (*manifestRecord, uint64, bool, error) {
	raw, err := encodeManifest(rec)
	if err != nil {
		return nil, 0, false, err
	}
	for attempt := 0; ; attempt++ {
		me, err := s.st.get(ctx, manKey(repo, d))
		if err != nil {
			return nil, 0, false, err
		}
		if me.Exists {
			old, err := decodeManifest(me.Value)
			return old, me.Rev, false, err
		}
		w := put(manKey(repo, d), raw, me.Rev)
		if push {
			w = announce(w, s.actionEvent(events.ECRActionPush, repo, d.String(), "", rec.MediaType, rec.ConfigMediaType, me.Rev))
		}
		rev, err := s.st.write(ctx, w)
		if err == nil {
			return rec, rev, true, nil
		}
		if !natsutil.IsConflict(err) || attempt >= 20 {
			return nil, 0, false, err
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, 0, false, err
		}
	}
}

// tagWrite checks that tag may name d and, with commit, sets it (naming the
// manifest's revision manRev) with a revision check, retrying when the tag
// moved meanwhile. It returns the tag's revision. A write carries the PUSH
// event of the tag (rec is the manifest's record).
func (s *Service) tagWrite(ctx context.Context, repo *repoRecord, req putRequest, tag string, d digest, rec *manifestRecord, manRev uint64, commit bool) (uint64, error) {
	var rev uint64
	err := retry(ctx, func() error {
		cur, te, _, err := s.currentTag(ctx, req.Repo, tag)
		if err != nil {
			return err
		}
		if cur != nil && cur.Digest == d.String() {
			if req.ECR {
				e := newErr(kindImageAlreadyExists, "Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'", d, tag, req.Repo, s.cfg.Account)
				e.repo, e.tag = req.Repo, tag
				return e
			}
			if cur.ManifestRev == manRev || !commit {
				rev = te.Rev
				return nil
			}
		} else if cur != nil && tagImmutable(repo, tag) {
			return errTagImmutable(req.Repo, tag)
		}
		if !commit {
			return nil
		}
		w := put(tagKey(req.Repo, tag), mustJSON(tagRecord{Digest: d.String(), UpdatedAt: s.now(), ManifestRev: manRev}), te.Rev)
		rev, err = s.st.write(ctx, announce(w, s.actionEvent(events.ECRActionPush, req.Repo, d.String(), tag, rec.MediaType, rec.ConfigMediaType, te.Rev)))
		return err
	})
	return rev, err
}

// referrerDescriptor is how a manifest appears in its subject's referrers.
func referrerDescriptor(rec *manifestRecord, p *parsedManifest) descriptor {
	return descriptor{
		MediaType:    rec.MediaType,
		Digest:       rec.Digest,
		Size:         rec.Size,
		ArtifactType: p.artifactType(),
		Annotations:  p.Doc.Annotations,
	}
}
