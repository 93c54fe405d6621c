package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// Reading and removing manifests, tags and referrer entries. Tags and
// referrer entries are derived from manifests: a tag counts only while the
// manifest incarnation it names exists, a referrer entry only while its
// manifest exists. Whatever a cut-off write or delete leaves behind is
// therefore invisible, and the collector removes it.

// tagValid reports whether t names the manifest whose record has revision
// manRev (0: the manifest does not exist).
func tagValid(t *tagRecord, manRev uint64) bool {
	return manRev != 0 && (t.ManifestRev == 0 || t.ManifestRev == manRev)
}

// currentTag reads a tag and the manifest it names. It returns nil (and the
// tag key's entry, whose revision a write must expect) when the tag does
// not exist or no longer counts.
func (s *Service) currentTag(ctx context.Context, repo, tag string) (*tagRecord, entry, entry, error) {
	var t tagRecord
	te, ok, err := s.st.getJSON(ctx, tagKey(repo, tag), &t)
	if err != nil || !ok {
		return nil, te, entry{}, err
	}
	d, err := parseDigest(t.Digest)
	if err != nil {
		return nil, te, entry{}, fmt.Errorf("tag %s of %s: %w", tag, repo, err)
	}
	me, err := s.st.get(ctx, manKey(repo, d))
	if err != nil {
		return nil, te, me, err
	}
	var manRev uint64
	if me.Exists {
		manRev = me.Rev
	}
	if !tagValid(&t, manRev) {
		return nil, te, me, nil
	}
	return &t, te, me, nil
}

// resolve finds the manifest a reference (tag or digest) names in repo.
func (s *Service) resolve(ctx context.Context, repo, ref string) (*manifestRecord, error) {
	unknown := func() error {
		return s.notFound(ctx, repo, newErr(kindManifestUnknown, "manifest unknown to registry"))
	}
	if !looksLikeDigest(ref) {
		if !validECRTag(ref) {
			return nil, unknown()
		}
		t, _, me, err := s.currentTag(ctx, repo, ref)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, unknown()
		}
		return decodeManifest(me.Value)
	}
	d, err := parseDigest(ref)
	if err != nil {
		return nil, newErr(kindDigestInvalid, "invalid digest %q", ref)
	}
	e, err := s.st.get(ctx, manKey(repo, d))
	if err != nil {
		return nil, err
	}
	if !e.Exists {
		return nil, unknown()
	}
	return decodeManifest(e.Value)
}

// tagEntry is one tag of a repository.
type tagEntry struct {
	Tag         string
	Digest      string
	Rev         uint64
	ManifestRev uint64 // what the record names (0 in old records)
}

// listTags returns the tags of a repository that count, sorted.
func (s *Service) listTags(ctx context.Context, repo string) ([]tagEntry, error) {
	all, err := s.allTags(ctx, repo)
	if err != nil {
		return nil, err
	}
	revs, err := s.st.revisions(ctx, manFilter(repo))
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, t := range all {
		d, err := parseDigest(t.Digest)
		if err != nil {
			continue
		}
		if tagValid(&tagRecord{ManifestRev: t.ManifestRev}, revs[manKey(repo, d)]) {
			out = append(out, t)
		}
	}
	return out, nil
}

