package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
)

// The registry commits every change with single-key writes, ordered so that
// one write is the commit point; these tests check the guarantees that
// ordering must keep (the collector never takes what a concurrent push or
// mount relies on, leftovers of a cut-off change stay invisible) and that
// the push path uses no multi-key atomic batch (milliseconds each on file
// storage, against microseconds for a single-key write).

// registryKV opens the registry bucket for a test to look at, or to leave
// behind what an interrupted request would.
func (e *env) registryKV(t testing.TB) jetstream.KeyValue {
	t.Helper()
	kv, err := e.JS.KeyValue(context.Background(), events.BucketRegistry.Name)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestPush_WritesOneKeyAtATime(t *testing.T) {
	e := newEnv(t, nil)
	nc := natstest.Connect(t, e.Server)
	var mu sync.Mutex
	var writes, batched []string
	sub, err := nc.Subscribe("$KV."+events.BucketRegistry.Name+".>", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		writes = append(writes, m.Subject)
		if m.Header.Get("Nats-Batch-Id") != "" {
			batched = append(batched, m.Subject)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// A push as crane does it (blobs, then the manifest with a tag), the
	// same layers mounted into another repository, a retag and deletes.
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: e.token(t)}))
	img, err := random.Image(1<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(e.Host+"/single/key:v1", name.Insecure)
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatal(err)
	}
	other, _ := name.ParseReference(e.Host+"/single/other:v1", name.Insecure)
	if err := remote.Write(other, img, auth); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	want(t, e.do(t, req{Method: "POST", Path: "/v2/single/third/blobs/uploads/?mount=" + d.String() + "&from=single/key"}), http.StatusCreated)
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	want(t, e.pushManifest(t, "single/key", "v2", string(mt), raw), http.StatusCreated)
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/single/key/manifests/v2"}), http.StatusAccepted)
	md, _ := img.Digest()
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/single/other/manifests/" + md.String()}), http.StatusAccepted)

	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(writes) < 20 {
		t.Fatalf("saw only %d writes: %v", len(writes), writes)
	}
	if len(batched) > 0 {
		t.Fatalf("%d of %d writes were parts of multi-key batches: %v", len(batched), len(writes), batched)
	}
}

// TestGC_MountFencesTheCollector: a mount rewrites the blob record it links,
// so a collector that found the record unlinked before the mount cannot
// delete it any more; and a mount of a blob the collector already took
// links nothing.
func TestGC_MountFencesTheCollector(t *testing.T) {
	var shift atomic.Int64
	e := newEnv(t, func(c *registryConfig) {
		c.GCGrace = time.Minute
		c.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	})
	ctx := t.Context()
	kv := e.registryKV(t)
	blob := randomBytes(t, 3<<19) // two parts
	d := e.pushBlob(t, "fence/src", blob)
	e.pushBlob(t, "fence/dst", []byte("create the repository"))
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/fence/src/blobs/" + d}), http.StatusAccepted)

	// The collector reads the record while nothing links it...
	decided, err := kv.Get(ctx, blobKeyOf(d))
	if err != nil {
		t.Fatal(err)
	}
	// ...a mount links it...
	want(t, e.do(t, req{Method: "POST", Path: "/v2/fence/dst/blobs/uploads/?mount=" + d}), http.StatusCreated)
	// ...and the delete the collector decided on fails.
	err = kv.Delete(ctx, blobKeyOf(d), jetstream.LastRevision(decided.Revision()))
	if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && (err == nil || !strings.Contains(err.Error(), "wrong last sequence")) {
		t.Fatalf("delete at the revision the collector read: %v, want a revision mismatch", err)
	}
	r := e.do(t, req{Method: "GET", Path: "/v2/fence/dst/blobs/" + d})
	if r.StatusCode != http.StatusOK || string(r.Body) != string(blob) {
		t.Fatalf("mounted blob: %s", r)
	}

	// Unlinked everywhere and old: the collector takes it; a mount after
	// that finds nothing and opens an upload session instead.
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/fence/dst/blobs/" + d}), http.StatusAccepted)
	shift.Store(int64(time.Hour))
	if _, err := e.Reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if s := e.storage(t); slices.Contains(s.Keys, blobKeyOf(d)) {
		t.Fatalf("the unlinked blob survived GC: %v", s.Keys)
	}
	r = e.do(t, req{Method: "POST", Path: "/v2/fence/dst/blobs/uploads/?mount=" + d})
	want(t, r, http.StatusAccepted)
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/fence/dst/blobs/" + d}), http.StatusNotFound)
	if s := e.storage(t); slices.Contains(s.Keys, linkKeyOf("fence/dst", d)) {
		t.Fatalf("a mount of a collected blob left a link: %v", s.Keys)
	}
}

