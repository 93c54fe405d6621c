package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/registry"
)

// env is a test registry: NATS, the root key, the real gateway and one or
// more registry replicas on loopback.
type env struct {
	*testenv.Env
	Reg  *registry.Service
	URL  string // http://127.0.0.1:<port> of the first replica
	Host string // 127.0.0.1:<port>

	tokenMu sync.Mutex
	tok     string // the root key's registry password, once fetched
}

// newEnv starts everything; cfg (may be nil) adjusts the registry config.
func newEnv(t testing.TB, cfg func(*registry.Config)) *env {
	t.Helper()
	e := &env{Env: testenv.New(t)}
	e.Reg, e.URL = e.startReplica(t, cfg)
	e.Host = strings.TrimPrefix(e.URL, "http://")
	e.WaitFor(t, events.ServiceRegistry)
	return e
}

// startReplica starts one more registry on the same JetStream.
func (e *env) startReplica(t testing.TB, cfg func(*registry.Config)) (*registry.Service, string) {
	t.Helper()
	// No part cache unless a test asks for one: reads then go through
	// JetStream, the path a replica that did not see the push takes.
	c := registry.Config{Region: testenv.Region, Account: testenv.Account, CreateOnPush: true, PartSize: 1 << 20, BlobCacheSize: -1}
	if cfg != nil {
		cfg(&c)
	}
	reg, err := registry.New(c, e.NC, e.JS)
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.Go(t, "registry", func(ctx context.Context) error { return reg.Serve(ctx, l) })
	select {
	case <-reg.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("registry did not start")
	}
	return reg, "http://" + l.Addr().String()
}

// resp is a finished HTTP exchange.
type resp struct {
	*http.Response
	Body []byte
}

func (r resp) String() string {
	return fmt.Sprintf("%d %s", r.StatusCode, bytes.TrimSpace(r.Body))
}

// errCode is the first OCI error code of the body.
func (r resp) errCode() string {
	var b struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(r.Body, &b)
	if len(b.Errors) == 0 {
		return ""
	}
	return b.Errors[0].Code
}

// req is one request to the distribution API.
type req struct {
	Method  string
	Path    string // path and query, or an absolute URL
	Body    []byte
	Stream  io.Reader // body of unknown length (chunked)
	Headers map[string]string
	NoAuth  bool
	Base    string // another replica's URL
}

