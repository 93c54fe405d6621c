package registry_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/testenv"
)

// BenchmarkColdBlobGet reads blobs that were never read before (plain HTTP
// GETs to io.Discard, no digest check on the client: the registry's own
// read path is measured), from Berth with its part cache off and on
// (BlobCacheSize -1 and the default) and from docker-registry, with 1
// reader of a 128 MiB blob and 8 concurrent readers of 8 different 32 MiB
// blobs. Every iteration pushes fresh blobs first, with the timer stopped.
//
//	go test ./registry -run '^$' -bench ColdBlobGet -benchtime 3x
func BenchmarkColdBlobGet(b *testing.B) { benchBlobGet(b, false) }

// BenchmarkWarmBlobGet is BenchmarkColdBlobGet with every blob read once
// (untimed) before the timed read: Berth's part cache (when on) and
// docker-registry's page cache then hold what fits.
//
//	go test ./registry -run '^$' -bench WarmBlobGet -benchtime 3x
func BenchmarkWarmBlobGet(b *testing.B) { benchBlobGet(b, true) }

func benchBlobGet(b *testing.B, warm bool) {
	targets := []struct {
		name string
		t    *benchTarget
	}{
		{"berth-nocache", startBerthTargetWith(b, -1)},
		{"berth-cache", startBerthTargetWith(b, 0)},
		{"docker-registry", startDockerRegistryTarget(b)},
	}
	for _, w := range []struct {
		name    string
		readers int
		size    int
	}{{"1x128MiB", 1, 128 << 20}, {"8x32MiB", 8, 32 << 20}} {
		for _, tg := range targets {
			b.Run(tg.name+"/"+w.name, func(b *testing.B) {
				if tg.t == nil {
					if testenv.Required() {
						b.Fatalf("%s is required (CI=true or BERTH_REQUIRE_DOCKER=1) but not installed", dockerRegistryBin)
					}
					b.Skipf("%s not installed", dockerRegistryBin)
				}
				benchColdGet(b, *tg.t, w.readers, w.size, warm)
			})
		}
	}
}

func benchColdGet(b *testing.B, t benchTarget, readers, size int, warm bool) {
	b.StopTimer()
	var total int64
	var cpu time.Duration
	for range b.N {
		digests := make([]string, readers)
		for r := range readers {
			digests[r] = pushRawBlob(b, t, fmt.Sprintf("bench/cold-%d", readers), size)
		}
		for _, d := range digests {
			if !warm {
				break
			}
			if _, err := getRawBlob(t, fmt.Sprintf("bench/cold-%d", readers), d); err != nil {
				b.Fatal(err)
			}
		}
		c0 := t.cpuTime(b)
		b.StartTimer()
		var wg sync.WaitGroup
		errs := make(chan error, readers)
		for _, d := range digests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := getRawBlob(t, fmt.Sprintf("bench/cold-%d", readers), d)
				if err == nil && n != int64(size) {
					err = fmt.Errorf("read %d bytes of %d", n, size)
				}
				errs <- err
			}()
		}
		wg.Wait()
		b.StopTimer()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		cpu += t.cpuTime(b) - c0
		total += int64(readers * size)
	}
	reportMiBps(b, total, cpu)
}

// basicAuth is the target's credentials, if any.
func (t benchTarget) basicAuth() (string, string, bool) {
	if t.user == "" {
		return "", "", false
	}
	return t.user, t.pass, true
}

var benchHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}

// pushRawBlob pushes size random bytes as one monolithic upload.
func pushRawBlob(b *testing.B, t benchTarget, repo string, size int) string {
	b.Helper()
	buf := make([]byte, size)
	seed := benchSeq.Add(1)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7}).Read(buf)
	sum := sha256.Sum256(buf)
	d := "sha256:" + hex.EncodeToString(sum[:])
	do := func(method, url string, body []byte) *http.Response {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		if u, p, ok := t.basicAuth(); ok {
			req.SetBasicAuth(u, p)
		}
		res, err := benchHTTP.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	res := do("POST", "http://"+t.host+"/v2/"+repo+"/blobs/uploads/", nil)
	if res.StatusCode != http.StatusAccepted {
		b.Fatalf("POST: %d", res.StatusCode)
	}
	loc := res.Header.Get("Location")
	if len(loc) > 0 && loc[0] == '/' {
		loc = "http://" + t.host + loc
	}
	sep := "?"
	if bytes.ContainsRune([]byte(loc), '?') {
		sep = "&"
	}
	if res = do("PUT", loc+sep+"digest="+d, buf); res.StatusCode != http.StatusCreated {
		b.Fatalf("PUT: %d", res.StatusCode)
	}
	return d
}

// getRawBlob reads a blob to io.Discard and returns its length.
func getRawBlob(t benchTarget, repo, d string) (int64, error) {
	req, _ := http.NewRequest("GET", "http://"+t.host+"/v2/"+repo+"/blobs/"+d, nil)
	if u, p, ok := t.basicAuth(); ok {
		req.SetBasicAuth(u, p)
	}
	res, err := benchHTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d", d, res.StatusCode)
	}
	return io.Copy(io.Discard, res.Body)
}
