package registry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/registry"
)

// TestBlobGet_EightPullsBoundedHeap pushes a 1 GiB layer (64 MiB under
// the race detector) and has 8 clients pull it at once, each checking the
// digest, with the default configuration (the part cache on, 8 MiB parts):
// the registry's heap in use (live data and garbage not yet collected)
// stays under 256 MiB, sampled every 20 ms. The
// JetStream server runs in a process of its own here (built from the
// nats-server module Berth uses), so that its block cache is not counted
// as the registry's; the live heap (what the collector last marked) is
// logged too.
func TestBlobGet_EightPullsBoundedHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("8 GiB of reads: skipped with -short")
	}
	size := int64(1) << 30
	if raceEnabled {
		size = 64 << 20
	}
	if v, err := strconv.Atoi(os.Getenv("BERTH_PULL_HEAP_MIB")); err == nil && v > 0 {
		size = int64(v) << 20
	}
	const clients = 8
	host, user, pass := startRegistryOnExternalNATS(t)
	do := func(method, url string, body io.Reader) *http.Response {
		t.Helper()
		hr, _ := http.NewRequest(method, url, body)
		hr.SetBasicAuth(user, pass)
		res, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	res := do("POST", "http://"+host+"/v2/heap/layer/blobs/uploads/", nil)
	res.Body.Close()
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{8}), size), h)
	res = do("PATCH", "http://"+host+res.Header.Get("Location"), src)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %d", res.StatusCode)
	}
	d := "sha256:" + hex.EncodeToString(h.Sum(nil))
	res = do("PUT", "http://"+host+withQuery(res.Header.Get("Location"), "digest", d), nil)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d", res.StatusCode)
	}

	// The pulls are measured from a collected heap: what the push left
	// (parts kept by the write-through cache up to its size, then dropped)
	// is not theirs.
	runtime.GC()
	var peak heapPeak
	stop := peak.watchEvery(20 * time.Millisecond)
	live := liveSampler(20 * time.Millisecond)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hr, _ := http.NewRequest("GET", "http://"+host+"/v2/heap/layer/blobs/"+d, nil)
			hr.SetBasicAuth(user, pass)
			res, err := http.DefaultClient.Do(hr)
			if err != nil {
				errs <- err
				return
			}
			defer res.Body.Close()
			h := sha256.New()
			n, err := io.Copy(h, res.Body)
			if err == nil && (n != size || "sha256:"+hex.EncodeToString(h.Sum(nil)) != d) {
				err = fmt.Errorf("pulled %d bytes (status %d), digest %x", n, res.StatusCode, h.Sum(nil))
			}
			errs <- err
		}()
	}
	wg.Wait()
	stop()
	livePeak := live()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	t.Logf("%d clients pulled %d MiB each in %.1fs (%.0f MiB/s in all), peak live heap %d MiB, peak heap in use %d MiB",
		clients, size>>20, el.Seconds(), float64(clients*size>>20)/el.Seconds(), livePeak>>20, peak.max()>>20)
	if peak.max() > 256<<20 {
		t.Fatalf("peak heap in use %d MiB while %d clients pull, want under 256 MiB", peak.max()>>20, clients)
	}
}

// startRegistryOnExternalNATS builds and starts nats-server (the module
// version in go.mod) with JetStream on loopback, and a registry with the
// default configuration connected to it over TCP. It returns the
// registry's host:port and an access key's id and secret.
func startRegistryOnExternalNATS(t *testing.T) (host, user, pass string) {
	t.Helper()
	gobin := testenv.RequireTool(t, "go")
	dir := t.TempDir()
	bin := filepath.Join(dir, "nats-server")
	if out, err := exec.Command(gobin, "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("listen: 127.0.0.1:%s\nmax_payload: 8MB\njetstream { store_dir: %q }\n", port, filepath.Join(dir, "js"))), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var nc *nats.Conn
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		var err error
		nc, err = nats.Connect("nats://"+addr, natstest.Admin(t)...)
		return err
	})
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	key, _, err := accesskeys.Bootstrap(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{CreateOnPush: true, GCInterval: -1}, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- reg.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registry: %v", err)
		}
	})
	select {
	case <-reg.Ready():
	case err := <-done:
		t.Fatalf("registry: %v", err)
	}
	return l.Addr().String(), "AWS", tokenOverNATS(t, nc, key)
}

// liveSampler samples the live heap the collector marked in its last cycle
// (runtime/metrics /gc/heap/live:bytes: what is reachable, not garbage
// waiting for the next cycle) every period; the returned function stops it
// and returns the peak.
func liveSampler(period time.Duration) func() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak
	}
}
