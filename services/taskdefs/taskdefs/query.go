package taskdefs

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsutil"
)

const defaultMaxResults = 100

// resolve finds the revision a reference names: family (its latest ACTIVE
// revision), family:revision or an ARN (any status). Unknown references are
// ClientException "Unable to describe task definition.".
func (s *Service) resolve(ctx context.Context, ref string) (ident, revisionEntry, error) {
	id, ok, err := parseIdent(ref)
	if err != nil {
		return id, revisionEntry{}, err
	}
	if !ok || !s.ours(id) {
		return id, revisionEntry{}, errNotFound()
	}
	if id.Revision != 0 {
		e, found, err := s.st.revision(ctx, id.Family, id.Revision)
		if err != nil {
			return id, revisionEntry{}, err
		}
		if !found {
			return id, revisionEntry{}, errNotFound()
		}
		return id, e, nil
	}
	if e, rev, ok := s.latestFast(ctx, id.Family); ok {
		id.Revision = rev
		return id, e, nil
	}
	for {
		latest, err := s.latestActive(ctx, id.Family)
		if err != nil {
			return id, revisionEntry{}, err
		}
		e, found, err := s.st.revision(ctx, id.Family, latest)
		if err != nil {
			return id, revisionEntry{}, err
		}
		if found && e.rec.TaskDefinition.Status == events.TaskDefActive {
			id.Revision = latest
			return id, e, nil
		}
		// The index lags a deregistration: catch it up and look again.
		if err := s.st.sync(ctx, id.Family, latest); err != nil {
			return id, revisionEntry{}, err
		}
	}
}

// latestFast is the common case of resolving a family name in two round
// trips instead of three: after reading the index it asks, at the same time,
// whether the index lags (revision LastRevision+1 exists) and for the latest
// ACTIVE revision's record. ok is false whenever the answer is not plainly
// that record (an error, a lagging index, a record no longer ACTIVE): the
// caller then takes the careful path, which repairs the index.
func (s *Service) latestFast(ctx context.Context, family string) (revisionEntry, int32, bool) {
	fam, err := s.st.family(ctx, family)
	if err != nil {
		return revisionEntry{}, 0, false
	}
	latest, ok := fam.rec.LatestActive()
	if !ok {
		return revisionEntry{}, 0, false
	}
	lagged := make(chan bool, 1)
	go func() {
		_, found, err := s.st.revision(ctx, family, fam.rec.LastRevision+1)
		lagged <- found || err != nil
	}()
	e, found, err := s.st.revision(ctx, family, latest)
	if <-lagged || err != nil || !found || e.rec.TaskDefinition.Status != events.TaskDefActive {
		return revisionEntry{}, 0, false
	}
	return e, latest, true
}

// latestActive returns the family's latest ACTIVE revision from the index,
// after rolling the index forward over any revision it has not caught up
// with yet (a registration whose replica died before indexing it).
func (s *Service) latestActive(ctx context.Context, family string) (int32, error) {
	fam, err := s.st.family(ctx, family)
	if err != nil {
		return 0, err
	}
	for next := fam.rec.LastRevision + 1; ; next++ {
		_, found, err := s.st.revision(ctx, family, next)
		if err != nil {
			return 0, err
		}
		if !found {
			break
		}
		if err := s.st.sync(ctx, family, next); err != nil {
			return 0, err
		}
		if fam, err = s.st.family(ctx, family); err != nil {
			return 0, err
		}
	}
	latest, ok := fam.rec.LatestActive()
	if !ok {
		return 0, errNotFound()
	}
	return latest, nil
}

// describe answers DescribeTaskDefinition.
func (s *Service) describe(ctx context.Context, r *natsutil.Request) (any, error) {
	var req ecsapi.DescribeTaskDefinitionRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	withTags := false
	for _, f := range req.Include {
		if f == "" {
			return nil, errEnum("include", f, "TaskDefinitionField")
		}
		if err := checkEnum("include", f, "TaskDefinitionField"); err != nil {
			return nil, err
		}
		withTags = true
	}
	_, e, err := s.resolve(ctx, req.TaskDefinition)
	if err != nil {
		return nil, err
	}
	resp := ecsapi.DescribeTaskDefinitionResponse{TaskDefinition: &e.rec.TaskDefinition}
	if withTags {
		resp.Tags = nonNilTags(e.rec.Tags)
	}
	return resp, nil
}

// pageToken is the opaque nextToken: the last item of the previous page.
type pageToken struct {
	Family   string `json:"f"`
	Revision int32  `json:"r,omitempty"`
}

