package registry_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/testenv"
)

// TestCLI_RetagFlow runs the retag recipe of the ECR user guide with the
// Debian aws CLI v2 against the gateway, then the documented cleanup.
func TestCLI_RetagFlow(t *testing.T) {
	testenv.RequireTool(t, "aws")
	e := newEnv(t, func(c *registryConfig) { c.CreateOnPush = false })
	dir := t.TempDir()
	aws := func(args ...string) testenv.CLIResult {
		t.Helper()
		return e.AWS(t, dir, args...)
	}
	ok := func(args ...string) string {
		t.Helper()
		r := aws(args...)
		if r.Exit != 0 {
			t.Fatalf("aws %v: exit %d: %s", args, r.Exit, r.Stderr)
		}
		return r.Stdout
	}
	ok("ecr", "create-repository", "--repository-name", "cli/app")
	img := e.pushImage(t, "cli/app", 2, nil)
	want(t, e.pushManifest(t, "cli/app", "latest", mtOCIManifest, img.Manifest), http.StatusCreated)

	// MANIFEST=$(aws ecr batch-get-image ... --query 'images[].imageManifest' --output text)
	manifest := strings.TrimRight(ok("ecr", "batch-get-image", "--repository-name", "cli/app", "--image-ids", "imageTag=latest",
		"--query", "images[].imageManifest", "--output", "text"), "\n")
	if manifest != string(img.Manifest) {
		t.Fatalf("batch-get-image text output differs from the pushed manifest:\n%q\n%q", manifest, img.Manifest)
	}
	// aws ecr put-image --image-tag v1 --image-manifest "$MANIFEST"
	var put struct {
		Image struct {
			ImageID struct {
				ImageDigest, ImageTag string
			} `json:"imageId"`
		} `json:"image"`
	}
	if err := json.Unmarshal([]byte(ok("ecr", "put-image", "--repository-name", "cli/app", "--image-tag", "v1", "--image-manifest", manifest)), &put); err != nil {
		t.Fatal(err)
	}
	if put.Image.ImageID.ImageDigest != img.Digest || put.Image.ImageID.ImageTag != "v1" {
		t.Fatalf("put-image: %+v", put)
	}
	// Retagging again is ImageAlreadyExistsException (exit 254).
	r := aws("ecr", "put-image", "--repository-name", "cli/app", "--image-tag", "v1", "--image-manifest", manifest)
	if r.Exit != 254 || !strings.Contains(r.Stderr, "ImageAlreadyExistsException") {
		t.Fatalf("second put-image: %d %s", r.Exit, r.Stderr)
	}

	type ids struct {
		ImageIds []struct{ ImageDigest, ImageTag string } `json:"imageIds"`
		Failures []struct {
			ImageID       struct{ ImageDigest, ImageTag string } `json:"imageId"`
			FailureCode   string                                 `json:"failureCode"`
			FailureReason string                                 `json:"failureReason"`
		} `json:"failures"`
	}
	var l ids
	if err := json.Unmarshal([]byte(ok("ecr", "list-images", "--repository-name", "cli/app")), &l); err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, id := range l.ImageIds {
		if id.ImageDigest != img.Digest {
			t.Fatalf("list-images: %+v", l)
		}
		tags = append(tags, id.ImageTag)
	}
	sort.Strings(tags)
	if strings.Join(tags, ",") != "latest,v1" {
		t.Fatalf("list-images tags %v", tags)
	}

	// batch-delete-image by tag untags; a missing tag is a failure, not an error.
	var d ids
	if err := json.Unmarshal([]byte(ok("ecr", "batch-delete-image", "--repository-name", "cli/app", "--image-ids", "imageTag=latest", "imageTag=nope")), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.ImageIds) != 1 || d.ImageIds[0].ImageTag != "latest" || d.ImageIds[0].ImageDigest != img.Digest ||
		len(d.Failures) != 1 || d.Failures[0].FailureCode != "ImageNotFound" || d.Failures[0].FailureReason != "Requested image not found" || d.Failures[0].ImageID.ImageTag != "nope" {
		t.Fatalf("batch-delete-image: %+v", d)
	}
	want(t, e.do(t, req{Method: "GET", Path: "/v2/cli/app/manifests/v1"}), http.StatusOK)
	// Removing the last tag removes the image.
	if err := json.Unmarshal([]byte(ok("ecr", "batch-delete-image", "--repository-name", "cli/app", "--image-ids", "imageTag=v1")), &d); err != nil {
		t.Fatal(err)
	}
	want(t, e.do(t, req{Method: "GET", Path: "/v2/cli/app/manifests/" + img.Digest}), http.StatusNotFound, "MANIFEST_UNKNOWN")

	// get-login-password prints a password the registry takes with user AWS.
	pw := strings.TrimSpace(ok("ecr", "get-login-password"))
	want(t, e.do(t, req{Method: "GET", Path: "/v2/", Headers: map[string]string{"Authorization": "Basic " + b64("AWS:"+pw)}}), http.StatusOK)

	// describe-repositories shows the URI docker tags images with.
	out := ok("ecr", "describe-repositories", "--repository-names", "cli/app", "--query", "repositories[0].repositoryUri", "--output", "text")
	if strings.TrimSpace(out) != e.Host+"/cli/app" {
		t.Fatalf("repositoryUri %q", out)
	}
	r = aws("ecr", "describe-repositories", "--repository-names", "nope")
	if r.Exit != 254 || !strings.Contains(r.Stderr, "RepositoryNotFoundException") {
		t.Fatalf("missing repository: %d %s", r.Exit, r.Stderr)
	}
}