// TestGC_ManifestPushFencesTheCollector: a manifest push rewrites the links
// it depends on before the manifest exists, so a collector that found them
// unused cannot delete them any more.
func TestGC_ManifestPushFencesTheCollector(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	kv := e.registryKV(t)
	img := e.pushImage(t, "fence/man", 2, nil)
	var decided []jetstream.KeyValueEntry // what a collector read before the push
	for _, d := range append([]string{img.Config}, img.Layers...) {
		en, err := kv.Get(ctx, linkKeyOf("fence/man", d))
		if err != nil {
			t.Fatal(err)
		}
		decided = append(decided, en)
	}
	want(t, e.pushManifest(t, "fence/man", "v1", mtOCIManifest, img.Manifest), http.StatusCreated)
	for _, en := range decided {
		if err := kv.Delete(ctx, en.Key(), jetstream.LastRevision(en.Revision())); err == nil {
			t.Fatalf("%s: deleted at the revision read before the manifest was pushed", en.Key())
		}
	}
	want(t, e.do(t, req{Method: "GET", Path: "/v2/fence/man/blobs/" + img.Layers[1]}), http.StatusOK)
}

// TestTags_LeftoversStayInvisible: a tag left behind by a manifest delete
// cut off before its clean-up names nothing, comes back with no later push
// of the same manifest, and is collected.
func TestTags_LeftoversStayInvisible(t *testing.T) {
	var shift atomic.Int64
	e := newEnv(t, func(c *registryConfig) {
		c.GCGrace = time.Minute
		c.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	})
	ctx := t.Context()
	kv := e.registryKV(t)
	img := e.pushImage(t, "left/app", 1, nil)
	want(t, e.pushManifest(t, "left/app", "stale", mtOCIManifest, img.Manifest), http.StatusCreated)
	want(t, e.pushManifest(t, "left/app", "kept", mtOCIManifest, img.Manifest), http.StatusCreated)
	tag, err := kv.Get(ctx, tagKeyOf("left/app", "stale"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/left/app/manifests/" + img.Digest}), http.StatusAccepted)
	// What a delete cut off after its commit point leaves: the tag record.
	if _, err := kv.Put(ctx, tagKeyOf("left/app", "stale"), tag.Value()); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		want(t, e.do(t, req{Method: "GET", Path: "/v2/left/app/manifests/stale"}), http.StatusNotFound, "MANIFEST_UNKNOWN")
		r := e.do(t, req{Method: "GET", Path: "/v2/left/app/tags/list"})
		if strings.Contains(string(r.Body), "stale") {
			t.Fatalf("%s: tags %s", when, r.Body)
		}
	}
	check("after the delete")
	// The same manifest pushed again (by digest): the old tag stays gone.
	want(t, e.pushManifest(t, "left/app", img.Digest, mtOCIManifest, img.Manifest), http.StatusCreated)
	check("after a new push of the same digest")
	want(t, e.pushManifest(t, "left/app", "fresh", mtOCIManifest, img.Manifest), http.StatusCreated)
	want(t, e.do(t, req{Method: "GET", Path: "/v2/left/app/manifests/fresh"}), http.StatusOK)
	// Collected once older than the grace period.
	shift.Store(int64(time.Hour))
	st, err := e.Reg.GC(ctx)
	if err != nil || st.Leftovers < 1 {
		t.Fatalf("GC: %+v %v", st, err)
	}
	if s := e.storage(t); slices.Contains(s.Keys, tagKeyOf("left/app", "stale")) || !slices.Contains(s.Keys, tagKeyOf("left/app", "fresh")) {
		t.Fatalf("keys after GC: %v", s.Keys)
	}
}

// TestReferrers_EntryCountsOnlyWithItsManifest: the referrer entry is
// written before its manifest (the commit point): alone, it lists nothing,
// and it is collected.
func TestReferrers_EntryCountsOnlyWithItsManifest(t *testing.T) {
	var shift atomic.Int64
	e := newEnv(t, func(c *registryConfig) {
		c.GCGrace = time.Minute
		c.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	})
	ctx := t.Context()
	kv := e.registryKV(t)
	subject := sha256Digest([]byte("some subject"))
	referrer := sha256Digest([]byte("a manifest that was never committed"))
	key := "ref." + events.Token("orphan/refs") + "." + digestKey(subject) + "." + digestKey(referrer)
	desc := fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":10,"artifactType":"x/y"}`, mtOCIManifest, referrer)
	if _, err := kv.Put(ctx, key, []byte(desc)); err != nil {
		t.Fatal(err)
	}
	e.pushBlob(t, "orphan/refs", []byte("create the repository"))
	r := e.do(t, req{Method: "GET", Path: "/v2/orphan/refs/referrers/" + subject})
	want(t, r, http.StatusOK)
	if strings.Contains(string(r.Body), referrer) {
		t.Fatalf("referrers list an uncommitted manifest: %s", r.Body)
	}
	shift.Store(int64(time.Hour))
	if _, err := e.Reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("orphan referrer entry after GC: %v", err)
	}
}

