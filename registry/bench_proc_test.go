package registry_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The benchmarks run Berth's registry (with its embedded JetStream server)
// in a process of its own by default, as docker-registry runs in its own:
// on a shared machine the scheduler gives CPU per runnable thread, and a
// registry inside the benchmark's process would share that process's
// GOMAXPROCS threads with the client that measures it while
// docker-registry has threads of its own. BERTH_BENCH_INPROC=1 runs it in
// the benchmark's process instead (the layout of the earlier numbers).
const benchChildEnv = "BERTH_BENCH_REGISTRY_CHILD"

// TestBenchRegistryChild is the registry process of the benchmarks: with
// BERTH_BENCH_REGISTRY_CHILD=<cache bytes> set, it starts Berth as
// startBerthTargetWith does, prints its address and credentials, and
// serves until its standard input closes. Without it, it does nothing.
func TestBenchRegistryChild(t *testing.T) {
	v := os.Getenv(benchChildEnv)
	if v == "" {
		t.Skip("the benchmarks' registry process; not a test of its own")
	}
	cache, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	tg := startBerthInProcess(t, cache)
	fmt.Printf("BERTH-REGISTRY %s %s %s\n", tg.host, tg.user, tg.pass)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// startBerthProcess runs TestBenchRegistryChild of this test binary in a
// process of its own and returns its target.
func startBerthProcess(b *testing.B, cache int64) *benchTarget {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestBenchRegistryChild$", "-test.v")
	cmd.Env = append(os.Environ(), benchChildEnv+"="+strconv.FormatInt(cache, 10))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "BERTH-REGISTRY" {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			auth := authn.FromConfig(authn.AuthConfig{Username: f[2], Password: f[3]})
			return &benchTarget{host: f[1], opts: []remote.Option{remote.WithAuth(auth)}, user: f[2], pass: f[3], pid: cmd.Process.Pid}
		}
	}
	b.Fatalf("registry process ended before it was ready: %v", sc.Err())
	return nil
}
