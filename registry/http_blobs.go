package registry

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

func blobLocation(name string, d digest) string { return "/v2/" + name + "/blobs/" + d.String() }

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

// rangeHeader is the Range of an upload holding off bytes: 0-<last byte>,
// and 0-0 while it is empty (as docker-registry answers; clients accept it).
func rangeHeader(off int64) string {
	if off == 0 {
		return "0-0"
	}
	return "0-" + itoa(off-1)
}

func (s *Service) serveBlob(w http.ResponseWriter, r *http.Request, name, ref string) {
	ctx := r.Context()
	d, err := parseDigest(ref)
	if err != nil {
		s.writeErr(w, r, newErr(kindDigestInvalid, "invalid digest %q", ref))
		return
	}
	switch r.Method {
	case http.MethodDelete:
		if err := s.unlinkBlob(ctx, name, d); err != nil {
			s.writeErr(w, r, err)
			return
		}
		w.Header().Set("Content-Length", "0")
		w.Header().Set("Docker-Content-Digest", d.String())
		w.WriteHeader(http.StatusAccepted)
	case http.MethodHead:
		l, err := s.statBlob(ctx, name, d)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		h := w.Header()
		h.Set("Content-Length", itoa(l.Size))
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Docker-Content-Digest", d.String())
		h.Set("Accept-Ranges", "bytes")
		h.Set("ETag", `"`+d.String()+`"`)
		w.WriteHeader(http.StatusOK)
	default:
		b, err := s.openBlob(ctx, name, d)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		h := w.Header()
		etag := `"` + d.String() + `"`
		h.Set("Docker-Content-Digest", d.String())
		h.Set("ETag", etag)
		h.Set("Accept-Ranges", "bytes")
		start, n, partial, ok := blobRange(r, etag, b.Size)
		if !ok {
			h.Set("Content-Range", "bytes */"+itoa(b.Size))
			s.writeErr(w, r, newErr(kindRangeUnsatisfiable, "requested range not satisfiable"))
			return
		}
		// Open the first part before the status goes out, so a storage
		// failure is still an error response.
		rd := s.st.openRange(ctx, b, start, n)
		defer rd.Close()
		if err := rd.prime(); err != nil {
			s.writeErr(w, r, err)
			return
		}
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", itoa(n))
		status := http.StatusOK
		if partial {
			h.Set("Content-Range", "bytes "+itoa(start)+"-"+itoa(start+n-1)+"/"+itoa(b.Size))
			status = http.StatusPartialContent
		}
		w.WriteHeader(status)
		if _, err := io.Copy(w, rd); err != nil {
			// The status is out; all we can do is cut the response short.
			if ctx.Err() == nil {
				s.log.Warn("blob read failed", "repo", name, "digest", d.String(), "err", err)
			}
			panic(http.ErrAbortHandler)
		}
	}
}

// blobRange reads a Range header (RFC 9110, one range; several are served
// as the whole blob, which the RFC allows). It returns the first byte, the
// length, whether the answer is partial, and false for an unsatisfiable or
// malformed range (416).
func blobRange(r *http.Request, etag string, size int64) (start, n int64, partial, ok bool) {
	spec := r.Header.Get("Range")
	if spec == "" {
		return 0, size, false, true
	}
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
		return 0, size, false, true
	}
	spec, found := strings.CutPrefix(strings.TrimSpace(spec), "bytes=")
	if !found {
		return 0, 0, false, false
	}
	if strings.Contains(spec, ",") {
		return 0, size, false, true
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if a == "" {
		// The last b bytes.
		last, err := strconv.ParseInt(b, 10, 64)
		if err != nil || last <= 0 || size == 0 {
			return 0, 0, false, false
		}
		last = min(last, size)
		return size - last, last, true, true
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 || first >= size {
		return 0, 0, false, false
	}
	end := size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < first {
			return 0, 0, false, false
		}
		end = min(end, size-1)
	}
	return first, end - first + 1, true, true
}

