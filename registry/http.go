package registry

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Handler returns the OCI distribution API handler.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// route is a parsed /v2/ path.
type route struct {
	kind   routeKind
	name   string
	ref    string // manifest reference, blob digest, upload id or subject digest
	upload bool   // an upload path with an id
}

type routeKind int

const (
	routeNone routeKind = iota
	routePing
	routeCatalog
	routeTags
	routeManifest
	routeBlob
	routeUploads // POST …/blobs/uploads/ and …/blobs/uploads/<id>
	routeReferrers
)

// parseRoute splits a request path. Repository names contain slashes, so
// the known suffixes are searched from the right; the part after one may
// not contain a slash.
func parseRoute(p string) route {
	if p == "/v2/" || p == "/v2" {
		return route{kind: routePing}
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return route{}
	}
	if rest == "_catalog" {
		return route{kind: routeCatalog}
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return route{kind: routeTags, name: name}
	}
	if i := strings.LastIndex(rest, "/manifests/"); i > 0 && !strings.Contains(rest[i+11:], "/") {
		return route{kind: routeManifest, name: rest[:i], ref: rest[i+11:]}
	}
	if i := strings.LastIndex(rest, "/referrers/"); i > 0 && !strings.Contains(rest[i+11:], "/") {
		return route{kind: routeReferrers, name: rest[:i], ref: rest[i+11:]}
	}
	if i := strings.LastIndex(rest, "/blobs/"); i > 0 {
		name, tail := rest[:i], rest[i+7:]
		switch {
		case tail == "uploads" || tail == "uploads/":
			return route{kind: routeUploads, name: name}
		case strings.HasPrefix(tail, "uploads/") && !strings.Contains(tail[8:], "/"):
			return route{kind: routeUploads, name: name, ref: tail[8:], upload: true}
		case tail != "" && !strings.Contains(tail, "/"):
			return route{kind: routeBlob, name: name, ref: tail}
		}
	}
	return route{}
}

func (s *Service) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	who, err := s.authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", s.challenge())
		writeJSON(w, r, http.StatusUnauthorized, ociBody{Errors: []ociErrorEntry{{Code: "UNAUTHORIZED", Message: authMessage(err)}}})
		return
	}
	rt := parseRoute(r.URL.Path)
	if err := s.allowed(who, r, rt); err != nil {
		drain(r)
		s.writeErr(w, r, err)
		return
	}
	switch rt.kind {
	case routeNone:
		writeJSON(w, r, http.StatusNotFound, ociBody{Errors: []ociErrorEntry{{Code: "NAME_UNKNOWN", Message: "no such route"}}})
		return
	case routePing:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte("{}"))
		}
		return
	case routeCatalog:
		s.only(w, r, map[string]http.HandlerFunc{http.MethodGet: s.getCatalog})
		return
	}
	if !validRepoName(rt.name) {
		drain(r)
		s.writeErr(w, r, newErr(kindNameInvalid, "invalid repository name"))
		return
	}
	switch rt.kind {
	case routeTags:
		s.only(w, r, map[string]http.HandlerFunc{http.MethodGet: func(w http.ResponseWriter, r *http.Request) { s.getTags(w, r, rt.name) }})
	case routeReferrers:
		s.only(w, r, map[string]http.HandlerFunc{http.MethodGet: func(w http.ResponseWriter, r *http.Request) { s.getReferrers(w, r, rt.name, rt.ref) }})
	case routeManifest:
		h := func(w http.ResponseWriter, r *http.Request) { s.serveManifest(w, r, rt.name, rt.ref) }
		s.only(w, r, map[string]http.HandlerFunc{http.MethodGet: h, http.MethodHead: h, http.MethodPut: h, http.MethodDelete: h})
	case routeBlob:
		h := func(w http.ResponseWriter, r *http.Request) { s.serveBlob(w, r, rt.name, rt.ref) }
		s.only(w, r, map[string]http.HandlerFunc{http.MethodGet: h, http.MethodHead: h, http.MethodDelete: h})
	case routeUploads:
		if !rt.upload {
			s.only(w, r, map[string]http.HandlerFunc{http.MethodPost: func(w http.ResponseWriter, r *http.Request) { s.postUpload(w, r, rt.name) }})
			return
		}
		h := func(w http.ResponseWriter, r *http.Request) { s.serveUpload(w, r, rt.name, rt.ref) }
		s.only(w, r, map[string]http.HandlerFunc{http.MethodGet: h, http.MethodPatch: h, http.MethodPut: h, http.MethodDelete: h})
	}
}

// only dispatches on the method; other methods are 405 UNSUPPORTED.
func (s *Service) only(w http.ResponseWriter, r *http.Request, hs map[string]http.HandlerFunc) {
	if h, ok := hs[r.Method]; ok {
		h(w, r)
		return
	}
	drain(r)
	s.writeErr(w, r, newErr(kindUnsupported, "the operation is unsupported"))
}

// writeErr is the one place errors become distribution API responses.
func (s *Service) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	status, body := ociError(err)
	if status >= 500 {
		s.log.Error("registry request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, r, status, body)
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"errors":[{"code":"UNKNOWN","message":"internal server error"}]}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// drain discards what is left of a request body we do not read, so the
// connection can be reused (bounded: a huge unread body closes it).
func drain(r *http.Request) {
	if r.Body != nil {
		buf := make([]byte, 32<<10)
		for n := 0; n < 1<<20; {
			m, err := r.Body.Read(buf)
			n += m
			if err != nil {
				break
			}
		}
	}
}

// pageParams reads n and last. n < 0 means "not given"; an n that is not a
// non-negative integer is reported.
func pageParams(q url.Values) (n int, last string, ok bool) {
	last = q.Get("last")
	v := q.Get("n")
	if v == "" {
		return -1, last, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, last, false
	}
	return n, last, true
}

// page cuts a sorted list after last, to at most n items; more reports that
// items remain.
func page(items []string, n int, last string) (out []string, more bool) {
	i := 0
	if last != "" {
		for i < len(items) && items[i] <= last {
			i++
		}
	}
	items = items[i:]
	if n >= 0 && len(items) > n {
		return items[:n], true
	}
	return items, false
}

// nextLink is an RFC 5988 Link header for the next page.
func nextLink(path string, n int, last string) string {
	q := url.Values{}
	q.Set("n", strconv.Itoa(n))
	q.Set("last", last)
	return "<" + path + "?" + q.Encode() + `>; rel="next"`
}
