package registry_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestBigBlob_PushPull pushes one layer of BERTH_BIG_BLOB_GIB GiB (default
// 1) the way docker does (one streamed PATCH without a length), pulls it
// back and checks its digest. Neither side ever holds the blob: the test
// generates and hashes it on the fly, and checks the heap stays small.
func TestBigBlob_PushPull(t *testing.T) {
	if testing.Short() {
		t.Skip("big blob: skipped with -short")
	}
	gib := 1
	if v := os.Getenv("BERTH_BIG_BLOB_GIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("BERTH_BIG_BLOB_GIB=%q", v)
		}
		gib = n
	}
	size := int64(gib) << 30
	e := newEnv(t, func(c *registryConfig) { c.PartSize = 0 }) // the default part size

	var peak heapPeak
	stop := peak.watch()
	defer stop()

	// Push: POST, one streamed PATCH, PUT ?digest=.
	r := e.do(t, req{Method: "POST", Path: "/v2/big/layer/blobs/uploads/"})
	want(t, r, http.StatusAccepted)
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1, 2, 3}), size), h)
	start := time.Now()
	r = e.do(t, req{Method: "PATCH", Path: r.Header.Get("Location"), Stream: src})
	want(t, r, http.StatusAccepted)
	if got := r.Header.Get("Range"); got != fmt.Sprintf("0-%d", size-1) {
		t.Fatalf("Range %q", got)
	}
	d := "sha256:" + hex.EncodeToString(h.Sum(nil))
	want(t, e.do(t, req{Method: "PUT", Path: withQuery(r.Header.Get("Location"), "digest", d)}), http.StatusCreated)
	push := time.Since(start)

	// Pull, hashing as it streams.
	start = time.Now()
	hr, _ := http.NewRequest("GET", e.URL+"/v2/big/layer/blobs/"+d, nil)
	hr.SetBasicAuth("AWS", e.token(t))
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.ContentLength != size {
		t.Fatalf("GET: %d, Content-Length %d", res.StatusCode, res.ContentLength)
	}
	h2 := sha256.New()
	n, err := io.Copy(h2, res.Body)
	if err != nil || n != size {
		t.Fatalf("pull: %d bytes, %v", n, err)
	}
	pull := time.Since(start)
	if got := "sha256:" + hex.EncodeToString(h2.Sum(nil)); got != d {
		t.Fatalf("pulled %s, pushed %s", got, d)
	}
	stop()
	mib := float64(size) / (1 << 20)
	t.Logf("%d GiB blob: push %.1fs (%.0f MiB/s), pull %.1fs (%.0f MiB/s), peak heap %d MiB",
		gib, push.Seconds(), mib/push.Seconds(), pull.Seconds(), mib/pull.Seconds(), peak.max()>>20)
	if peak.max() > 768<<20 {
		t.Fatalf("peak heap %d MiB: the blob is being held in memory", peak.max()>>20)
	}
}

// heapPeak samples the heap in use.
type heapPeak struct {
	mu   sync.Mutex
	peak uint64
}

func (p *heapPeak) watch() (stop func()) { return p.watchEvery(100 * time.Millisecond) }

// watchEvery samples every period until stop is called.
func (p *heapPeak) watchEvery(period time.Duration) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			p.mu.Lock()
			p.peak = max(p.peak, ms.HeapInuse)
			p.mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

func (p *heapPeak) max() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}
