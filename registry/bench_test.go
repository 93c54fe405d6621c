package registry_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/registry"
)

// dockerRegistryBin is Debian's build of distribution (docker-registry 2.8).
const dockerRegistryBin = "/usr/bin/docker-registry"

// BenchmarkRegistryVsDockerRegistry pushes and pulls the same images through
// Berth's registry and docker-registry 2.8 with the same client code
// (go-containerregistry's remote package, as crane does) and reports MiB/s
// of layer data:
//
//   - layer100MiB: one image with a single 100 MiB layer of incompressible
//     random bytes;
//   - layers50: one image with 50 layers of 1 MiB random bytes each (ggcr
//     uploads and downloads 4 at a time).
//
// Every push sends fresh content (generated with the timer stopped), so
// neither registry can skip an upload; pulls read the same image each time,
// fully, and the client verifies every digest as it reads (so a repeated
// pull is served from docker-registry's page cache, and from Berth's cache
// of hot parts). Berth runs
// in-process as in the all-in-one berth (embedded JetStream with file
// storage, in-process connection, default part and chunk sizes) and is
// authenticated (HTTP Basic with a registry token); docker-registry stores in
// the filesystem under a temp dir and runs without auth. The docker-registry
// half is skipped when /usr/bin/docker-registry is missing.
//
// CPU time per MiB (this process, plus docker-registry's) is reported too:
// the machine these run on is shared, and throughput moves with its load
// far more than CPU time does. BERTH_BENCH_BLOB_CACHE sets Berth's
// Config.BlobCacheSize (-1: pulls always read through JetStream).
//
//	go test ./registry -run '^$' -bench RegistryVsDockerRegistry -benchtime 5x -count 3
func BenchmarkRegistryVsDockerRegistry(b *testing.B) {
	targets := []struct {
		name string
		t    *benchTarget
	}{
		{"berth", startBerthTarget(b)},
		{"docker-registry", startDockerRegistryTarget(b)},
	}
	workloads := []struct {
		name   string
		layers int
		size   int
	}{
		{"layer100MiB", 1, 100 << 20},
		{"layers50", 50, 1 << 20},
	}
	// The two registries take turns on every workload, so that both see the
	// same machine (this one is shared, and its speed varies by the minute).
	for _, op := range []string{"push", "pull"} {
		for _, w := range workloads {
			for _, tg := range targets {
				b.Run(tg.name+"/"+op+"/"+w.name, func(b *testing.B) {
					if tg.t == nil {
						if testenv.Required() {
							b.Fatalf("%s (Debian docker-registry) is required (CI=true or BERTH_REQUIRE_DOCKER=1) but not installed", dockerRegistryBin)
						}
						b.Skipf("%s not installed", dockerRegistryBin)
					}
					if op == "push" {
						benchPush(b, *tg.t, w.layers, w.size)
					} else {
						benchPull(b, *tg.t, w.layers, w.size)
					}
				})
			}
		}
	}
	// What one CPU core hashes: every push verifies a SHA-256 over each
	// byte in one stream, so no registry pushes one layer faster than this.
	b.Run("sha256", func(b *testing.B) {
		buf := make([]byte, 1<<20)
		for range b.N {
			h := sha256.New()
			for range 100 {
				h.Write(buf)
			}
		}
		reportMiBps(b, int64(b.N*100*len(buf)))
	})
}

// benchTarget is a running registry and how to reach it.
type benchTarget struct {
	host string // 127.0.0.1:<port>
	opts []remote.Option
	// user and pass are HTTP Basic credentials, when needed.
	user, pass string
	pid        int // the registry's process when it is not this one
}

// cpuTime is the CPU time this process (client, and Berth when in-process)
// and the target's own process have used so far.
func (t benchTarget) cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	d := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if t.pid > 0 {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", t.pid))
		if err != nil {
			b.Fatal(err)
		}
		// Fields 14 and 15 (utime, stime) in clock ticks, after the
		// parenthesised command name.
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		d += time.Duration(ut+st) * 10 * time.Millisecond // CLK_TCK 100
	}
	return d
}

var benchSeq atomic.Uint64

// benchImage builds an image of n random layers of size bytes each and
// computes its digests, so that nothing but the transfer is timed.
func benchImage(b *testing.B, n, size int) v1.Image {
	b.Helper()
	seed := benchSeq.Add(1)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 42})
	layers := make([]v1.Layer, n)
	for i := range layers {
		buf := make([]byte, size)
		_, _ = rng.Read(buf)
		layers[i] = static.NewLayer(buf, types.OCILayer)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		b.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if _, err := img.Digest(); err != nil { // hashes every layer once
		b.Fatal(err)
	}
	for _, l := range layers {
		if _, err := l.Digest(); err != nil {
			b.Fatal(err)
		}
	}
	return img
}

func benchRef(b *testing.B, t benchTarget, repo string) name.Reference {
	b.Helper()
	ref, err := name.ParseReference(t.host+"/"+repo, name.Insecure)
	if err != nil {
		b.Fatal(err)
	}
	return ref
}

// reportMiBps reports the throughput, and the CPU time per MiB when cpu
// (the CPU time of the timed sections) is known: a figure that other load on
// the machine disturbs far less than the throughput.
func reportMiBps(b *testing.B, bytes int64, cpu ...time.Duration) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(bytes)/(1<<20)/s, "MiB/s")
	}
	if len(cpu) > 0 && bytes > 0 {
		b.ReportMetric(float64(cpu[0].Milliseconds())/(float64(bytes)/(1<<20)), "cpu-ms/MiB")
	}
	b.ReportMetric(0, "ns/op")
}

