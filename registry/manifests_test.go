package registry_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
)

const (
	mtOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mtDocker      = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList  = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func TestManifest_PushPullExactBytes(t *testing.T) {
	e := newEnv(t, nil)
	img := e.pushImage(t, "man/app", 2, nil)
	r := e.pushManifest(t, "man/app", "v1", mtOCIManifest, img.Manifest)
	want(t, r, http.StatusCreated)
	if r.Header.Get("Location") != "/v2/man/app/manifests/"+img.Digest || r.Header.Get("Docker-Content-Digest") != img.Digest {
		t.Fatalf("PUT headers: %v", r.Header)
	}
	for _, ref := range []string{"v1", img.Digest} {
		r = e.do(t, req{Method: "GET", Path: "/v2/man/app/manifests/" + ref, Headers: map[string]string{"Accept": mtOCIManifest}})
		want(t, r, http.StatusOK)
		if !bytes.Equal(r.Body, img.Manifest) || r.Header.Get("Content-Type") != mtOCIManifest || r.Header.Get("Docker-Content-Digest") != img.Digest {
			t.Fatalf("GET %s: %q %v", ref, r.Body, r.Header)
		}
		r = e.do(t, req{Method: "HEAD", Path: "/v2/man/app/manifests/" + ref})
		want(t, r, http.StatusOK)
		if r.Header.Get("Content-Length") != fmt.Sprint(len(img.Manifest)) || len(r.Body) != 0 {
			t.Fatalf("HEAD %s: %v", ref, r.Header)
		}
	}
	// Pushing the same manifest again, by digest and by another tag, is fine.
	want(t, e.pushManifest(t, "man/app", img.Digest, mtOCIManifest, img.Manifest), http.StatusCreated)
	want(t, e.pushManifest(t, "man/app", "v1", mtOCIManifest, img.Manifest), http.StatusCreated)

	// Docker schema 2 and a Docker manifest list, with Content-Type parameters.
	dm := bytes.Replace(img.Manifest, []byte(mtOCIManifest), []byte(mtDocker), 1)
	dm = bytes.Replace(dm, []byte("application/vnd.oci.image.config.v1+json"), []byte("application/vnd.docker.container.image.v1+json"), 1)
	r = e.pushManifest(t, "man/app", "docker", mtDocker+"; charset=utf-8", dm)
	want(t, r, http.StatusCreated)
	r = e.do(t, req{Method: "GET", Path: "/v2/man/app/manifests/docker"})
	if r.Header.Get("Content-Type") != mtDocker || !bytes.Equal(r.Body, dm) {
		t.Fatalf("docker manifest: %v", r.Header)
	}
	list := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}`,
		mtDockerList, mtDocker, sha256Digest(dm), len(dm)))
	want(t, e.pushManifest(t, "man/app", "list", mtDockerList, list), http.StatusCreated)
	// An OCI index over both, pushed by digest with ?tag= (OCI-Tag headers).
	idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":%d},{"mediaType":%q,"digest":%q,"size":%d}]}`,
		mtOCIIndex, mtOCIManifest, img.Digest, len(img.Manifest), mtDockerList, sha256Digest(list), len(list)))
	r = e.do(t, req{Method: "PUT", Path: "/v2/man/app/manifests/" + sha256Digest(idx) + "?tag=multi&tag=latest", Body: idx, Headers: map[string]string{"Content-Type": mtOCIIndex}})
	want(t, r, http.StatusCreated)
	if got := r.Header.Values("OCI-Tag"); strings.Join(got, ",") != "multi,latest" {
		t.Fatalf("OCI-Tag %v", got)
	}
	for _, tag := range []string{"multi", "latest"} {
		r = e.do(t, req{Method: "GET", Path: "/v2/man/app/manifests/" + tag})
		if !bytes.Equal(r.Body, idx) || r.Header.Get("Content-Type") != mtOCIIndex {
			t.Fatalf("tag %s: %s", tag, r)
		}
	}
	// A manifest without layers.
	empty := e.pushImage(t, "man/app", 0, nil)
	want(t, e.pushManifest(t, "man/app", "empty", mtOCIManifest, empty.Manifest), http.StatusCreated)
	// Non-distributable layers that were never pushed are accepted.
	nd := e.pushImage(t, "man/app", 0, map[string]any{"layers": []map[string]any{{
		"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"digest":    sha256Digest([]byte("elsewhere")), "size": 9,
		"urls": []string{"https://store.example.com/blob"},
	}}})
	want(t, e.pushManifest(t, "man/app", "foreign", mtOCIManifest, nd.Manifest), http.StatusCreated)
}