// postUpload starts an upload (202), mounts a blob (201), or takes a whole
// blob in one request with ?digest= (201).
func (s *Service) postUpload(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	q := r.URL.Query()
	if _, err := s.repoForPush(ctx, name); err != nil {
		drain(r)
		s.writeErr(w, r, err)
		return
	}
	if m := q.Get("mount"); m != "" {
		d, err := parseDigest(m)
		if err != nil {
			drain(r)
			s.writeErr(w, r, newErr(kindDigestInvalid, "invalid digest %q", m))
			return
		}
		mounted, err := s.mountBlob(ctx, name, q.Get("from"), d)
		if err != nil {
			drain(r)
			s.writeErr(w, r, err)
			return
		}
		if mounted {
			drain(r)
			s.blobCreated(w, name, d)
			return
		}
		// Not mountable: fall back to a new upload session (202).
	} else if dg := q.Get("digest"); dg != "" {
		d, err := parseDigest(dg)
		if err != nil {
			drain(r)
			s.writeErr(w, r, newErr(kindDigestInvalid, "invalid digest %q", dg))
			return
		}
		if err := s.putBlob(ctx, name, d, r.Body, r.ContentLength); err != nil {
			s.writeErr(w, r, err)
			return
		}
		s.blobCreated(w, name, d)
		return
	}
	alg := algSHA256
	if a := q.Get("digest-algorithm"); a != "" {
		if !validAlg(a) {
			drain(r)
			s.writeErr(w, r, newErr(kindDigestInvalid, "unsupported digest algorithm %q", a))
			return
		}
		alg = a
	}
	drain(r)
	u, err := s.startUpload(ctx, name, alg)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	uploadHeaders(w, name, u.ID, u.Offset)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

func (s *Service) blobCreated(w http.ResponseWriter, name string, d digest) {
	h := w.Header()
	h.Set("Location", blobLocation(name, d))
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func uploadHeaders(w http.ResponseWriter, name, id string, off int64) {
	h := w.Header()
	h.Set("Location", uploadLocation(name, id))
	h.Set("Range", rangeHeader(off))
	h.Set("Docker-Upload-UUID", id)
}

func (s *Service) serveUpload(w http.ResponseWriter, r *http.Request, name, id string) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		u, _, err := s.loadUpload(ctx, name, id)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		uploadHeaders(w, name, u.ID, u.Offset)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		drain(r)
		if err := s.cancelUpload(ctx, name, id); err != nil {
			s.writeErr(w, r, err)
			return
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch:
		c, err := readChunk(r)
		if err != nil {
			drain(r)
			s.uploadErr(w, r, name, id, err)
			return
		}
		u, err := s.appendChunk(ctx, name, id, c)
		if err != nil {
			s.uploadErr(w, r, name, id, err)
			return
		}
		uploadHeaders(w, name, u.ID, u.Offset)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
	case http.MethodPut:
		dg := r.URL.Query().Get("digest")
		d, err := parseDigest(dg)
		if err != nil {
			drain(r)
			s.writeErr(w, r, newErr(kindDigestInvalid, "invalid digest %q", dg))
			return
		}
		c, err := readChunk(r)
		if err != nil {
			drain(r)
			s.uploadErr(w, r, name, id, err)
			return
		}
		if err := s.finishUpload(ctx, name, id, d, c); err != nil {
			s.uploadErr(w, r, name, id, err)
			return
		}
		s.blobCreated(w, name, d)
	}
}

// uploadErr writes an upload error; a 416 also says where the session is.
func (s *Service) uploadErr(w http.ResponseWriter, r *http.Request, name, id string, err error) {
	if isKind(err, kindRangeInvalid) {
		if u, _, lerr := s.loadUpload(r.Context(), name, id); lerr == nil {
			uploadHeaders(w, name, u.ID, u.Offset)
		}
	}
	s.writeErr(w, r, err)
}

var contentRangeRE = regexp.MustCompile(`^(?:bytes[ =])?([0-9]+)-([0-9]+)$`)

// readChunk reads the Content-Range and length of a PATCH or closing PUT.
func readChunk(r *http.Request) (chunk, error) {
	c := chunk{Body: r.Body, Start: -1, Length: r.ContentLength}
	cr := strings.TrimSpace(r.Header.Get("Content-Range"))
	if cr == "" {
		return c, nil
	}
	m := contentRangeRE.FindStringSubmatch(cr)
	if m == nil {
		return c, newErr(kindRangeInvalid, "invalid Content-Range %q", cr)
	}
	start, err1 := strconv.ParseInt(m[1], 10, 64)
	end, err2 := strconv.ParseInt(m[2], 10, 64)
	if err1 != nil || err2 != nil || end < start {
		return c, newErr(kindRangeInvalid, "invalid Content-Range %q", cr)
	}
	n := end - start + 1
	if c.Length >= 0 && c.Length != n {
		return c, newErr(kindSizeInvalid, "Content-Length %d does not match Content-Range %q", c.Length, cr)
	}
	c.Start, c.Length = start, n
	return c, nil
}
