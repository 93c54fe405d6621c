package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
)

// TestGC_RemovesOnlyOldUnreferencedBlobs: a blob nothing links, older than
// the grace period, goes with its parts; a blob just pushed, an upload in
// progress (even with parts older than the grace period) and an image in
// use stay. Idle sessions expire after UploadTTL.
func TestGC_RemovesOnlyOldUnreferencedBlobs(t *testing.T) {
	var shift atomic.Int64 // how far the registry's clock runs ahead
	e := newEnv(t, func(c *registryConfig) {
		c.GCGrace = time.Second
		c.UploadTTL = 24 * time.Hour
		c.TokenTTL = 48 * time.Hour // the clock moves a day ahead
		c.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	})
	ctx := t.Context()

	// An image in use.
	img := e.pushImage(t, "gc/app", 1, nil)
	want(t, e.pushManifest(t, "gc/app", "v1", mtOCIManifest, img.Manifest), http.StatusCreated)
	// A blob pushed, then deleted from its only repository.
	gone := e.pushBlob(t, "gc/app", randomBytes(t, 5<<19)) // 2.5 MiB: three parts
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/gc/app/blobs/" + gone}), http.StatusAccepted)
	// An upload in progress.
	r := e.do(t, req{Method: "POST", Path: "/v2/gc/app/blobs/uploads/"})
	upload := r.Header.Get("Location")
	want(t, e.do(t, req{Method: "PATCH", Path: upload, Body: randomBytes(t, 3<<20)}), http.StatusAccepted)
	// An object nothing refers to (a part of a request that crashed).
	obs, err := e.JS.ObjectStore(ctx, events.ObjectStoreBlobs.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(ctx, "mono.crashed.0", []byte("orphan")); err != nil {
		t.Fatal(err)
	}

	// Young, everything stays.
	st, err := e.Reg.GC(ctx)
	if err != nil || st.Blobs+st.Links+st.Objects+st.Uploads != 0 {
		t.Fatalf("first GC: %+v %v", st, err)
	}
	// Past the grace period the unreferenced blob goes; a blob pushed just
	// now does not.
	var fresh string
	natstest.Eventually(t, 15*time.Second, 200*time.Millisecond, func() error {
		fresh = e.pushBlob(t, "gc/app", randomBytes(t, 100))
		st, err := e.Reg.GC(ctx)
		if err != nil {
			return err
		}
		if s := e.storage(t); slices.Contains(s.Keys, blobKeyOf(gone)) || slices.Contains(s.Objects, "mono.crashed.0") {
			return fmt.Errorf("blob or orphan still there after %+v", st)
		}
		return nil
	})
	s := e.storage(t)
	for _, k := range []string{blobKeyOf(fresh), linkKeyOf("gc/app", fresh), blobKeyOf(img.Layers[0]), linkKeyOf("gc/app", img.Layers[0]), linkKeyOf("gc/app", img.Config)} {
		if !slices.Contains(s.Keys, k) {
			t.Fatalf("GC removed %s", k)
		}
	}
	// Blob parts: the image's config and layer, the fresh blob, and the 3
	// parts of the upload in progress (older than the grace period, but
	// owned by a live session).
	if n := len(s.Objects); n < 6 {
		t.Fatalf("objects %v", s.Objects)
	}
	r = e.do(t, req{Method: "GET", Path: upload})
	want(t, r, http.StatusNoContent)
	if r.Header.Get("Range") != fmt.Sprintf("0-%d", 3<<20-1) {
		t.Fatalf("upload range %q", r.Header.Get("Range"))
	}
	want(t, e.do(t, req{Method: "GET", Path: "/v2/gc/app/manifests/v1"}), http.StatusOK)
	want(t, e.do(t, req{Method: "GET", Path: "/v2/gc/app/blobs/" + img.Layers[0]}), http.StatusOK)

	// A day later the idle session expires with its parts; the unreferenced
	// fresh blob is old by then, the image is still in use.
	shift.Store(int64(25 * time.Hour))
	st, err = e.Reg.GC(ctx)
	if err != nil || st.Uploads != 1 {
		t.Fatalf("GC a day later: %+v %v", st, err)
	}
	want(t, e.do(t, req{Method: "GET", Path: upload}), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	s = e.storage(t)
	if slices.Contains(s.Keys, blobKeyOf(fresh)) || !slices.Contains(s.Keys, blobKeyOf(img.Layers[0])) {
		t.Fatalf("keys a day later: %v", s.Keys)
	}
	if len(s.Objects) != 2 {
		t.Fatalf("objects a day later: %v (want the image's config and layer)", s.Objects)
	}
	want(t, e.do(t, req{Method: "GET", Path: "/v2/gc/app/blobs/" + img.Layers[0]}), http.StatusOK)
	if _, err := e.Reg.GC(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
