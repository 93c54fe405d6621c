package registry_test

import (
	"encoding/hex"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/registry"
)

// liveHeapPeak samples the live heap (allocated objects) until stop is called
// and returns the peak above the heap at the start.
func liveHeapPeak(t testing.TB) (stop func() uint64) {
	t.Helper()
	old := debug.SetGCPercent(10) // collect often: the samples track live data
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		debug.SetGCPercent(old)
		if peak < base {
			return 0
		}
		return peak - base
	}
}

// TestGC_BoundedMemory collects a registry holding 192 MiB of manifest
// records (96 manifests with a 1 MiB annotation, stored twice: in the metadata and the bytes): the collector reads them
// page by page, so its heap stays far below what they add up to.
func TestGC_BoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes 96 MiB of manifests")
	}
	e := newEnv(t, func(c *registryConfig) { c.GCGrace = time.Hour })
	const n = 96
	img := e.pushImage(t, "gcmem/app", 1, nil)
	for range n {
		big := e.pushImage(t, "gcmem/app", 0, map[string]any{"annotations": map[string]string{"pad": hex.EncodeToString(randomBytes(t, 1<<19))}})
		want(t, e.pushManifest(t, "gcmem/app", big.Digest, mtOCIManifest, big.Manifest), http.StatusCreated)
	}
	want(t, e.pushManifest(t, "gcmem/app", "v1", mtOCIManifest, img.Manifest), http.StatusCreated)

	// The heap is the whole test process's (its NATS server included): the
	// lowest peak of three collections (each reads every record again) keeps
	// other goroutines' garbage out of the measure. The peak varies with the
	// server's block caches: the lower of two collections' peaks was 42-99
	// MiB in four runs under -race on 2026-12-07, over the limit once (CI).
	var st registry.GCStats
	peak := uint64(1<<63 - 1)
	for range 3 {
		stop := liveHeapPeak(t)
		var err error
		st, err = e.Reg.GC(t.Context())
		peak = min(peak, stop())
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("GC %+v: heap peak %.1f MiB above the start, over %d MiB of manifest records", st, float64(peak)/(1<<20), 2*n)
	if peak > n<<20 { // half of what the records add up to
		t.Fatalf("GC heap peak %.1f MiB: the collector holds manifests", float64(peak)/(1<<20))
	}
}
