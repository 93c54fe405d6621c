package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

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

// putManifest checks and commits a manifest with its tags, its referrer
// entry and the links it depends on, all in one atomic batch.
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
	if 2+len(req.Tags)+len(p.Blobs) > maxBatch {
		return nil, newErr(kindManifestInvalid, "manifest invalid: it references too many blobs")
	}
	res := &putResult{Digest: d}
	err = retry(ctx, func() error {
		ws, rec, err := s.manifestWrites(ctx, repo, req, p, d)
		if err != nil {
			return err
		}
		rev, err := s.st.commit(ctx, ws)
		if err != nil {
			return err
		}
		res.Record, res.Rev = rec, rev
		return nil
	})
	if err != nil {
		return nil, err
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

// manifestWrites reads what a push depends on and returns the batch.
func (s *Service) manifestWrites(ctx context.Context, repo *repoRecord, req putRequest, p *parsedManifest, d digest) ([]natsutil.KVWrite, *manifestRecord, error) {
	var ws []natsutil.KVWrite
	var missing []string
	seen := map[digest]bool{}
	for _, b := range p.Blobs {
		if seen[b] {
			continue
		}
		seen[b] = true
		e, err := s.st.get(ctx, linkKey(req.Repo, b))
		if err != nil {
			return nil, nil, err
		}
		if !e.Exists {
			missing = append(missing, b.String())
			continue
		}
		// Rewriting the link at its revision makes a collector that
		// decided to drop it fail instead.
		ws = append(ws, put(linkKey(req.Repo, b), e.Value, e.Rev))
	}
	if len(missing) > 0 {
		e := newErr(kindManifestBlobUnknown, "blob unknown to registry")
		e.digests = missing
		return nil, nil, e
	}
	var imageSize int64 = p.ImageSize
	for _, c := range p.Children {
		e, err := s.st.get(ctx, manKey(req.Repo, c))
		if err != nil {
			return nil, nil, err
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
		return nil, nil, e
	}

	me, err := s.st.get(ctx, manKey(req.Repo, d))
	if err != nil {
		return nil, nil, err
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
		Bytes:           req.Body,
	}
	for _, b := range p.Blobs {
		rec.Blobs = append(rec.Blobs, b.String())
	}
	for _, c := range p.Children {
		rec.Children = append(rec.Children, c.String())
	}
	if me.Exists {
		old, err := decodeManifest(me.Value)
		if err != nil {
			return nil, nil, err
		}
		rec = old
	}

	for _, tag := range req.Tags {
		var t tagRecord
		te, ok, err := s.st.getJSON(ctx, tagKey(req.Repo, tag), &t)
		if err != nil {
			return nil, nil, err
		}
		if ok && t.Digest == d.String() {
			if req.ECR {
				e := newErr(kindImageAlreadyExists, "Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'", d, tag, req.Repo, s.cfg.Account)
				e.repo, e.tag = req.Repo, tag
				return nil, nil, e
			}
			continue
		}
		if ok && tagImmutable(repo, tag) {
			return nil, nil, errTagImmutable(req.Repo, tag)
		}
		ws = append(ws, put(tagKey(req.Repo, tag), mustJSON(tagRecord{Digest: d.String(), UpdatedAt: s.now()}), te.Rev))
	}
	if req.ECR && len(req.Tags) == 0 && me.Exists {
		return nil, nil, newErr(kindImageAlreadyExists, "Image with digest '%s' already exists in the repository with name '%s' in registry with id '%s'", d, req.Repo, s.cfg.Account)
	}
	// An existing manifest is rewritten unchanged at its revision, so a
	// concurrent delete cannot leave a tag naming nothing.
	raw := me.Value
	if !me.Exists {
		if raw, err = encodeManifest(rec); err != nil {
			return nil, nil, err
		}
	}
	ws = append(ws, put(manKey(req.Repo, d), raw, me.Rev))
	if !p.Subject.isZero() {
		ws = append(ws, putAny(refKey(req.Repo, p.Subject, d), mustJSON(referrerDescriptor(rec, p))))
	}
	return ws, rec, nil
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

// resolve finds the manifest a reference (tag or digest) names in repo.
func (s *Service) resolve(ctx context.Context, repo, ref string) (*manifestRecord, error) {
	var d digest
	if looksLikeDigest(ref) {
		var err error
		if d, err = parseDigest(ref); err != nil {
			return nil, newErr(kindDigestInvalid, "invalid digest %q", ref)
		}
	} else {
		if !validECRTag(ref) {
			return nil, s.notFound(ctx, repo, newErr(kindManifestUnknown, "manifest unknown to registry"))
		}
		var t tagRecord
		_, ok, err := s.st.getJSON(ctx, tagKey(repo, ref), &t)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, s.notFound(ctx, repo, newErr(kindManifestUnknown, "manifest unknown to registry"))
		}
		if d, err = parseDigest(t.Digest); err != nil {
			return nil, fmt.Errorf("tag %s of %s: %w", ref, repo, err)
		}
	}
	e, err := s.st.get(ctx, manKey(repo, d))
	if err != nil {
		return nil, err
	}
	if !e.Exists {
		return nil, s.notFound(ctx, repo, newErr(kindManifestUnknown, "manifest unknown to registry"))
	}
	return decodeManifest(e.Value)
}

// tagEntry is one tag of a repository.
type tagEntry struct {
	Tag    string
	Digest string
	Rev    uint64
}

// listTags returns a repository's tags, sorted.
func (s *Service) listTags(ctx context.Context, repo string) ([]tagEntry, error) {
	entries, err := s.st.scan(ctx, tagFilter(repo))
	if err != nil {
		return nil, err
	}
	out := make([]tagEntry, 0, len(entries))
	for _, e := range entries {
		tag, err := tagFromKey(e.Key())
		if err != nil {
			continue
		}
		var t tagRecord
		if err := json.Unmarshal(e.Value(), &t); err != nil {
			return nil, fmt.Errorf("decode %s: %w", e.Key(), err)
		}
		out = append(out, tagEntry{Tag: tag, Digest: t.Digest, Rev: e.Revision()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out, nil
}

// listManifests returns every manifest of a repository.
func (s *Service) listManifests(ctx context.Context, repo string) ([]*manifestRecord, error) {
	entries, err := s.st.scan(ctx, manFilter(repo))
	if err != nil {
		return nil, err
	}
	out := make([]*manifestRecord, 0, len(entries))
	for _, e := range entries {
		m, err := decodeManifest(e.Value())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Key(), err)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, nil
}

// deleteManifest removes a manifest, every tag naming it and its referrer
// entry. It returns the tags removed.
func (s *Service) deleteManifest(ctx context.Context, repo string, d digest) (*manifestRecord, []string, error) {
	var rec *manifestRecord
	var removed []string
	err := retry(ctx, func() error {
		me, err := s.st.get(ctx, manKey(repo, d))
		if err != nil {
			return err
		}
		if !me.Exists {
			return s.notFound(ctx, repo, newErr(kindManifestUnknown, "manifest unknown to registry"))
		}
		if rec, err = decodeManifest(me.Value); err != nil {
			return err
		}
		tags, err := s.listTags(ctx, repo)
		if err != nil {
			return err
		}
		ws := []natsutil.KVWrite{del(manKey(repo, d), me.Rev)}
		removed = removed[:0]
		for _, t := range tags {
			if t.Digest == d.String() {
				ws = append(ws, del(tagKey(repo, t.Tag), t.Rev))
				removed = append(removed, t.Tag)
			}
		}
		ws = append(ws, refDeletes(repo, rec, d)...)
		if len(ws) > maxBatch {
			return fmt.Errorf("manifest %s has too many tags to delete at once", d)
		}
		_, err = s.st.commit(ctx, ws)
		return err
	})
	return rec, removed, err
}

func refDeletes(repo string, rec *manifestRecord, d digest) []natsutil.KVWrite {
	if rec.Subject == nil {
		return nil
	}
	subj, err := parseDigest(rec.Subject.Digest)
	if err != nil {
		return nil
	}
	return []natsutil.KVWrite{delAny(refKey(repo, subj, d))}
}

// untag removes one tag. With dropLast (ECR), removing the last tag of an
// image deletes the image. It returns the digest the tag named and whether
// the image went too.
func (s *Service) untag(ctx context.Context, repo, tag string, dropLast bool) (digest, bool, error) {
	var d digest
	var dropped bool
	err := retry(ctx, func() error {
		var t tagRecord
		te, ok, err := s.st.getJSON(ctx, tagKey(repo, tag), &t)
		if err != nil {
			return err
		}
		if !ok {
			return s.notFound(ctx, repo, newErr(kindManifestUnknown, "manifest unknown to registry"))
		}
		if d, err = parseDigest(t.Digest); err != nil {
			return err
		}
		ws := []natsutil.KVWrite{del(tagKey(repo, tag), te.Rev)}
		dropped = false
		if dropLast {
			tags, err := s.listTags(ctx, repo)
			if err != nil {
				return err
			}
			last := true
			for _, o := range tags {
				if o.Tag != tag && o.Digest == t.Digest {
					last = false
					break
				}
			}
			if last {
				me, err := s.st.get(ctx, manKey(repo, d))
				if err != nil {
					return err
				}
				if me.Exists {
					rec, err := decodeManifest(me.Value)
					if err != nil {
						return err
					}
					ws = append(ws, del(manKey(repo, d), me.Rev))
					ws = append(ws, refDeletes(repo, rec, d)...)
					dropped = true
				}
			}
		}
		_, err = s.st.commit(ctx, ws)
		return err
	})
	return d, dropped, err
}

// referrers lists the manifests of repo whose subject is subject.
func (s *Service) referrers(ctx context.Context, repo string, subject digest) ([]descriptor, error) {
	entries, err := s.st.scan(ctx, refFilter(repo, subject))
	if err != nil {
		return nil, err
	}
	out := make([]descriptor, 0, len(entries))
	for _, e := range entries {
		var d descriptor
		if err := json.Unmarshal(e.Value(), &d); err != nil {
			return nil, fmt.Errorf("decode %s: %w", e.Key(), err)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, nil
}
