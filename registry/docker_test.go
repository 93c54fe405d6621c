package registry_test

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/testenv"
)

// buildImageTar writes a docker-archive of a three-layer image: Debian's
// static busybox, then two small files. Running it prints both files.
func buildImageTar(t testing.TB, ref string) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		if testenv.Required() {
			t.Fatalf("/bin/busybox (busybox-static) is required for the test image: %v", err)
		}
		t.Skipf("no /bin/busybox: %v", err)
	}
	layer := func(files map[string][]byte, links map[string]string) v1.Layer {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		dirs := map[string]bool{}
		for p := range files {
			for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
				dirs[d] = true
			}
		}
		for p := range links {
			dirs[filepath.Dir(p)] = true
		}
		for d := range dirs {
			_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: time.Unix(0, 0)})
		}
		for p, b := range files {
			_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o755, Size: int64(len(b)), ModTime: time.Unix(0, 0)})
			_, _ = tw.Write(b)
		}
		for p, target := range links {
			_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: p, Linkname: target, ModTime: time.Unix(0, 0)})
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	img, err := mutate.AppendLayers(empty.Image,
		layer(map[string][]byte{"bin/busybox": bb}, map[string]string{"bin/sh": "busybox", "bin/cat": "busybox"}),
		layer(map[string][]byte{"etc/berth/one.txt": []byte("layer two\n")}, nil),
		layer(map[string][]byte{"etc/berth/two.txt": []byte("layer three " + ids.Hex32() + "\n")}, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/bin"}
	cf.Config.Cmd = []string{"/bin/sh", "-c", "cat /etc/berth/one.txt /etc/berth/two.txt"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs a command and fails the test with its output on error.
func run(t testing.TB, env []string, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

var pushDigestRE = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

// TestDocker_LoginPushPullRun logs in with `aws ecr get-login-password |
// docker login --username AWS --password-stdin`, pushes a three-layer image,
// pushes it again to a second repository (cross-repository mount), pulls it
// back by tag and runs it.
func TestDocker_LoginPushPullRun(t *testing.T) {
	docker := testenv.RequireTool(t, "docker")
	testenv.RequireTool(t, "aws")
	if err := exec.Command(docker, "info").Run(); err != nil {
		if testenv.Required() {
			t.Fatalf("docker daemon: %v", err)
		}
		t.Skipf("docker daemon not running: %v", err)
	}
	e := newEnv(t, nil)
	dockerEnv := []string{"DOCKER_CONFIG=" + t.TempDir()}
	pw := strings.TrimSpace(e.AWS(t, "", "ecr", "get-login-password").Stdout)
	if pw == "" {
		t.Fatal("get-login-password printed nothing")
	}
	run(t, dockerEnv, pw, docker, "login", "--username", "AWS", "--password-stdin", e.Host)

	local := "berth-test/docker-" + ids.Hex32()[:8] + ":v1"
	run(t, dockerEnv, "", docker, "load", "-i", buildImageTar(t, local))
	ref := e.Host + "/docker/app:v1"
	ref2 := e.Host + "/docker/copy:v1"
	t.Cleanup(func() { _ = exec.Command(docker, "rmi", "-f", local, ref, ref2).Run() })
	run(t, dockerEnv, "", docker, "tag", local, ref)
	out := run(t, dockerEnv, "", docker, "push", ref)
	m := pushDigestRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("push printed no digest:\n%s", out)
	}
	pushed := m[1]
	// The registry serves that digest for the tag.
	r := e.do(t, req{Method: "HEAD", Path: "/v2/docker/app/manifests/v1", Headers: map[string]string{"Accept": mtDocker}})
	if r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != pushed {
		t.Fatalf("HEAD manifest: %s %v, want %s", r, r.Header, pushed)
	}
	// The same layers to another repository: mounted, not uploaded.
	run(t, dockerEnv, "", docker, "tag", local, ref2)
	if out := run(t, dockerEnv, "", docker, "push", ref2); !strings.Contains(out, "Mounted from docker/app") {
		t.Fatalf("second push did not mount:\n%s", out)
	}

	run(t, dockerEnv, "", docker, "rmi", "-f", local, ref, ref2)
	run(t, dockerEnv, "", docker, "pull", ref)
	got := strings.TrimSpace(run(t, dockerEnv, "", docker, "inspect", "--format", "{{index .RepoDigests 0}}", ref))
	if got != e.Host+"/docker/app@"+pushed {
		t.Fatalf("pulled %s, pushed %s", got, pushed)
	}
	if out := run(t, dockerEnv, "", docker, "run", "--rm", "--network", "none", ref); !strings.HasPrefix(out, "layer two\nlayer three ") {
		t.Fatalf("run printed %q", out)
	}
}

// TestPodman_PushPullRun does the same with podman 4.3 (an OCI manifest by
// default for local images).
func TestPodman_PushPullRun(t *testing.T) {
	podman := testenv.RequireTool(t, "podman")
	testenv.RequireTool(t, "aws")
	e := newEnv(t, nil)
	auth := filepath.Join(t.TempDir(), "auth.json")
	penv := []string{"REGISTRY_AUTH_FILE=" + auth}
	pw := strings.TrimSpace(e.AWS(t, "", "ecr", "get-login-password").Stdout)
	run(t, penv, pw, podman, "login", "--tls-verify=false", "--authfile", auth, "--username", "AWS", "--password-stdin", e.Host)

	local := "localhost/berth-test/podman-" + ids.Hex32()[:8] + ":v1"
	run(t, penv, "", podman, "load", "-i", buildImageTar(t, local))
	ref := e.Host + "/podman/app:v1"
	t.Cleanup(func() { _ = exec.Command(podman, "rmi", "-f", local, ref).Run() })
	run(t, penv, "", podman, "tag", local, ref)
	digestFile := filepath.Join(t.TempDir(), "digest")
	run(t, penv, "", podman, "push", "--tls-verify=false", "--authfile", auth, "--digestfile", digestFile, ref)
	b, err := os.ReadFile(digestFile)
	if err != nil {
		t.Fatal(err)
	}
	pushed := strings.TrimSpace(string(b))
	r := e.do(t, req{Method: "GET", Path: "/v2/podman/app/manifests/v1"})
	if r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != pushed {
		t.Fatalf("GET manifest: %s, want %s", r, pushed)
	}
	run(t, penv, "", podman, "rmi", "-f", local, ref)
	run(t, penv, "", podman, "pull", "--tls-verify=false", "--authfile", auth, ref)
	got := strings.TrimSpace(run(t, penv, "", podman, "inspect", "--format", "{{.Digest}}", ref))
	if got != pushed {
		t.Fatalf("pulled %s, pushed %s", got, pushed)
	}
	out := run(t, penv, "", podman, "run", "--rm", "--runtime", "runc", "--network", "none",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", ref)
	if !strings.HasPrefix(out, "layer two\nlayer three ") {
		t.Fatalf("run printed %q", out)
	}
}
