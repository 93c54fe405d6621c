package registry_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Tests of the blob endpoints, written from the distribution spec (v1.1 and
// main): ping, monolithic, streamed and chunked uploads with the 416 rules,
// stale sessions, cancel, mount, ranges and sha512.

func TestPing_ChallengesWithoutCredentials(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, req{Method: "GET", Path: "/v2/", NoAuth: true})
	want(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
	if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="`) {
		t.Fatalf("WWW-Authenticate = %q", got)
	}
	if got := r.Header.Get("Docker-Distribution-API-Version"); got != "registry/2.0" {
		t.Fatalf("401 without Docker-Distribution-API-Version: %q", got)
	}
	r = e.do(t, req{Method: "GET", Path: "/v2/"})
	want(t, r, http.StatusOK)
	if string(r.Body) != "{}" || r.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("ping: %s %v", r.Body, r.Header)
	}
	// Secrets (wrong or right: a secret is not a password) and wrong tokens
	// are refused the same way.
	for _, auth := range []string{"Basic " + b64(e.Key.AccessKeyID+":wrong"), "Basic " + b64(e.Key.AccessKeyID+":"+e.Key.SecretAccessKey), "Basic " + b64("AWS:not.a-token"), "Bearer x"} {
		r = e.do(t, req{Method: "GET", Path: "/v2/", Headers: map[string]string{"Authorization": auth}})
		want(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: no challenge", auth)
		}
	}
}

func TestBlobUpload_MonolithicPostPutAndStream(t *testing.T) {
	e := newEnv(t, nil)
	blob := randomBytes(t, 3000)
	d := sha256Digest(blob)

	// POST ?digest= with the body: 201 with the blob's Location.
	r := e.do(t, req{Method: "POST", Path: "/v2/mono/app/blobs/uploads/?digest=" + d, Body: blob})
	want(t, r, http.StatusCreated)
	if r.Header.Get("Location") != "/v2/mono/app/blobs/"+d || r.Header.Get("Docker-Content-Digest") != d {
		t.Fatalf("201 headers: %v", r.Header)
	}
	r = e.do(t, req{Method: "GET", Path: r.Header.Get("Location")})
	want(t, r, http.StatusOK)
	if !bytes.Equal(r.Body, blob) || r.Header.Get("Docker-Content-Digest") != d {
		t.Fatalf("GET blob: %d bytes, digest %q", len(r.Body), r.Header.Get("Docker-Content-Digest"))
	}
	r = e.do(t, req{Method: "HEAD", Path: "/v2/mono/app/blobs/" + d})
	want(t, r, http.StatusOK)
	if r.Header.Get("Content-Length") != "3000" || len(r.Body) != 0 {
		t.Fatalf("HEAD: %v, %d body bytes", r.Header, len(r.Body))
	}

	// POST, then PUT with the whole body.
	blob2 := randomBytes(t, 10)
	if got := e.pushBlob(t, "mono/app", blob2); got != sha256Digest(blob2) {
		t.Fatal(got)
	}

	// POST, one streamed PATCH (no Content-Range, no Content-Length), PUT
	// with an empty body: what docker and podman do.
	blob3 := randomBytes(t, 3<<20+5)
	r = e.do(t, req{Method: "POST", Path: "/v2/mono/app/blobs/uploads/"})
	want(t, r, http.StatusAccepted)
	if r.Header.Get("Range") != "0-0" || r.Header.Get("Docker-Upload-UUID") == "" {
		t.Fatalf("POST headers: %v", r.Header)
	}
	r = e.do(t, req{Method: "PATCH", Path: r.Header.Get("Location"), Stream: bytes.NewReader(blob3)})
	want(t, r, http.StatusAccepted)
	if got := r.Header.Get("Range"); got != fmt.Sprintf("0-%d", len(blob3)-1) {
		t.Fatalf("Range after stream: %q", got)
	}
	r = e.do(t, req{Method: "PUT", Path: withQuery(r.Header.Get("Location"), "digest", sha256Digest(blob3))})
	want(t, r, http.StatusCreated)
	r = e.do(t, req{Method: "GET", Path: "/v2/mono/app/blobs/" + sha256Digest(blob3)})
	want(t, r, http.StatusOK)
	if !bytes.Equal(r.Body, blob3) {
		t.Fatal("streamed blob read back differs")
	}
	// The empty blob is a blob too.
	r = e.do(t, req{Method: "POST", Path: "/v2/mono/app/blobs/uploads/?digest=" + sha256Digest(nil)})
	want(t, r, http.StatusCreated)
	r = e.do(t, req{Method: "GET", Path: "/v2/mono/app/blobs/" + sha256Digest(nil)})
	want(t, r, http.StatusOK)
}

