package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/natsutil"
)

// Tag mutability settings (ECR).
const (
	mutable                = "MUTABLE"
	immutable              = "IMMUTABLE"
	immutableWithExclusion = "IMMUTABLE_WITH_EXCLUSION"
	mutableWithExclusion   = "MUTABLE_WITH_EXCLUSION"
)

// getRepo reads a repository; a missing one is kindRepoNotFound.
func (s *Service) getRepo(ctx context.Context, name string) (*repoRecord, entry, error) {
	var r repoRecord
	e, ok, err := s.st.getJSON(ctx, repoKey(name), &r)
	if err != nil {
		return nil, e, err
	}
	if !ok {
		return nil, e, errRepoNotFound(name, s.cfg.Account)
	}
	return &r, e, nil
}

// repoForPush returns the repository a push goes to, creating it when the
// registry runs with CreateOnPush.
func (s *Service) repoForPush(ctx context.Context, name string) (*repoRecord, error) {
	r, _, err := s.getRepo(ctx, name)
	if err == nil || !s.cfg.CreateOnPush || !isKind(err, kindRepoNotFound) {
		return r, err
	}
	rec := s.newRepo(name)
	if err := s.createRepo(ctx, rec); err != nil && !isKind(err, kindRepoExists) {
		return nil, err
	}
	r, _, err = s.getRepo(ctx, name)
	return r, err
}

// newRepo is a repository with ECR's defaults.
func (s *Service) newRepo(name string) *repoRecord {
	return &repoRecord{Name: name, CreatedAt: s.now(), TagMutability: mutable, Encryption: "AES256"}
}

// createRepo stores a new repository; an existing one is kindRepoExists
// (the caller words it).
func (s *Service) createRepo(ctx context.Context, rec *repoRecord) error {
	e, err := s.st.get(ctx, repoKey(rec.Name))
	if err != nil {
		return err
	}
	if e.Exists {
		return newErr(kindRepoExists, "repository %s exists", rec.Name)
	}
	_, err = s.st.write(ctx, put(repoKey(rec.Name), mustJSON(rec), e.Rev))
	if natsutil.IsConflict(err) {
		return newErr(kindRepoExists, "repository %s exists", rec.Name)
	}
	return err
}

// updateRepo applies fn to a repository with a revision check, retrying on
// conflict.
func (s *Service) updateRepo(ctx context.Context, name string, fn func(*repoRecord) error) (*repoRecord, error) {
	var out *repoRecord
	err := retry(ctx, func() error {
		r, e, err := s.getRepo(ctx, name)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		if _, err := s.st.write(ctx, put(repoKey(name), mustJSON(r), e.Rev)); err != nil {
			return err
		}
		out = r
		return nil
	})
	return out, err
}

// listRepos returns every repository, sorted by name.
func (s *Service) listRepos(ctx context.Context) ([]*repoRecord, error) {
	entries, err := s.st.scan(ctx, "repo.*")
	if err != nil {
		return nil, err
	}
	out := make([]*repoRecord, 0, len(entries))
	for _, e := range entries {
		var r repoRecord
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", e.Key(), err)
		}
		out = append(out, &r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// repoNames lists repository names, sorted.
func (s *Service) repoNames(ctx context.Context) ([]string, error) {
	keys, err := s.st.keys(ctx, "repo.*")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		n, err := repoFromKey(k)
		if err != nil {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// deleteRepo removes a repository and everything it holds. Without force
// a repository with images is refused with kindRepoNotEmpty (the caller
// words it). The repository record goes first; its tags, manifests, links
// and referrer entries follow one by one. Blobs only lose their links; the
// collector reclaims them.
func (s *Service) deleteRepo(ctx context.Context, name string, force bool) (*repoRecord, error) {
	r, e, err := s.getRepo(ctx, name)
	if err != nil {
		return nil, err
	}
	mans, err := s.st.keys(ctx, manFilter(name))
	if err != nil {
		return nil, err
	}
	if len(mans) > 0 && !force {
		return nil, newErr(kindRepoNotEmpty, "repository %s is not empty", name)
	}
	// The repository record goes first, so pushes fail from here on.
	if _, err := s.st.write(ctx, del(repoKey(name), e.Rev)); err != nil {
		if natsutil.IsConflict(err) {
			return nil, fmt.Errorf("repository %s changed while deleting: %w", name, err)
		}
		return nil, err
	}
	var keys []string
	for _, f := range []string{tagFilter(name), manFilter(name), linkFilter(name), refRepoFilter(name)} {
		ks, err := s.st.keys(ctx, f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	// What a failure here leaves belongs to no repository and is collected.
	if err := each(len(keys), 16, func(i int) error {
		_, err := s.st.write(ctx, delAny(keys[i]))
		return err
	}); err != nil {
		return nil, fmt.Errorf("delete contents of %s: %w", name, err)
	}
	return r, nil
}

// tagImmutable reports whether tag may not be moved in repository r.
func tagImmutable(r *repoRecord, tag string) bool {
	switch r.TagMutability {
	case immutable:
		return true
	case immutableWithExclusion:
		return !matchesExclusion(r.Exclusions, tag)
	case mutableWithExclusion:
		return matchesExclusion(r.Exclusions, tag)
	}
	return false
}

// matchesExclusion reports whether tag matches one of the WILDCARD filters.
func matchesExclusion(fs []mutabilityFilter, tag string) bool {
	for _, f := range fs {
		pat := strings.NewReplacer("[", `\[`, "?", `\?`, `\`, `\\`).Replace(f.Filter)
		if ok, _ := path.Match(pat, tag); ok {
			return true
		}
	}
	return false
}
