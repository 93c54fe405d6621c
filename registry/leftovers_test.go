package registry_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// messages counts what the registry's streams hold: upload session
// messages (values and delete markers) in the bucket, part object
// metadata messages (live objects and delete markers) and chunks.
type messages struct{ Sessions, Metas, Chunks uint64 }

func (e *env) messages(t testing.TB) messages {
	t.Helper()
	ctx := context.Background()
	count := func(stream, filter string) uint64 {
		s, err := e.JS.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, c := range info.State.Subjects {
			n += c
		}
		return n
	}
	kv, obs := "KV_"+events.BucketRegistry.Name, "OBJ_"+events.ObjectStoreBlobs.Name
	return messages{
		Sessions: count(kv, "$KV."+events.BucketRegistry.Name+".up.>"),
		Metas:    count(obs, "$O."+events.ObjectStoreBlobs.Name+".M.>"),
		Chunks:   count(obs, "$O."+events.ObjectStoreBlobs.Name+".C.>"),
	}
}

// TestUploads_LeaveNothingBehind counts the messages upload sessions leave
// in the registry's streams: a completed upload leaves its blob's parts
// and nothing of its session; a duplicate upload, a cancelled upload and an
// abandoned one (once expired and collected) leave nothing at all.
func TestUploads_LeaveNothingBehind(t *testing.T) {
	var shift atomic.Int64
	e := newEnv(t, func(c *registryConfig) {
		c.GCGrace = time.Second
		c.UploadTTL = time.Hour
		c.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	})
	check := func(what string, want messages) {
		t.Helper()
		if got := e.messages(t); got != want {
			t.Fatalf("%s: streams hold %+v, want %+v", what, got, want)
		}
	}
	check("empty", messages{})

	// Chunked upload (two PATCHes, three 1 MiB parts), completed.
	blob := randomBytes(t, 5<<19)
	d := sha256Digest(blob)
	r := e.do(t, req{Method: "POST", Path: "/v2/left/app/blobs/uploads/"})
	want(t, r, http.StatusAccepted)
	loc := r.Header.Get("Location")
	r = e.do(t, req{Method: "PATCH", Path: loc, Body: blob[:1<<20], Headers: map[string]string{"Content-Range": fmt.Sprintf("0-%d", 1<<20-1)}})
	want(t, r, http.StatusAccepted)
	r = e.do(t, req{Method: "PATCH", Path: r.Header.Get("Location"), Body: blob[1<<20:]})
	want(t, r, http.StatusAccepted)
	want(t, e.do(t, req{Method: "PUT", Path: withQuery(r.Header.Get("Location"), "digest", d)}), http.StatusCreated)
	// Parts are 1 MiB here, cut per request: 1 MiB, then 1 MiB + 0.5 MiB.
	check("completed upload", messages{Metas: 3, Chunks: 3})
	// An image uses it (a config blob, one more part), so the collector
	// keeps it.
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd := e.pushBlob(t, "left/app", cfg)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`, mtOCIManifest, cd, len(cfg), d, len(blob))
	want(t, e.pushManifest(t, "left/app", "v1", mtOCIManifest, []byte(m)), http.StatusCreated)
	done := messages{Metas: 4, Chunks: 4}
	check("image pushed", done)

	// The same content again, monolithic: the duplicate parts go.
	e.pushBlob(t, "left/app", blob)
	check("duplicate upload", done)

	// A cancelled upload.
	r = e.do(t, req{Method: "POST", Path: "/v2/left/app/blobs/uploads/"})
	loc = r.Header.Get("Location")
	want(t, e.do(t, req{Method: "PATCH", Path: loc, Body: randomBytes(t, 3<<19)}), http.StatusAccepted)
	want(t, e.do(t, req{Method: "DELETE", Path: loc}), http.StatusNoContent)
	check("cancelled upload", done)

	// A mismatched digest cancels the session too.
	r = e.do(t, req{Method: "POST", Path: "/v2/left/app/blobs/uploads/"})
	want(t, e.do(t, req{Method: "PUT", Path: withQuery(r.Header.Get("Location"), "digest", sha256Digest([]byte("other"))), Body: randomBytes(t, 100)}),
		http.StatusBadRequest, "DIGEST_INVALID")
	check("failed upload", done)

	// An abandoned upload: once it has expired, the collector removes it.
	r = e.do(t, req{Method: "POST", Path: "/v2/left/app/blobs/uploads/"})
	want(t, e.do(t, req{Method: "PATCH", Path: r.Header.Get("Location"), Body: randomBytes(t, 3<<19)}), http.StatusAccepted)
	if m := e.messages(t); m.Sessions != 1 || m.Metas != done.Metas+2 {
		t.Fatalf("upload in progress: %+v", m)
	}
	shift.Store(int64(2 * time.Hour))
	st, err := e.Reg.GC(t.Context())
	if err != nil || st.Uploads != 1 || st.Objects != 2 {
		t.Fatalf("GC: %+v %v", st, err)
	}
	check("abandoned upload, collected", done)
	want(t, e.do(t, req{Method: "GET", Path: "/v2/left/app/blobs/" + d}), http.StatusOK)
}

// TestUploads_StoreFailureLeavesNothingBehind: an upload whose parts stop
// fitting the blob stream (its byte limit reached part way) fails, and the
// parts stored before the failure, the one that failed and the one
// already published behind it (storing overlaps with publishing the next
// part) are all removed.
func TestUploads_StoreFailureLeavesNothingBehind(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	s, err := e.JS.Stream(ctx, "OBJ_"+events.ObjectStoreBlobs.Name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxBytes, cfg.Discard = 5<<19, jetstream.DiscardNew // room for 2.5 MiB
	if _, err := e.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	blob := randomBytes(t, 6<<20)
	r := e.do(t, req{Method: "POST", Path: "/v2/full/app/blobs/uploads/?digest=" + sha256Digest(blob), Body: blob})
	if r.StatusCode == http.StatusCreated {
		t.Fatalf("upload past the stream's limit: %s", r)
	}
	if got := e.messages(t); got != (messages{}) {
		t.Fatalf("after the failed upload the streams hold %+v, want nothing", got)
	}
}
