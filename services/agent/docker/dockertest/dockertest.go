package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/services/agent/docker"
	"github.com/moby/moby/client"
)

// BusyboxRef is the image BusyboxImage builds.
const BusyboxRef = "berth-test/busybox:latest"

// imageLabel marks images built by BusyboxImage.
const imageLabel = "io.berth.test=busybox"

// EnvRequire names the variable that turns "skip without Docker" into a
// failure (as does CI=true).
const EnvRequire = "BERTH_REQUIRE_DOCKER"

// Required reports whether tests must fail, not skip, without Docker:
// BERTH_REQUIRE_DOCKER=1 or CI=true.
func Required() bool {
	return os.Getenv(EnvRequire) == "1" || os.Getenv("CI") == "true"
}

// Commands linked to busybox in the test image.
var busyboxCommands = []string{"sh", "sleep", "httpd", "echo", "true", "false", "wget", "cat", "head", "tr", "kill", "ls", "test", "["}

var (
	runID     string
	runIDOnce sync.Once
)

// RunID is unique to this test process; use it in owner labels and names.
func RunID() string {
	runIDOnce.Do(func() {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		runID = hex.EncodeToString(b)
	})
	return runID
}

// Client connects to the daemon at $DOCKER_HOST (default: the local socket).
// Without one the test is skipped, or fails when BERTH_REQUIRE_DOCKER=1.
func Client(t testing.TB) *docker.Client {
	t.Helper()
	c, err := docker.New(docker.Options{Host: os.Getenv("DOCKER_HOST")})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = c.Ping(ctx)
		cancel()
	}
	if err != nil {
		if Required() {
			t.Fatalf("docker required (%s=1 or CI=true) but unreachable: %v", EnvRequire, err)
		}
		t.Skipf("docker unreachable: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var (
	imageOnce sync.Once
	imageErr  error
)

// BusyboxImage imports BusyboxRef (once per process) from the host's static
// busybox binary, with sh, sleep, httpd, wget… linked to it and /www/index.html
// for httpd. It never pulls.
func BusyboxImage(t testing.TB, c *docker.Client) string {
	t.Helper()
	imageOnce.Do(func() { imageErr = importBusybox(c) })
	if imageErr != nil {
		if Required() {
			t.Fatalf("build %s: %v", BusyboxRef, imageErr)
		}
		t.Skipf("cannot build %s: %v", BusyboxRef, imageErr)
	}
	return BusyboxRef
}

func findBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("busybox"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no busybox binary on this host (install busybox-static)")
}

func importBusybox(c *docker.Client) error {
	path, err := findBusybox()
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: now})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "www", "tmp", "etc", "data"} {
		if err := dir(d); err != nil {
			return err
		}
	}
	if err := file("bin/busybox", 0o755, bin); err != nil {
		return err
	}
	for _, cmd := range busyboxCommands {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + cmd, Linkname: "busybox", Mode: 0o777, ModTime: now}); err != nil {
			return err
		}
	}
	if err := file("www/index.html", 0o644, []byte("hello from berth\n")); err != nil {
		return err
	}
	if err := file("etc/passwd", 0o644, []byte("root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")); err != nil {
		return err
	}
	if err := file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := c.API().ImageImport(ctx, client.ImageImportSource{Source: &buf, SourceName: "-"}, BusyboxRef,
		client.ImageImportOptions{Changes: []string{"ENV PATH=/bin", `CMD ["sh"]`, "LABEL " + imageLabel}})
	if err != nil {
		return fmt.Errorf("docker import: %w", err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("docker import: %w", err)
	}
	if bytes.Contains(out, []byte(`"errorDetail"`)) {
		return fmt.Errorf("docker import: %s", out)
	}
	// The tag moved: drop earlier builds no container uses any more.
	old, err := c.API().ImageList(ctx, client.ImageListOptions{
		Filters: make(client.Filters).Add("dangling", "true").Add("label", imageLabel),
	})
	if err == nil {
		for _, im := range old.Items {
			_ = c.RemoveImage(ctx, im.ID)
		}
	}
	return nil
}

// Cleanup registers removal of every container and task volume labelled
// io.berth.managed=owner when the test ends.
func Cleanup(t testing.TB, c *docker.Client, owner string) {
	t.Helper()
	t.Cleanup(func() { RemoveOwned(t, c, owner) })
}

// RemoveOwned force-removes every container and volume labelled
// io.berth.managed=owner.
func RemoveOwned(t testing.TB, c *docker.Client, owner string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := c.ListContainers(ctx, map[string]string{docker.LabelManaged: owner})
	if err != nil {
		t.Logf("cleanup: list containers: %v", err)
		return
	}
	arns := map[string]bool{}
	for _, s := range list {
		arns[s.Labels[docker.LabelTaskARN]] = true
		if err := c.RemoveContainer(ctx, s.ID); err != nil {
			t.Logf("cleanup: remove %s: %v", s.Name, err)
		}
	}
	for arn := range arns {
		if err := c.RemoveTaskVolumes(ctx, arn); err != nil {
			t.Logf("cleanup: volumes of %s: %v", arn, err)
		}
	}
}

// Eventually polls fn every tick until it returns nil or timeout passes.
func Eventually(t testing.TB, timeout, tick time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(tick)
	}
}

// AWSVPCNetwork makes the pause image and a Docker network for owner's
// awsvpc tasks on a random /24 of 10.200.0.0/13 that no other network
// uses. At cleanup, owner's containers and then the network are removed.
func AWSVPCNetwork(t testing.TB, c *docker.Client, owner string) docker.NetworkInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.EnsurePauseImage(ctx, docker.DefaultPauseImage); err != nil {
		t.Fatal(err)
	}
	name := docker.AWSVPCNetworkName(owner)
	var info docker.NetworkInfo
	var err error
	for range 10 {
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(200 + mrand.IntN(8)), byte(mrand.IntN(256)), 0}), 24)
		if info, err = c.EnsureAWSVPCNetwork(ctx, name, subnet, owner); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("awsvpc network: %v", err)
	}
	t.Cleanup(func() {
		RemoveOwned(t, c, owner)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.RemoveNetwork(ctx, name); err != nil {
			t.Logf("cleanup: network %s: %v", name, err)
		}
	})
	return info
}