func encodeToken(t pageToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (pageToken, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil || t.Family == "" {
		return t, errBadToken()
	}
	return t, nil
}

func pageSize(p *int32) (int, error) {
	if p == nil {
		return defaultMaxResults, nil
	}
	if *p < 1 || *p > defaultMaxResults {
		return 0, errMaxResults(*p)
	}
	return int(*p), nil
}

// pageArgs checks a list call's maxResults and nextToken: the page size,
// and the position to continue after (nil for the first page).
func pageArgs(maxResults *int32, nextToken string) (int, *pageToken, error) {
	limit, err := pageSize(maxResults)
	if err != nil || nextToken == "" {
		return limit, nil, err
	}
	t, err := decodeToken(nextToken)
	if err != nil {
		return 0, nil, err
	}
	return limit, &t, nil
}

// list answers ListTaskDefinitions: revisions in one status (default
// ACTIVE), ordered by family then revision (DESC reverses both).
// familyPrefix is, as in AWS, the full family name.
func (s *Service) list(ctx context.Context, r *natsutil.Request) (any, error) {
	var req ecsapi.ListTaskDefinitionsRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	status := cmp.Or(req.Status, events.TaskDefActive)
	if err := checkEnum("status", status, "TaskDefinitionStatus"); err != nil {
		return nil, err
	}
	order := cmp.Or(req.Sort, "ASC")
	if err := checkEnum("sort", order, "SortOrder"); err != nil {
		return nil, err
	}
	limit, after, err := pageArgs(req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	var fams []events.FamilyRecord
	if req.FamilyPrefix != "" {
		if validName(req.FamilyPrefix) {
			f, err := s.st.family(ctx, req.FamilyPrefix)
			if err != nil {
				return nil, err
			}
			if f.rev != 0 {
				fams = append(fams, *f.rec)
			}
		}
	} else if fams, err = s.st.families(ctx); err != nil {
		return nil, err
	}
	var items []pageToken
	for _, f := range fams {
		for _, rev := range f.Revisions(status) {
			items = append(items, pageToken{Family: f.Family, Revision: rev})
		}
	}
	less := func(a, b pageToken) int {
		c := cmp.Or(strings.Compare(a.Family, b.Family), cmp.Compare(a.Revision, b.Revision))
		if order == "DESC" {
			return -c
		}
		return c
	}
	slices.SortFunc(items, less)
	page, next := paginate(items, after, limit, less)
	resp := ecsapi.ListTaskDefinitionsResponse{TaskDefinitionArns: make([]string, 0, len(page))}
	for _, it := range page {
		resp.TaskDefinitionArns = append(resp.TaskDefinitionArns, s.taskDefARN(it.Family, it.Revision))
	}
	if next != nil {
		resp.NextToken = encodeToken(*next)
	}
	return resp, nil
}

// listFamilies answers ListTaskDefinitionFamilies. Status ACTIVE: families
// with an ACTIVE revision; INACTIVE: families without one; ALL (default):
// both.
func (s *Service) listFamilies(ctx context.Context, r *natsutil.Request) (any, error) {
	var req ecsapi.ListTaskDefinitionFamiliesRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	status := cmp.Or(req.Status, "ALL")
	if err := checkEnum("status", status, "TaskDefinitionFamilyStatus"); err != nil {
		return nil, err
	}
	limit, after, err := pageArgs(req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	fams, err := s.st.families(ctx)
	if err != nil {
		return nil, err
	}
	var items []pageToken
	for _, f := range fams {
		if !strings.HasPrefix(f.Family, req.FamilyPrefix) {
			continue
		}
		_, active := f.LatestActive()
		if (status == events.TaskDefActive && !active) || (status == events.TaskDefInactive && active) {
			continue
		}
		items = append(items, pageToken{Family: f.Family})
	}
	less := func(a, b pageToken) int { return strings.Compare(a.Family, b.Family) }
	slices.SortFunc(items, less)
	page, next := paginate(items, after, limit, less)
	resp := ecsapi.ListTaskDefinitionFamiliesResponse{Families: make([]string, 0, len(page))}
	for _, it := range page {
		resp.Families = append(resp.Families, it.Family)
	}
	if next != nil {
		resp.NextToken = encodeToken(*next)
	}
	return resp, nil
}

// paginate returns up to limit sorted items after the token position and
// the token of the next page (nil on the last page). Positions are values,
// not offsets, so items added or removed between calls do not shift pages.
func paginate(items []pageToken, after *pageToken, limit int, cmpFn func(a, b pageToken) int) ([]pageToken, *pageToken) {
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(items, *after, cmpFn)
		if start < len(items) && cmpFn(items[start], *after) == 0 {
			start++
		}
	}
	end := min(start+limit, len(items))
	page := items[start:end]
	if end < len(items) && len(page) > 0 {
		last := page[len(page)-1]
		return page, &last
	}
	return page, nil
}

func nonNilTags(t []ecsapi.Tag) []ecsapi.Tag {
	if t == nil {
		return []ecsapi.Tag{}
	}
	return t
}