// TestBlobUpload_ChunkedOrderAndStaleSession covers the cases docker-registry
// 2.8 fails: an out-of-order chunk, the retry of a chunk on an old Location,
// and the status GET on an old Location.
func TestBlobUpload_ChunkedOrderAndStaleSession(t *testing.T) {
	e := newEnv(t, nil)
	blob := randomBytes(t, 2500)
	c1, c2 := blob[:1000], blob[1000:]
	chunk := func(loc string, start int, b []byte) resp {
		return e.do(t, req{Method: "PATCH", Path: loc, Body: b, Headers: map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("%d-%d", start, start+len(b)-1),
		}})
	}

	// A chunk that does not start at 0 is refused with 416.
	r := e.do(t, req{Method: "POST", Path: "/v2/chunk/blobs/uploads/", Headers: map[string]string{"Content-Length": "0"}})
	want(t, r, http.StatusAccepted)
	before := e.storage(t)
	bad := chunk(r.Header.Get("Location"), 1000, c2)
	want(t, bad, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
	if bad.Header.Get("Range") != "0-0" || bad.Header.Get("Location") == "" {
		t.Fatalf("416 headers: %v", bad.Header)
	}
	e.sameStorage(t, before, "an out-of-order chunk")

	r = e.do(t, req{Method: "POST", Path: "/v2/chunk/blobs/uploads/"})
	first := r.Header.Get("Location")
	r = chunk(first, 0, c1)
	want(t, r, http.StatusAccepted)
	if r.Header.Get("Range") != "0-999" || r.Header.Get("Location") == "" {
		t.Fatalf("after chunk 1: %v", r.Header)
	}
	// Re-sending the first chunk to the first Location: 416, nothing moves.
	before = e.storage(t)
	want(t, chunk(first, 0, c1), http.StatusRequestedRangeNotSatisfiable)
	e.sameStorage(t, before, "a repeated chunk")
	// The old Location still reports the session.
	r = e.do(t, req{Method: "GET", Path: first})
	want(t, r, http.StatusNoContent)
	if r.Header.Get("Range") != "0-999" || r.Header.Get("Location") == "" {
		t.Fatalf("status of the stale Location: %v", r.Header)
	}
	// A chunk past the end is 416 too.
	want(t, chunk(first, 1500, c2[500:]), http.StatusRequestedRangeNotSatisfiable)
	r = chunk(r.Header.Get("Location"), 1000, c2)
	want(t, r, http.StatusAccepted)
	if r.Header.Get("Range") != "0-2499" {
		t.Fatalf("after chunk 2: %v", r.Header)
	}
	r = e.do(t, req{Method: "PUT", Path: withQuery(r.Header.Get("Location"), "digest", sha256Digest(blob)), Headers: map[string]string{"Content-Length": "0"}})
	want(t, r, http.StatusCreated)
	r = e.do(t, req{Method: "GET", Path: "/v2/chunk/blobs/" + sha256Digest(blob)})
	if !bytes.Equal(r.Body, blob) {
		t.Fatal("chunked blob differs")
	}

	// The last chunk may come with the closing PUT; an out-of-order one there
	// is 416 as well.
	blob2 := randomBytes(t, 1500)
	r = e.do(t, req{Method: "POST", Path: "/v2/chunk/blobs/uploads/"})
	r = chunk(r.Header.Get("Location"), 0, blob2[:700])
	want(t, r, http.StatusAccepted)
	loc := withQuery(r.Header.Get("Location"), "digest", sha256Digest(blob2))
	bad = e.do(t, req{Method: "PUT", Path: loc, Body: blob2[701:], Headers: map[string]string{"Content-Range": "701-1499"}})
	want(t, bad, http.StatusRequestedRangeNotSatisfiable)
	r = e.do(t, req{Method: "PUT", Path: loc, Body: blob2[700:], Headers: map[string]string{"Content-Range": "700-1499"}})
	want(t, r, http.StatusCreated)
	r = e.do(t, req{Method: "GET", Path: "/v2/chunk/blobs/" + sha256Digest(blob2)})
	if !bytes.Equal(r.Body, blob2) {
		t.Fatal("blob closed with a final chunk differs")
	}
	// A malformed Content-Range is refused.
	r = e.do(t, req{Method: "POST", Path: "/v2/chunk/blobs/uploads/"})
	bad = e.do(t, req{Method: "PATCH", Path: r.Header.Get("Location"), Body: []byte("x"), Headers: map[string]string{"Content-Range": "bytes=a-b"}})
	want(t, bad, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
}

func TestBlobUpload_WrongDigestStoresNothing(t *testing.T) {
	e := newEnv(t, nil)
	e.pushBlob(t, "wrong/digest", []byte("seed")) // creates the repository
	before := e.storage(t)
	blob := randomBytes(t, 2<<20+7) // several parts
	other := sha256Digest([]byte("something else"))

	// Monolithic POST with a digest that is not the content's.
	r := e.do(t, req{Method: "POST", Path: "/v2/wrong/digest/blobs/uploads/?digest=" + other, Body: blob})
	want(t, r, http.StatusBadRequest, "DIGEST_INVALID")
	e.sameStorage(t, before, "a monolithic upload with a wrong digest")

	// Chunked upload closed with a wrong digest: the session goes, nothing stays.
	r = e.do(t, req{Method: "POST", Path: "/v2/wrong/digest/blobs/uploads/"})
	loc := r.Header.Get("Location")
	r = e.do(t, req{Method: "PATCH", Path: loc, Body: blob})
	want(t, r, http.StatusAccepted)
	r = e.do(t, req{Method: "PUT", Path: withQuery(loc, "digest", other)})
	want(t, r, http.StatusBadRequest, "DIGEST_INVALID")
	e.sameStorage(t, before, "a chunked upload closed with a wrong digest")
	want(t, e.do(t, req{Method: "GET", Path: loc}), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/wrong/digest/blobs/" + sha256Digest(blob)}), http.StatusNotFound)

	// A malformed digest is DIGEST_INVALID, as is an unknown algorithm.
	for _, d := range []string{"sha256:abc", "md5:" + strings.Repeat("0", 32), "sha256:" + strings.Repeat("A", 64)} {
		r = e.do(t, req{Method: "POST", Path: "/v2/wrong/digest/blobs/uploads/?digest=" + d, Body: []byte("x")})
		want(t, r, http.StatusBadRequest, "DIGEST_INVALID")
	}
	// Content-Length and Content-Range that disagree.
	r = e.do(t, req{Method: "POST", Path: "/v2/wrong/digest/blobs/uploads/"})
	bad := e.do(t, req{Method: "PATCH", Path: r.Header.Get("Location"), Body: []byte("abc"), Headers: map[string]string{"Content-Range": "0-9"}})
	want(t, bad, http.StatusBadRequest, "SIZE_INVALID")
	e.sameStorage(t, before, "refused uploads")
}

func TestBlobUpload_Cancel(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, req{Method: "POST", Path: "/v2/cancel/me/blobs/uploads/"})
	loc := r.Header.Get("Location")
	want(t, e.do(t, req{Method: "PATCH", Path: loc, Body: randomBytes(t, 3<<20)}), http.StatusAccepted)
	if s := e.storage(t); len(s.Objects) == 0 {
		t.Fatal("no parts stored for the chunk")
	}
	r = e.do(t, req{Method: "DELETE", Path: loc, Headers: map[string]string{"Content-Length": "0"}})
	want(t, r, http.StatusNoContent)
	want(t, e.do(t, req{Method: "GET", Path: loc}), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	want(t, e.do(t, req{Method: "PATCH", Path: loc, Body: []byte("x")}), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	want(t, e.do(t, req{Method: "DELETE", Path: loc}), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	if s := e.storage(t); len(s.Objects) != 0 {
		t.Fatalf("cancel left parts: %v", s.Objects)
	}
	// An upload id of another repository is unknown here.
	r = e.do(t, req{Method: "POST", Path: "/v2/cancel/me/blobs/uploads/"})
	other := strings.Replace(r.Header.Get("Location"), "/cancel/me/", "/cancel/other/", 1)
	want(t, e.do(t, req{Method: "GET", Path: other}), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
}

func TestBlobMount_FromAndAnonymous(t *testing.T) {
	e := newEnv(t, nil)
	blob := randomBytes(t, 500)
	d := e.pushBlob(t, "mount/src", blob)
	e.pushBlob(t, "mount/dst", []byte("create the repository"))

	// Stored in the registry, but not linked to dst: unknown there.
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/mount/dst/blobs/" + d}), http.StatusNotFound)
	want(t, e.do(t, req{Method: "GET", Path: "/v2/mount/dst/blobs/" + d}), http.StatusNotFound, "BLOB_UNKNOWN")

	// Mount from a repository that does not link it: a new session (202).
	r := e.do(t, req{Method: "POST", Path: "/v2/mount/dst/blobs/uploads/?mount=" + d + "&from=mount/dst"})
	want(t, r, http.StatusAccepted)
	if !strings.HasPrefix(r.Header.Get("Location"), "/v2/mount/dst/blobs/uploads/") {
		t.Fatalf("fallback Location %q", r.Header.Get("Location"))
	}
	// Mount from the source: 201.
	r = e.do(t, req{Method: "POST", Path: "/v2/mount/dst/blobs/uploads/?mount=" + d + "&from=mount/src"})
	want(t, r, http.StatusCreated)
	if r.Header.Get("Location") != "/v2/mount/dst/blobs/"+d || r.Header.Get("Docker-Content-Digest") != d {
		t.Fatalf("mount headers %v", r.Header)
	}
	r = e.do(t, req{Method: "GET", Path: "/v2/mount/dst/blobs/" + d})
	if r.StatusCode != 200 || !bytes.Equal(r.Body, blob) {
		t.Fatalf("mounted blob: %s", r)
	}
	// Anonymous mount (no from): found anywhere in the registry.
	want(t, e.do(t, req{Method: "POST", Path: "/v2/mount/third/blobs/uploads/?mount=" + d}), http.StatusCreated)
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/mount/third/blobs/" + d}), http.StatusOK)
	// Anonymous mount of something nobody has: a session.
	want(t, e.do(t, req{Method: "POST", Path: "/v2/mount/third/blobs/uploads/?mount=" + sha256Digest([]byte("hello world"))}), http.StatusAccepted)
	// Deleting the blob in one repository leaves the others alone.
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/mount/src/blobs/" + d}), http.StatusAccepted)
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/mount/src/blobs/" + d}), http.StatusNotFound)
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/mount/src/blobs/" + d}), http.StatusNotFound, "BLOB_UNKNOWN")
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/mount/dst/blobs/" + d}), http.StatusOK)
}

func TestBlobGet_Ranges(t *testing.T) {
	e := newEnv(t, nil)
	blob := randomBytes(t, 3<<20) // three parts of 1 MiB
	d := e.pushBlob(t, "ranges", blob)
	size := len(blob)
	for _, c := range []struct {
		rng         string
		status      int
		first, last int
	}{
		{"bytes=500-1499", http.StatusPartialContent, 500, 1499},
		{"bytes=500-", http.StatusPartialContent, 500, size - 1},
		{"bytes=-500", http.StatusPartialContent, size - 500, size - 1},
		{"bytes=1048000-2097500", http.StatusPartialContent, 1048000, 2097500}, // spans parts
		{"bytes=3000000-5000000", http.StatusPartialContent, 3000000, size - 1},
		{"bytes=5000000-10000000", http.StatusRequestedRangeNotSatisfiable, 0, 0},
		{"bytes=500-0", http.StatusRequestedRangeNotSatisfiable, 0, 0},
	} {
		r := e.do(t, req{Method: "GET", Path: "/v2/ranges/blobs/" + d, Headers: map[string]string{"Range": c.rng}})
		if r.StatusCode != c.status {
			t.Fatalf("%s: %d, want %d", c.rng, r.StatusCode, c.status)
		}
		if c.status == http.StatusRequestedRangeNotSatisfiable {
			if got := r.Header.Get("Content-Range"); got != fmt.Sprintf("bytes */%d", size) {
				t.Fatalf("%s: Content-Range %q", c.rng, got)
			}
			continue
		}
		if got := r.Header.Get("Content-Range"); got != fmt.Sprintf("bytes %d-%d/%d", c.first, c.last, size) {
			t.Fatalf("%s: Content-Range %q", c.rng, got)
		}
		if !bytes.Equal(r.Body, blob[c.first:c.last+1]) {
			t.Fatalf("%s: wrong bytes", c.rng)
		}
	}
}

func TestBlob_SHA512(t *testing.T) {
	e := newEnv(t, nil)
	blob := randomBytes(t, 2<<20+1)
	d := sha512Digest(blob)

	// The session hashes with sha512 from the start.
	r := e.do(t, req{Method: "POST", Path: "/v2/sha/five12/blobs/uploads/?digest-algorithm=sha512"})
	want(t, r, http.StatusAccepted)
	r = e.do(t, req{Method: "PATCH", Path: r.Header.Get("Location"), Body: blob})
	want(t, r, http.StatusAccepted)
	r = e.do(t, req{Method: "PUT", Path: withQuery(r.Header.Get("Location"), "digest", d)})
	want(t, r, http.StatusCreated)
	if r.Header.Get("Docker-Content-Digest") != d || r.Header.Get("Location") != "/v2/sha/five12/blobs/"+d {
		t.Fatalf("sha512 close: %v", r.Header)
	}
	r = e.do(t, req{Method: "GET", Path: "/v2/sha/five12/blobs/" + d})
	if r.StatusCode != 200 || !bytes.Equal(r.Body, blob) || r.Header.Get("Docker-Content-Digest") != d {
		t.Fatalf("GET sha512 blob: %s", r)
	}
	// Monolithic with a sha512 digest.
	small := []byte("sha512 monolithic")
	want(t, e.do(t, req{Method: "POST", Path: "/v2/sha/five12/blobs/uploads/?digest=" + sha512Digest(small), Body: small}), http.StatusCreated)
	// A session started without a hint may still close with sha512.
	other := randomBytes(t, 1234)
	r = e.do(t, req{Method: "POST", Path: "/v2/sha/five12/blobs/uploads/"})
	r = e.do(t, req{Method: "PUT", Path: withQuery(r.Header.Get("Location"), "digest", sha512Digest(other)), Body: other})
	want(t, r, http.StatusCreated)
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/sha/five12/blobs/" + sha512Digest(other)}), http.StatusOK)
	// An unknown algorithm hint is refused.
	want(t, e.do(t, req{Method: "POST", Path: "/v2/sha/five12/blobs/uploads/?digest-algorithm=md5"}), http.StatusBadRequest, "DIGEST_INVALID")

	// A manifest pushed by its sha512 digest is served under it.
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := sha512Digest(cfg)
	want(t, e.do(t, req{Method: "POST", Path: "/v2/sha/five12/blobs/uploads/?digest=" + cd, Body: cfg}), http.StatusCreated)
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`, cd, len(cfg), d, len(blob)))
	md := sha512Digest(m)
	r = e.pushManifest(t, "sha/five12", md, "application/vnd.oci.image.manifest.v1+json", m)
	want(t, r, http.StatusCreated)
	if r.Header.Get("Docker-Content-Digest") != md {
		t.Fatalf("manifest digest header %q", r.Header.Get("Docker-Content-Digest"))
	}
	r = e.do(t, req{Method: "GET", Path: "/v2/sha/five12/manifests/" + md})
	if r.StatusCode != 200 || !bytes.Equal(r.Body, m) || r.Header.Get("Docker-Content-Digest") != md {
		t.Fatalf("GET sha512 manifest: %s", r)
	}
	// Tagged afterwards, it keeps its sha512 identity.
	r = e.pushManifest(t, "sha/five12", "v1", "application/vnd.oci.image.manifest.v1+json", m)
	want(t, r, http.StatusCreated)
	if r.Header.Get("Docker-Content-Digest") != md {
		t.Fatalf("tag push of a sha512 manifest: %v", r.Header)
	}
	r = e.do(t, req{Method: "HEAD", Path: "/v2/sha/five12/manifests/v1"})
	if r.Header.Get("Docker-Content-Digest") != md {
		t.Fatalf("HEAD by tag: %v", r.Header)
	}
	// Referrers of a sha512 subject.
	ref := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d}}`, cd, len(cfg), md, len(m)))
	r = e.pushManifest(t, "sha/five12", sha512Digest(ref), "application/vnd.oci.image.manifest.v1+json", ref)
	want(t, r, http.StatusCreated)
	if r.Header.Get("OCI-Subject") != md {
		t.Fatalf("OCI-Subject %q", r.Header.Get("OCI-Subject"))
	}
	r = e.do(t, req{Method: "GET", Path: "/v2/sha/five12/referrers/" + md})
	if r.StatusCode != 200 || !strings.Contains(string(r.Body), sha512Digest(ref)) {
		t.Fatalf("sha512 referrers: %s", r)
	}
}