// TestBlobGet_ConcurrentReadsStayWithinFlowControl: blob reads are direct
// gets without server-side flow control; many at once must not push the
// connection past the server's max_pending (the server would drop it as a
// slow consumer and reads would break off).
func TestBlobGet_ConcurrentReadsStayWithinFlowControl(t *testing.T) {
	e := newEnv(t, nil)
	blob := randomBytes(t, 6<<20) // six parts
	d := e.pushBlob(t, "flow/app", blob)
	pw := e.token(t)
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hr, _ := http.NewRequest("GET", e.URL+"/v2/flow/app/blobs/"+d, nil)
			hr.SetBasicAuth("AWS", pw)
			res, err := http.DefaultClient.Do(hr)
			if err != nil {
				errs <- err
				return
			}
			defer res.Body.Close()
			// A slow reader: the server side must not run ahead of it.
			buf := make([]byte, 64<<10)
			var got []byte
			for {
				n, err := res.Body.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			if string(got) != string(blob) {
				errs <- fmt.Errorf("read %d of %d bytes, status %d", len(got), len(blob), res.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	vz, err := e.Server.Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if vz.SlowConsumers != 0 {
		t.Fatalf("%d slow consumers", vz.SlowConsumers)
	}
}

// TestBlobGet_PartsOfOlderRecords: a blob record whose parts carry only
// their names (as records did before chunk subjects were listed) is read by
// looking the parts up.
func TestBlobGet_PartsOfOlderRecords(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	kv := e.registryKV(t)
	blob := randomBytes(t, 5<<19)
	d := e.pushBlob(t, "older/app", blob)
	en, err := kv.Get(ctx, blobKeyOf(d))
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(en.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	for _, p := range rec["parts"].([]any) {
		pm := p.(map[string]any)
		for _, k := range []string{"i", "c", "s", "r", "q"} {
			delete(pm, k)
		}
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, blobKeyOf(d), raw, en.Revision()); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, req{Method: "GET", Path: "/v2/older/app/blobs/" + d})
	if r.StatusCode != http.StatusOK || string(r.Body) != string(blob) {
		t.Fatalf("GET: %s", r)
	}
	r = e.do(t, req{Method: "GET", Path: "/v2/older/app/blobs/" + d, Headers: map[string]string{"Range": "bytes=1048570-1048580"}})
	if r.StatusCode != http.StatusPartialContent || string(r.Body) != string(blob[1048570:1048581]) {
		t.Fatalf("range GET: %s", r)
	}
}

// TestBlobGet_HotPartsFromMemory: a blob pushed or read before is served
// from the replica's cache of recently written and read parts, without
// asking JetStream; with the cache off, every read goes to JetStream.
func TestBlobGet_HotPartsFromMemory(t *testing.T) {
	for _, c := range []struct {
		name  string
		cache int64
		asks  bool
	}{{"cache", 0, false}, {"no cache", -1, true}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *registryConfig) { cfg.BlobCacheSize = c.cache })
			blob := randomBytes(t, 5<<19)
			d := e.pushBlob(t, "hot/app", blob)
			nc := natstest.Connect(t, e.Server)
			// A channel subscription: the connection's reader fills it
			// before it sees the PONG of a Flush.
			asks := make(chan *nats.Msg, 1000)
			if _, err := nc.ChanSubscribe("$JS.API.DIRECT.GET.OBJ_"+events.ObjectStoreBlobs.Name, asks); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				r := e.do(t, req{Method: "GET", Path: "/v2/hot/app/blobs/" + d})
				if r.StatusCode != http.StatusOK || string(r.Body) != string(blob) {
					t.Fatalf("read %d: %s", i, r)
				}
				if err := nc.Flush(); err != nil {
					t.Fatal(err)
				}
				asked := len(asks) > 0
				for len(asks) > 0 {
					<-asks
				}
				if asked != c.asks {
					t.Fatalf("read %d asked JetStream: %v", i, asked)
				}
			}
		})
	}
}
