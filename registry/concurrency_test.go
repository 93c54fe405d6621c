package registry_test

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestConcurrent_PushesSharingLayers pushes many tags of images sharing a
// layer at once, through two replicas: the revision-checked batches retry
// and every push lands.
func TestConcurrent_PushesSharingLayers(t *testing.T) {
	e := newEnv(t, nil)
	_, url2 := e.startReplica(t, nil)
	base := e.pushImage(t, "conc/app", 1, nil)
	const n = 12
	var wg sync.WaitGroup
	results := make([]resp, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := bytes.Replace(base.Manifest, []byte(`"schemaVersion"`), []byte(fmt.Sprintf(`"annotations":{"n":"%d"},"schemaVersion"`, i)), 1)
			b := e.URL
			if i%2 == 1 {
				b = url2
			}
			results[i] = e.do(t, req{Method: "PUT", Base: b, Path: fmt.Sprintf("/v2/conc/app/manifests/t%d", i), Body: m,
				Headers: map[string]string{"Content-Type": mtOCIManifest}})
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("push %d: %s", i, r)
		}
	}
	r := e.do(t, req{Method: "GET", Path: "/v2/conc/app/tags/list"})
	if want := `"t0","t1","t10","t11","t2"`; !bytes.Contains(r.Body, []byte(want)) {
		t.Fatalf("tags %s", r.Body)
	}

	// Two PATCHes racing on one session: one wins, the other gets 416, and
	// the session holds exactly the winner's bytes.
	r = e.do(t, req{Method: "POST", Path: "/v2/conc/app/blobs/uploads/"})
	loc := r.Header.Get("Location")
	chunks := [][]byte{randomBytes(t, 2<<20), randomBytes(t, 2<<20)}
	var rs [2]resp
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs[i] = e.do(t, req{Method: "PATCH", Path: loc, Body: chunks[i], Headers: map[string]string{"Content-Range": fmt.Sprintf("0-%d", 2<<20-1)}})
		}()
	}
	wg.Wait()
	codes := []int{rs[0].StatusCode, rs[1].StatusCode}
	winner := 0
	switch {
	case codes[0] == 202 && codes[1] == 416:
	case codes[0] == 416 && codes[1] == 202:
		winner = 1
	default:
		t.Fatalf("racing PATCHes: %v", codes)
	}
	r = e.do(t, req{Method: "PUT", Path: withQuery(loc, "digest", sha256Digest(chunks[winner]))})
	want(t, r, http.StatusCreated)
	r = e.do(t, req{Method: "GET", Path: "/v2/conc/app/blobs/" + sha256Digest(chunks[winner])})
	if !bytes.Equal(r.Body, chunks[winner]) {
		t.Fatal("session holds the wrong chunk")
	}
}