func benchPush(b *testing.B, t benchTarget, n, size int) {
	var total int64
	var cpu time.Duration
	b.StopTimer()
	for i := range b.N {
		img := benchImage(b, n, size)
		ref := benchRef(b, t, fmt.Sprintf("bench/push-%d-%d:v%d", n, size>>20, i))
		c0 := t.cpuTime(b)
		b.StartTimer()
		if err := remote.Write(ref, img, t.opts...); err != nil {
			b.Fatalf("push: %v", err)
		}
		b.StopTimer()
		cpu += t.cpuTime(b) - c0
		total += int64(n * size)
	}
	reportMiBps(b, total, cpu)
}

func benchPull(b *testing.B, t benchTarget, n, size int) {
	b.StopTimer()
	img := benchImage(b, n, size)
	ref := benchRef(b, t, fmt.Sprintf("bench/pull-%d-%d:latest", n, size>>20))
	if err := remote.Write(ref, img, t.opts...); err != nil {
		b.Fatalf("push before pull: %v", err)
	}
	var total int64
	var cpu time.Duration
	for range b.N {
		c0 := t.cpuTime(b)
		b.StartTimer()
		got, err := remote.Image(ref, t.opts...)
		if err != nil {
			b.Fatalf("pull: %v", err)
		}
		layers, err := got.Layers()
		if err != nil {
			b.Fatal(err)
		}
		if len(layers) != n {
			b.Fatalf("pulled %d layers, want %d", len(layers), n)
		}
		total += pullLayers(b, layers, 4)
		b.StopTimer()
		cpu += t.cpuTime(b) - c0
	}
	if want := int64(b.N * n * size); total != want {
		b.Fatalf("pulled %d bytes, want %d", total, want)
	}
	reportMiBps(b, total, cpu)
}

// pullLayers reads every layer (the client verifies each digest), jobs at a
// time as crane does, and returns the bytes read.
func pullLayers(b *testing.B, layers []v1.Layer, jobs int) int64 {
	type res struct {
		n   int64
		err error
	}
	work := make(chan v1.Layer)
	out := make(chan res, len(layers))
	for range jobs {
		go func() {
			for l := range work {
				rc, err := l.Compressed()
				if err != nil {
					out <- res{err: err}
					continue
				}
				n, err := io.Copy(io.Discard, rc)
				if cerr := rc.Close(); err == nil {
					err = cerr
				}
				out <- res{n: n, err: err}
			}
		}()
	}
	go func() {
		for _, l := range layers {
			work <- l
		}
		close(work)
	}()
	var total int64
	for range layers {
		r := <-out
		if r.err != nil {
			b.Fatalf("read layer: %v", r.err)
		}
		total += r.n
	}
	return total
}

// startBerthTarget runs the registry as the all-in-one berth does: an
// embedded JetStream server with file storage, reached over an in-process
// connection, and the root access key's registry token for HTTP Basic
// credentials.
func startBerthTarget(b *testing.B) *benchTarget {
	var cache int64
	if v := os.Getenv("BERTH_BENCH_BLOB_CACHE"); v != "" {
		// e.g. -1: measure without the replica's cache of hot parts.
		var err error
		if cache, err = strconv.ParseInt(v, 10, 64); err != nil {
			b.Fatalf("BERTH_BENCH_BLOB_CACHE=%q: %v", v, err)
		}
	}
	return startBerthTargetWith(b, cache)
}

// startBerthTargetWith starts Berth with Config.BlobCacheSize cache (0: the
// default, -1: none), in a process of its own unless BERTH_BENCH_INPROC is
// set (see benchChildEnv).
func startBerthTargetWith(b *testing.B, cache int64) *benchTarget {
	if os.Getenv("BERTH_BENCH_INPROC") == "" {
		return startBerthProcess(b, cache)
	}
	return startBerthInProcess(b, cache)
}

// startBerthInProcess starts Berth in this process.
func startBerthInProcess(b testing.TB, cache int64) *benchTarget {
	srv := natstest.Start(b)
	nc, err := nats.Connect("", append(natstest.Admin(b), nats.InProcessServer(srv))...)
	if os.Getenv("BERTH_BENCH_NATS_TCP") != "" { // a TCP connection instead
		nc, err = nats.Connect(srv.ClientURL(), natstest.Admin(b)...)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	key, _, err := accesskeys.Bootstrap(ctx, js, 1)
	if err != nil {
		b.Fatal(err)
	}
	cfg := registry.Config{CreateOnPush: true, GCInterval: -1, BlobCacheSize: cache}
	reg, err := registry.New(cfg, nc, js)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- reg.Serve(ctx, l) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("registry: %v", err)
		}
	})
	select {
	case <-reg.Ready():
	case err := <-done:
		b.Fatalf("registry: %v", err)
	}
	pw := tokenOverNATS(b, nc, key)
	auth := authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: pw})
	return &benchTarget{host: l.Addr().String(), opts: []remote.Option{remote.WithAuth(auth)}, user: "AWS", pass: pw}
}

// startDockerRegistryTarget runs docker-registry, or returns nil when it is
// not installed.
func startDockerRegistryTarget(b *testing.B) *benchTarget {
	if _, err := os.Stat(dockerRegistryBin); err != nil {
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := b.TempDir()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(dockerRegistryBin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("docker-registry on %s did not start: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &benchTarget{host: addr, pid: cmd.Process.Pid}
}
