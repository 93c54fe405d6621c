package registry

import (
	"io"
	"net/http"
)

func manifestLocation(name string, d digest) string {
	return "/v2/" + name + "/manifests/" + d.String()
}

func (s *Service) serveManifest(w http.ResponseWriter, r *http.Request, name, ref string) {
	switch r.Method {
	case http.MethodPut:
		s.putManifestHTTP(w, r, name, ref)
	case http.MethodDelete:
		s.deleteManifestHTTP(w, r, name, ref)
	default:
		rec, err := s.resolve(r.Context(), name, ref)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", rec.MediaType)
		h.Set("Content-Length", itoa(int64(len(rec.Bytes))))
		h.Set("Docker-Content-Digest", rec.Digest)
		h.Set("ETag", `"`+rec.Digest+`"`)
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(rec.Bytes)
		}
	}
}

func (s *Service) putManifestHTTP(w http.ResponseWriter, r *http.Request, name, ref string) {
	ctx := r.Context()
	limit := int64(s.cfg.MaxManifestSize)
	if r.ContentLength > limit {
		s.writeErr(w, r, newErr(kindTooLarge, "manifest exceeds the limit of %d bytes", limit))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if int64(len(body)) > limit {
		s.writeErr(w, r, newErr(kindTooLarge, "manifest exceeds the limit of %d bytes", limit))
		return
	}
	req := putRequest{Repo: name, Body: body, Declared: contentType(r.Header.Get("Content-Type"))}
	if looksLikeDigest(ref) {
		if req.Digest, err = parseDigest(ref); err != nil {
			s.writeErr(w, r, newErr(kindDigestInvalid, "invalid digest %q", ref))
			return
		}
		for _, t := range r.URL.Query()["tag"] {
			if !validTag(t) {
				s.writeErr(w, r, newErr(kindTagInvalid, "manifest invalid: invalid tag %q", t))
				return
			}
			req.Tags = append(req.Tags, t)
		}
	} else {
		if !validTag(ref) {
			s.writeErr(w, r, newErr(kindTagInvalid, "manifest invalid: invalid tag %q", ref))
			return
		}
		req.Tags = []string{ref}
	}
	res, err := s.putManifest(ctx, req)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Location", manifestLocation(name, res.Digest))
	h.Set("Docker-Content-Digest", res.Digest.String())
	if res.Record.Subject != nil {
		h.Set("OCI-Subject", res.Record.Subject.Digest)
	}
	if looksLikeDigest(ref) {
		for _, t := range req.Tags {
			h.Add("OCI-Tag", t)
		}
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func (s *Service) deleteManifestHTTP(w http.ResponseWriter, r *http.Request, name, ref string) {
	ctx := r.Context()
	if looksLikeDigest(ref) {
		d, err := parseDigest(ref)
		if err != nil {
			s.writeErr(w, r, newErr(kindDigestInvalid, "invalid digest %q", ref))
			return
		}
		_, _, err = s.deleteManifest(ctx, name, d)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if !validTag(ref) {
		s.writeErr(w, r, s.notFound(ctx, name, newErr(kindManifestUnknown, "manifest unknown to registry")))
		return
	}
	_, _, err := s.untag(ctx, name, ref, false)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

// tagList is the body of GET /v2/<name>/tags/list.
type tagList struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

func (s *Service) getTags(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	n, last, ok := pageParams(r.URL.Query())
	if !ok {
		s.writeErr(w, r, newErr(kindUnsupported, "n must be a non-negative integer"))
		return
	}
	if _, _, err := s.getRepo(ctx, name); err != nil {
		s.writeErr(w, r, err)
		return
	}
	entries, err := s.listTags(ctx, name)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	all := make([]string, len(entries))
	for i, e := range entries {
		all[i] = e.Tag
	}
	tags, more := page(all, n, last)
	if more && n > 0 {
		w.Header().Set("Link", nextLink("/v2/"+name+"/tags/list", n, tags[len(tags)-1]))
	}
	writeJSON(w, r, http.StatusOK, tagList{Name: name, Tags: append([]string{}, tags...)})
}

// catalog is the body of GET /v2/_catalog.
type catalog struct {
	Repositories []string `json:"repositories"`
}

// catalogPage is the page size when the client gives no n, and the most it
// may ask for.
const (
	catalogPage    = 100
	catalogPageMax = 1000
)

func (s *Service) getCatalog(w http.ResponseWriter, r *http.Request) {
	n, last, ok := pageParams(r.URL.Query())
	if !ok {
		s.writeErr(w, r, newErr(kindUnsupported, "n must be a non-negative integer"))
		return
	}
	if n < 0 {
		n = catalogPage
	}
	n = min(n, catalogPageMax)
	names, err := s.repoNames(r.Context())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	repos, more := page(names, n, last)
	if more && n > 0 {
		w.Header().Set("Link", nextLink("/v2/_catalog", n, repos[len(repos)-1]))
	}
	writeJSON(w, r, http.StatusOK, catalog{Repositories: append([]string{}, repos...)})
}

// ociIndex is an image index, the body of a referrers response.
type ociIndex struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// getReferrers answers 200 with an index whatever the repository holds:
// a registry with the referrers API never answers 404 there.
func (s *Service) getReferrers(w http.ResponseWriter, r *http.Request, name, ref string) {
	d, err := parseDigest(ref)
	if err != nil {
		s.writeErr(w, r, newErr(kindDigestInvalid, "invalid digest %q", ref))
		return
	}
	refs, err := s.referrers(r.Context(), name, d)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if at := r.URL.Query().Get("artifactType"); at != "" {
		kept := refs[:0]
		for _, x := range refs {
			if x.ArtifactType == at {
				kept = append(kept, x)
			}
		}
		refs = kept
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	if refs == nil {
		refs = []descriptor{}
	}
	b := mustJSON(ociIndex{SchemaVersion: 2, MediaType: mtOCIIndex, Manifests: refs})
	w.Header().Set("Content-Type", mtOCIIndex)
	w.Header().Set("Content-Length", itoa(int64(len(b))))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