// allTags returns every tag record of a repository, whether it counts or
// not, sorted.
func (s *Service) allTags(ctx context.Context, repo string) ([]tagEntry, error) {
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
		out = append(out, tagEntry{Tag: tag, Digest: t.Digest, Rev: e.Revision(), ManifestRev: t.ManifestRev})
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

// deleteManifest removes a manifest, then every tag naming it and its
// referrer entry. It returns the tags removed. The manifest's delete is the
// commit point: from then on the tags no longer count, and whatever the
// clean-up misses is collected.
func (s *Service) deleteManifest(ctx context.Context, repo string, d digest) (*manifestRecord, []string, error) {
	var rec *manifestRecord
	var manRev uint64
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
		manRev = me.Rev
		ev := s.actionEvent(events.ECRActionDelete, repo, rec.Digest, "", rec.MediaType, "", me.Rev)
		_, err = s.st.write(ctx, announce(del(manKey(repo, d), me.Rev), ev))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	tags, err := s.allTags(ctx, repo)
	if err != nil {
		s.log.Warn("delete manifest: list tags", "repo", repo, "digest", d.String(), "err", err)
	}
	var removed []string
	for _, t := range tags {
		if t.Digest != d.String() || !tagValid(&tagRecord{ManifestRev: t.ManifestRev}, manRev) {
			continue
		}
		removed = append(removed, t.Tag)
		if _, err := s.st.write(ctx, del(tagKey(repo, t.Tag), t.Rev)); err != nil && !natsutil.IsConflict(err) {
			s.log.Warn("delete manifest: untag", "repo", repo, "tag", t.Tag, "err", err)
		}
	}
	s.dropReferrer(ctx, repo, rec, d)
	return rec, removed, nil
}

// dropReferrer removes the referrer entry of a deleted manifest (best
// effort: an entry without its manifest does not count).
func (s *Service) dropReferrer(ctx context.Context, repo string, rec *manifestRecord, d digest) {
	if rec.Subject == nil {
		return
	}
	subj, err := parseDigest(rec.Subject.Digest)
	if err != nil {
		return
	}
	if _, err := s.st.write(ctx, delAny(refKey(repo, subj, d))); err != nil {
		s.log.Warn("delete referrer entry", "repo", repo, "digest", d.String(), "err", err)
	}
}

// untag removes one tag. With dropLast (ECR), removing the last tag of an
// image deletes the image. It returns the digest the tag named and whether
// the image went too.
func (s *Service) untag(ctx context.Context, repo, tag string, dropLast bool) (digest, bool, error) {
	var d digest
	var me entry
	err := retry(ctx, func() error {
		t, te, m, err := s.currentTag(ctx, repo, tag)
		if err != nil {
			return err
		}
		if t == nil {
			return s.notFound(ctx, repo, newErr(kindManifestUnknown, "manifest unknown to registry"))
		}
		if d, err = parseDigest(t.Digest); err != nil {
			return err
		}
		me = m
		var mediaType string
		if rec, err := decodeManifest(m.Value); err == nil {
			mediaType = rec.MediaType
		}
		ev := s.actionEvent(events.ECRActionDelete, repo, d.String(), tag, mediaType, "", te.Rev)
		_, err = s.st.write(ctx, announce(del(tagKey(repo, tag), te.Rev), ev))
		return err
	})
	if err != nil || !dropLast {
		return d, false, err
	}
	tags, err := s.listTags(ctx, repo)
	if err != nil {
		return d, false, err
	}
	for _, o := range tags {
		if o.Digest == d.String() {
			return d, false, nil
		}
	}
	rec, err := decodeManifest(me.Value)
	if err != nil {
		return d, false, err
	}
	if _, err := s.st.write(ctx, del(manKey(repo, d), me.Rev)); err != nil {
		if natsutil.IsConflict(err) {
			return d, false, nil // deleted or pushed again meanwhile
		}
		return d, false, err
	}
	s.dropReferrer(ctx, repo, rec, d)
	return d, true, nil
}

// referrers lists the manifests of repo whose subject is subject.
func (s *Service) referrers(ctx context.Context, repo string, subject digest) ([]descriptor, error) {
	entries, err := s.st.scan(ctx, refFilter(repo, subject))
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	revs, err := s.st.revisions(ctx, manFilter(repo))
	if err != nil {
		return nil, err
	}
	out := make([]descriptor, 0, len(entries))
	for _, e := range entries {
		d, err := digestFromTail(e.Key())
		if err != nil || revs[manKey(repo, d)] == 0 {
			continue // not (or no longer) a manifest of the repository
		}
		var desc descriptor
		if err := json.Unmarshal(e.Value(), &desc); err != nil {
			return nil, fmt.Errorf("decode %s: %w", e.Key(), err)
		}
		out = append(out, desc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, nil
}
