package registry_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/berth-project/berth/internal/testenv"
)

// TestECR_ImageScanningUnsupported checks that Berth, which has no
// vulnerability scanner, never reports a completed scan: an image pushed
// with scanOnPush has the status UNSUPPORTED_IMAGE in DescribeImages and
// DescribeImageScanFindings (no findings), StartImageScan is
// UnsupportedImageTypeException, and an image never scanned has no scan.
func TestECR_ImageScanningUnsupported(t *testing.T) {
	e := newEnv(t, func(c *registryConfig) { c.CreateOnPush = false })
	c := e.ECR()
	ctx := t.Context()
	for name, scan := range map[string]bool{"scan/on": true, "scan/off": false} {
		if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name),
			ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: scan}}); err != nil {
			t.Fatal(err)
		}
	}
	on := e.pushImage(t, "scan/on", 1, nil)
	want(t, e.pushManifest(t, "scan/on", "v1", mtOCIManifest, on.Manifest), http.StatusCreated)
	off := e.pushImage(t, "scan/off", 1, nil)
	want(t, e.pushManifest(t, "scan/off", "v1", mtOCIManifest, off.Manifest), http.StatusCreated)
	v1 := &types.ImageIdentifier{ImageTag: aws.String("v1")}

	// Scanned on push: the scan could not be done, and says so.
	sf, err := c.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("scan/on"), ImageId: v1})
	if err != nil {
		t.Fatal(err)
	}
	if sf.ImageScanStatus == nil || sf.ImageScanStatus.Status != types.ScanStatusUnsupportedImage ||
		aws.ToString(sf.ImageScanStatus.Description) != "UnsupportedImageError: The operating system and/or package manager are not supported." ||
		sf.ImageScanFindings != nil || aws.ToString(sf.ImageId.ImageDigest) != on.Digest {
		t.Fatalf("scan findings: %+v %+v", sf.ImageScanStatus, sf.ImageScanFindings)
	}
	di, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("scan/on")})
	if err != nil || len(di.ImageDetails) != 1 || di.ImageDetails[0].ImageScanStatus == nil ||
		di.ImageDetails[0].ImageScanStatus.Status != types.ScanStatusUnsupportedImage || di.ImageDetails[0].ImageScanFindingsSummary != nil {
		t.Fatalf("describe images: %v %+v", err, di)
	}

	// Never scanned: no scan status, no scan.
	di, err = c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("scan/off")})
	if err != nil || len(di.ImageDetails) != 1 || di.ImageDetails[0].ImageScanStatus != nil {
		t.Fatalf("describe images: %v %+v", err, di)
	}
	_, err = c.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("scan/off"), ImageId: v1})
	ae := wantAPIError(t, err, "ScanNotFoundException")
	if ae.Message != "Image scan does not exist for the image with '{imageDigest:'null', imageTag:'v1'}' in the repository with name 'scan/off' in the registry with id '"+testenv.Account+"'" {
		t.Fatalf("message %q", ae.Message)
	}

	// A manual scan is refused for every image, and changes nothing.
	for _, repo := range []string{"scan/on", "scan/off"} {
		_, err = c.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String(repo), ImageId: v1})
		if ae := wantAPIError(t, err, "UnsupportedImageTypeException"); ae.Message != "The image is of a type that cannot be scanned." {
			t.Fatalf("message %q", ae.Message)
		}
	}
	_, err = c.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("scan/off"), ImageId: v1})
	wantAPIError(t, err, "ScanNotFoundException")
	// Missing images and repositories come first.
	_, err = c.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("scan/on"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("ghost")}})
	wantAPIError(t, err, "ImageNotFoundException")
	_, err = c.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("scan/none"), ImageId: v1})
	wantAPIError(t, err, "RepositoryNotFoundException")
}

// TestCLI_ImageScanningUnsupported checks the same with the aws CLI.
func TestCLI_ImageScanningUnsupported(t *testing.T) {
	testenv.RequireTool(t, "aws")
	e := newEnv(t, func(c *registryConfig) { c.CreateOnPush = false })
	dir := t.TempDir()
	if r := e.AWS(t, dir, "ecr", "create-repository", "--repository-name", "cli/scan", "--image-scanning-configuration", "scanOnPush=true"); r.Exit != 0 {
		t.Fatalf("create-repository: %d %s", r.Exit, r.Stderr)
	}
	img := e.pushImage(t, "cli/scan", 1, nil)
	want(t, e.pushManifest(t, "cli/scan", "latest", mtOCIManifest, img.Manifest), http.StatusCreated)
	r := e.AWS(t, dir, "ecr", "describe-image-scan-findings", "--repository-name", "cli/scan", "--image-id", "imageTag=latest")
	if r.Exit != 0 {
		t.Fatalf("describe-image-scan-findings: %d %s", r.Exit, r.Stderr)
	}
	var out struct {
		ImageScanStatus   struct{ Status, Description string } `json:"imageScanStatus"`
		ImageScanFindings *json.RawMessage                     `json:"imageScanFindings"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	if out.ImageScanStatus.Status != "UNSUPPORTED_IMAGE" || out.ImageScanFindings != nil {
		t.Fatalf("describe-image-scan-findings: %s", r.Stdout)
	}
	r = e.AWS(t, dir, "ecr", "start-image-scan", "--repository-name", "cli/scan", "--image-id", "imageTag=latest")
	if r.Exit != 254 || !strings.Contains(r.Stderr, "UnsupportedImageTypeException") {
		t.Fatalf("start-image-scan: %d %s", r.Exit, r.Stderr)
	}
}