// do runs a request with the root key's registry token as Basic
// credentials.
func (e *env) do(t testing.TB, r req) resp {
	t.Helper()
	u := r.Path
	if !strings.HasPrefix(u, "http") {
		base := e.URL
		if r.Base != "" {
			base = r.Base
		}
		u = base + u
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	if r.Stream != nil {
		body = io.NopCloser(r.Stream) // hides the length: chunked encoding
	}
	hr, err := http.NewRequest(r.Method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.Headers {
		hr.Header.Set(k, v)
	}
	if !r.NoAuth && hr.Header.Get("Authorization") == "" {
		hr.SetBasicAuth("AWS", e.token(t))
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", r.Method, u, err)
	}
	return resp{Response: res, Body: b}
}

// want fails unless the response has the status (and, if given, the OCI
// error code).
func want(t testing.TB, r resp, status int, code ...string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: got %s, want %d %v", r.Request.Method, r.Request.URL, r, status, code)
	}
	if len(code) > 0 && r.errCode() != code[0] {
		t.Fatalf("%s %s: got code %q (%s), want %s", r.Request.Method, r.Request.URL, r.errCode(), r, code[0])
	}
}

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func sha512Digest(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512:" + hex.EncodeToString(s[:])
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// pushBlob uploads a blob with POST then PUT and returns its digest.
func (e *env) pushBlob(t testing.TB, repo string, b []byte) string {
	t.Helper()
	d := sha256Digest(b)
	r := e.do(t, req{Method: "POST", Path: "/v2/" + repo + "/blobs/uploads/"})
	want(t, r, http.StatusAccepted)
	r = e.do(t, req{Method: "PUT", Path: withQuery(r.Header.Get("Location"), "digest", d), Body: b,
		Headers: map[string]string{"Content-Type": "application/octet-stream"}})
	want(t, r, http.StatusCreated)
	return d
}

// pushManifest puts a manifest by reference and returns the response.
func (e *env) pushManifest(t testing.TB, repo, ref, mediaType string, body []byte) resp {
	t.Helper()
	return e.do(t, req{Method: "PUT", Path: "/v2/" + repo + "/manifests/" + ref, Body: body,
		Headers: map[string]string{"Content-Type": mediaType}})
}

func withQuery(loc, k, v string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + k + "=" + v
}

// testImage is an OCI image manifest over a config and layers already
// pushed to repo.
type testImage struct {
	Manifest []byte
	Digest   string
	Config   string
	Layers   []string
}

// pushImage pushes a config and n random layers and returns (without
// pushing) an OCI manifest over them.
func (e *env) pushImage(t testing.TB, repo string, n int, extra map[string]any) testImage {
	t.Helper()
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":%q}`, hex.EncodeToString(randomBytes(t, 8))))
	img := testImage{Config: e.pushBlob(t, repo, cfg)}
	var layers []map[string]any
	for range n {
		b := randomBytes(t, 1000)
		d := e.pushBlob(t, repo, b)
		img.Layers = append(img.Layers, d)
		layers = append(layers, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": len(b)})
	}
	if layers == nil {
		layers = []map[string]any{}
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.Config, "size": len(cfg)},
		"layers":        layers,
	}
	for k, v := range extra {
		m[k] = v
	}
	img.Manifest, _ = json.MarshalIndent(m, "", "   ")
	img.Digest = sha256Digest(img.Manifest)
	return img
}

// storage is a snapshot of the registry's JetStream state: every key of the
// registry bucket and every object name.
type storage struct {
	Keys    []string
	Objects []string
}

func (e *env) storage(t testing.TB) storage {
	t.Helper()
	// A KV or object store listing waits for a message with nothing
	// pending after it; a delete racing with the listing (an upload's
	// cleanup) can take that message away, and the listing never ends
	// (nats.go). So each listing is bounded and tried again.
	var last error
	for range 5 {
		s, err := e.storageOnce(t)
		if err == nil {
			return s
		}
		last = err
	}
	t.Fatalf("storage snapshot: %v", last)
	return storage{}
}

func (e *env) storageOnce(t testing.TB) (storage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s storage
	kv, err := e.JS.KeyValue(ctx, events.BucketRegistry.Name)
	if err != nil {
		return s, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return s, err
	}
	for k := range lister.Keys() {
		s.Keys = append(s.Keys, k)
	}
	if ctx.Err() != nil {
		return s, fmt.Errorf("list keys: %w", ctx.Err())
	}
	obs, err := e.JS.ObjectStore(ctx, events.ObjectStoreBlobs.Name)
	if err != nil {
		return s, err
	}
	infos, err := obs.List(ctx)
	if err != nil && err != jetstream.ErrNoObjectsFound {
		return s, err
	}
	for _, i := range infos {
		s.Objects = append(s.Objects, i.Name)
	}
	sort.Strings(s.Keys)
	sort.Strings(s.Objects)
	return s, nil
}

// sameStorage fails when storage differs from before, ignoring upload
// sessions (a failed request may leave its session, as the spec allows).
func (e *env) sameStorage(t testing.TB, before storage, what string) {
	t.Helper()
	after := e.storage(t)
	noSessions := func(keys []string) (out []string) {
		for _, k := range keys {
			if !strings.HasPrefix(k, "up.") {
				out = append(out, k)
			}
		}
		return out
	}
	before.Keys, after.Keys = noSessions(before.Keys), noSessions(after.Keys)
	if strings.Join(after.Keys, ",") != strings.Join(before.Keys, ",") {
		t.Fatalf("%s changed the keys:\nbefore %v\nafter  %v", what, before.Keys, after.Keys)
	}
	if strings.Join(after.Objects, ",") != strings.Join(before.Objects, ",") {
		t.Fatalf("%s changed the objects:\nbefore %v\nafter  %v", what, before.Objects, after.Objects)
	}
}

// digestKey is how the bucket writes a digest in keys.
func digestKey(d string) string { return strings.Replace(d, ":", ".", 1) }

func linkKeyOf(repo, d string) string { return "link." + events.Token(repo) + "." + digestKey(d) }
func blobKeyOf(d string) string       { return "blob." + digestKey(d) }
func tagKeyOf(repo, tag string) string {
	return "tag." + events.Token(repo) + "." + events.Token(tag)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

type registryConfig = registry.Config

// atomicTime is a settable clock.
type atomicTime struct{ v atomic.Int64 }

func (a *atomicTime) Set(t time.Time) { a.v.Store(t.UnixNano()) }
func (a *atomicTime) Get() time.Time  { return time.Unix(0, a.v.Load()) }