func TestManifest_BadInputStoresNothing(t *testing.T) {
	e := newEnv(t, func(c *registryConfig) { c.MaxManifestSize = 64 << 10 })
	img := e.pushImage(t, "bad/man", 1, nil)
	before := e.storage(t)
	check := func(what string, r resp, status int, code string) {
		t.Helper()
		want(t, r, status, code)
		e.sameStorage(t, before, what)
	}

	// A manifest naming a blob that was never pushed.
	missing := sha256Digest([]byte("never pushed"))
	m := bytes.Replace(img.Manifest, []byte(img.Layers[0]), []byte(missing), 1)
	r := e.pushManifest(t, "bad/man", "v1", mtOCIManifest, m)
	check("a manifest with a missing blob", r, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	if !strings.Contains(string(r.Body), missing) {
		t.Fatalf("error detail does not name the blob: %s", r.Body)
	}
	// A blob of another repository is not enough.
	other := e.pushBlob(t, "bad/other", []byte("other repository"))
	before = e.storage(t)
	m = bytes.Replace(img.Manifest, []byte(img.Layers[0]), []byte(other), 1)
	check("a manifest with another repository's blob", e.pushManifest(t, "bad/man", "v1", mtOCIManifest, m), http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	// Too big: 413.
	big := bytes.Repeat([]byte(" "), 70<<10)
	check("an oversize manifest", e.pushManifest(t, "bad/man", "v1", mtOCIManifest, append(append([]byte{}, img.Manifest...), big...)), http.StatusRequestEntityTooLarge, "MANIFEST_INVALID")
	// mediaType against Content-Type.
	check("a mediaType mismatch", e.pushManifest(t, "bad/man", "v1", mtDocker, img.Manifest), http.StatusBadRequest, "MANIFEST_INVALID")
	// By a digest that is not its own (whitespace changes the digest).
	check("a digest mismatch", e.pushManifest(t, "bad/man", img.Digest, mtOCIManifest, append(append([]byte{}, img.Manifest...), ' ', ' ')), http.StatusBadRequest, "DIGEST_INVALID")
	check("a malformed digest", e.pushManifest(t, "bad/man", "sha256:baddigeststring", mtOCIManifest, img.Manifest), http.StatusBadRequest, "DIGEST_INVALID")
	check("an invalid tag", e.pushManifest(t, "bad/man", "-bad", mtOCIManifest, img.Manifest), http.StatusBadRequest, "MANIFEST_INVALID")
	check("not JSON", e.pushManifest(t, "bad/man", "v1", mtOCIManifest, []byte("{nope")), http.StatusBadRequest, "MANIFEST_INVALID")
	check("schema 1", e.pushManifest(t, "bad/man", "v1", "application/vnd.docker.distribution.manifest.v1+prettyjws", []byte(`{"schemaVersion":1}`)), http.StatusBadRequest, "MANIFEST_INVALID")
	// An index whose child is not in the repository.
	idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":10}]}`, mtOCIIndex, mtOCIManifest, missing))
	check("an index with a missing child", e.pushManifest(t, "bad/man", "idx", mtOCIIndex, idx), http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	// Invalid repository names.
	for _, name := range []string{"Upper/case", "a", "trailing-/x", "double//slash", strings.Repeat("a", 257)} {
		check("an invalid name", e.pushManifest(t, name, "v1", mtOCIManifest, img.Manifest), http.StatusBadRequest, "NAME_INVALID")
		check("an invalid name", e.do(t, req{Method: "POST", Path: "/v2/" + name + "/blobs/uploads/"}), http.StatusBadRequest, "NAME_INVALID")
	}
	// Unknown tags and digests; a malformed digest reference.
	check("an unknown tag", e.do(t, req{Method: "GET", Path: "/v2/bad/man/manifests/nope"}), http.StatusNotFound, "MANIFEST_UNKNOWN")
	check("an unknown digest", e.do(t, req{Method: "GET", Path: "/v2/bad/man/manifests/" + missing}), http.StatusNotFound, "MANIFEST_UNKNOWN")
	check("a wrong digest", e.do(t, req{Method: "GET", Path: "/v2/bad/man/manifests/sha256:totallywrong"}), http.StatusBadRequest, "DIGEST_INVALID")
	check("an unknown repository", e.do(t, req{Method: "GET", Path: "/v2/bad/nothing/manifests/v1"}), http.StatusNotFound, "NAME_UNKNOWN")
	check("an unknown repository", e.do(t, req{Method: "GET", Path: "/v2/bad/nothing/tags/list"}), http.StatusNotFound, "NAME_UNKNOWN")
	check("deleting an unknown manifest", e.do(t, req{Method: "DELETE", Path: "/v2/bad/man/manifests/" + missing}), http.StatusNotFound, "MANIFEST_UNKNOWN")
	check("deleting an unknown tag", e.do(t, req{Method: "DELETE", Path: "/v2/bad/man/manifests/nope"}), http.StatusNotFound, "MANIFEST_UNKNOWN")
	check("an unsupported method", e.do(t, req{Method: "POST", Path: "/v2/bad/man/manifests/v1"}), http.StatusMethodNotAllowed, "UNSUPPORTED")
}

func TestManifest_Delete(t *testing.T) {
	e := newEnv(t, nil)
	img := e.pushImage(t, "del/app", 1, nil)
	for _, tag := range []string{"a", "b", "c"} {
		want(t, e.pushManifest(t, "del/app", tag, mtOCIManifest, img.Manifest), http.StatusCreated)
	}
	// By tag: only the tag goes.
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/del/app/manifests/a"}), http.StatusAccepted)
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/del/app/manifests/a"}), http.StatusNotFound)
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/del/app/manifests/b"}), http.StatusOK)
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/del/app/manifests/" + img.Digest}), http.StatusOK)
	// By digest: the manifest and every tag naming it.
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/del/app/manifests/" + img.Digest}), http.StatusAccepted)
	for _, ref := range []string{"b", "c", img.Digest} {
		want(t, e.do(t, req{Method: "GET", Path: "/v2/del/app/manifests/" + ref}), http.StatusNotFound, "MANIFEST_UNKNOWN")
	}
	r := e.do(t, req{Method: "GET", Path: "/v2/del/app/tags/list"})
	want(t, r, http.StatusOK)
	if string(r.Body) != `{"name":"del/app","tags":[]}` {
		t.Fatalf("tags after delete: %s", r.Body)
	}
	// Blobs: 202, then unknown.
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/del/app/blobs/" + img.Layers[0]}), http.StatusAccepted)
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/del/app/blobs/" + img.Layers[0]}), http.StatusNotFound)
}

func TestTagList_PaginationAndOrder(t *testing.T) {
	e := newEnv(t, nil)
	img := e.pushImage(t, "tags/app", 1, nil)
	tags := []string{"v1.10", "v1.2", "V2", "_x", "latest", "a", "B", "v1.9-rc.1", "0"}
	for _, tag := range tags {
		want(t, e.pushManifest(t, "tags/app", tag, mtOCIManifest, img.Manifest), http.StatusCreated)
	}
	sorted := append([]string(nil), tags...)
	sort.Strings(sorted) // lexical, byte-wise ("ASCIIbetical")
	list := func(q string) (tagList, resp) {
		r := e.do(t, req{Method: "GET", Path: "/v2/tags/app/tags/list" + q})
		want(t, r, http.StatusOK)
		var l tagList
		if err := json.Unmarshal(r.Body, &l); err != nil {
			t.Fatal(err)
		}
		return l, r
	}
	l, _ := list("")
	if l.Name != "tags/app" || strings.Join(l.Tags, ",") != strings.Join(sorted, ",") {
		t.Fatalf("all tags: %+v, want %v", l, sorted)
	}
	// Walk the pages with n and the Link header.
	var walked []string
	q := "?n=4"
	for pages := 0; q != ""; pages++ {
		l, r := list(q)
		if len(l.Tags) > 4 || pages > 5 {
			t.Fatalf("page %q: %v", q, l.Tags)
		}
		walked = append(walked, l.Tags...)
		q = ""
		if link := r.Header.Get("Link"); link != "" {
			if !strings.HasSuffix(link, `>; rel="next"`) || !strings.HasPrefix(link, "</v2/tags/app/tags/list?") {
				t.Fatalf("Link %q", link)
			}
			q = strings.TrimPrefix(strings.TrimSuffix(link, `>; rel="next"`), "</v2/tags/app/tags/list")
		}
	}
	if strings.Join(walked, ",") != strings.Join(sorted, ",") {
		t.Fatalf("paged tags %v, want %v", walked, sorted)
	}
	// n and last together: tags strictly after last.
	l, _ = list("?n=2&last=" + sorted[2])
	if strings.Join(l.Tags, ",") != strings.Join(sorted[3:5], ",") {
		t.Fatalf("n=2&last=%s: %v", sorted[2], l.Tags)
	}
	l, _ = list("?last=" + sorted[len(sorted)-2])
	if strings.Join(l.Tags, ",") != sorted[len(sorted)-1] {
		t.Fatalf("last only: %v", l.Tags)
	}
	// n=0: an empty list and no Link.
	l, r := list("?n=0")
	if len(l.Tags) != 0 || l.Tags == nil || r.Header.Get("Link") != "" {
		t.Fatalf("n=0: %s %v", r.Body, r.Header)
	}
	want(t, e.do(t, req{Method: "GET", Path: "/v2/tags/app/tags/list?n=-1"}), http.StatusMethodNotAllowed, "UNSUPPORTED")
}

type tagList struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

func TestCatalog_Pagination(t *testing.T) {
	e := newEnv(t, nil)
	names := []string{"cat/a", "cat/b", "cat/c/d", "other", "zz"}
	for _, n := range names {
		e.pushBlob(t, n, []byte(n))
	}
	var all []string
	q := "?n=2"
	for q != "" {
		r := e.do(t, req{Method: "GET", Path: "/v2/_catalog" + q})
		want(t, r, http.StatusOK)
		var c struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(r.Body, &c); err != nil {
			t.Fatal(err)
		}
		if len(c.Repositories) > 2 {
			t.Fatalf("page too long: %v", c.Repositories)
		}
		all = append(all, c.Repositories...)
		q = ""
		if link := r.Header.Get("Link"); link != "" {
			q = strings.TrimPrefix(strings.TrimSuffix(link, `>; rel="next"`), "</v2/_catalog")
		}
	}
	if strings.Join(all, ",") != strings.Join(names, ",") {
		t.Fatalf("catalog %v, want %v", all, names)
	}
}

func TestReferrers(t *testing.T) {
	e := newEnv(t, nil)
	subject := e.pushImage(t, "refs/app", 1, nil)
	subjDesc := map[string]any{"mediaType": mtOCIManifest, "digest": subject.Digest, "size": len(subject.Manifest)}

	// Referrers may come before their subject: a missing subject is accepted.
	sbom := e.pushImage(t, "refs/app", 1, map[string]any{"artifactType": "application/vnd.example.sbom", "subject": subjDesc, "annotations": map[string]string{"kind": "sbom"}})
	r := e.pushManifest(t, "refs/app", sbom.Digest, mtOCIManifest, sbom.Manifest)
	want(t, r, http.StatusCreated)
	if r.Header.Get("OCI-Subject") != subject.Digest {
		t.Fatalf("OCI-Subject %q", r.Header.Get("OCI-Subject"))
	}
	want(t, e.pushManifest(t, "refs/app", "v1", mtOCIManifest, subject.Manifest), http.StatusCreated)
	// An artifact typed by its config media type.
	sig := e.pushImage(t, "refs/app", 1, map[string]any{"subject": subjDesc, "annotations": map[string]string{"kind": "sig"}})
	want(t, e.pushManifest(t, "refs/app", sig.Digest, mtOCIManifest, sig.Manifest), http.StatusCreated)
	// An index with a subject.
	idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":"application/vnd.example.bundle","manifests":[{"mediaType":%q,"digest":%q,"size":%d}],"subject":{"mediaType":%q,"digest":%q,"size":%d},"annotations":{"kind":"bundle"}}`,
		mtOCIIndex, mtOCIManifest, sbom.Digest, len(sbom.Manifest), mtOCIManifest, subject.Digest, len(subject.Manifest)))
	r = e.pushManifest(t, "refs/app", sha256Digest(idx), mtOCIIndex, idx)
	want(t, r, http.StatusCreated)
	if r.Header.Get("OCI-Subject") != subject.Digest {
		t.Fatalf("index OCI-Subject %q", r.Header.Get("OCI-Subject"))
	}

	type index struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []struct {
			MediaType    string            `json:"mediaType"`
			Digest       string            `json:"digest"`
			Size         int               `json:"size"`
			ArtifactType string            `json:"artifactType"`
			Annotations  map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	get := func(path string) (index, resp) {
		r := e.do(t, req{Method: "GET", Path: path})
		want(t, r, http.StatusOK)
		if r.Header.Get("Content-Type") != mtOCIIndex {
			t.Fatalf("referrers Content-Type %q", r.Header.Get("Content-Type"))
		}
		var ix index
		if err := json.Unmarshal(r.Body, &ix); err != nil || ix.SchemaVersion != 2 || ix.MediaType != mtOCIIndex || ix.Manifests == nil {
			t.Fatalf("referrers body %s (%v)", r.Body, err)
		}
		return ix, r
	}
	ix, r := get("/v2/refs/app/referrers/" + subject.Digest)
	if len(ix.Manifests) != 3 || r.Header.Get("OCI-Filters-Applied") != "" {
		t.Fatalf("referrers: %+v", ix.Manifests)
	}
	types := map[string]string{}
	for _, m := range ix.Manifests {
		types[m.Annotations["kind"]] = m.ArtifactType
		if m.Size == 0 || m.MediaType == "" {
			t.Fatalf("descriptor %+v", m)
		}
	}
	if types["sbom"] != "application/vnd.example.sbom" || types["sig"] != "application/vnd.oci.image.config.v1+json" || types["bundle"] != "application/vnd.example.bundle" {
		t.Fatalf("artifact types %v", types)
	}
	ix, r = get("/v2/refs/app/referrers/" + subject.Digest + "?artifactType=application/vnd.example.sbom")
	if len(ix.Manifests) != 1 || ix.Manifests[0].Digest != sbom.Digest || r.Header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("filtered referrers: %+v %v", ix.Manifests, r.Header)
	}
	// No referrers, unknown repositories: 200 with an empty index.
	if ix, _ = get("/v2/refs/app/referrers/" + sha256Digest([]byte("nothing"))); len(ix.Manifests) != 0 {
		t.Fatal("referrers of nothing")
	}
	if ix, _ = get("/v2/refs/nowhere/referrers/" + subject.Digest); len(ix.Manifests) != 0 {
		t.Fatal("referrers in an unknown repository")
	}
	want(t, e.do(t, req{Method: "GET", Path: "/v2/refs/app/referrers/sha256:nope"}), http.StatusBadRequest, "DIGEST_INVALID")
	// A referrer of a subject that is never pushed is listed all the same.
	ghost := map[string]any{"mediaType": mtOCIManifest, "digest": sha256Digest([]byte("never pushed")), "size": 12}
	dangling := e.pushImage(t, "refs/app", 0, map[string]any{"subject": ghost, "artifactType": "application/vnd.example.sig"})
	r = e.pushManifest(t, "refs/app", dangling.Digest, mtOCIManifest, dangling.Manifest)
	want(t, r, http.StatusCreated)
	if r.Header.Get("OCI-Subject") != ghost["digest"] {
		t.Fatalf("dangling OCI-Subject %q", r.Header.Get("OCI-Subject"))
	}
	if ix, _ = get("/v2/refs/app/referrers/" + ghost["digest"].(string)); len(ix.Manifests) != 1 || ix.Manifests[0].Digest != dangling.Digest {
		t.Fatalf("referrers of a missing subject: %+v", ix.Manifests)
	}
	// Deleting a referrer removes it from the list.
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/refs/app/manifests/" + sig.Digest}), http.StatusAccepted)
	if ix, _ = get("/v2/refs/app/referrers/" + subject.Digest); len(ix.Manifests) != 2 {
		t.Fatalf("after delete: %+v", ix.Manifests)
	}
}
