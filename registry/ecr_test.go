package registry_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/testenv"
)

// wantAPIError fails unless err is the AWS error code.
func wantAPIError(t testing.TB, err error, code string) *smithy.GenericAPIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	return &smithy.GenericAPIError{Code: ae.ErrorCode(), Message: ae.ErrorMessage()}
}

func TestECR_Repositories(t *testing.T) {
	e := newEnv(t, nil)
	c := e.ECR()
	ctx := t.Context()

	out, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String("team/web"),
		ImageTagMutability:         types.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
		EncryptionConfiguration:    &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms, KmsKey: aws.String("alias/x")},
		Tags:                       []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Repository
	if aws.ToString(r.RepositoryArn) != "arn:aws:ecr:us-east-1:123456789012:repository/team/web" ||
		aws.ToString(r.RegistryId) != testenv.Account || aws.ToString(r.RepositoryUri) != e.Host+"/team/web" ||
		r.ImageTagMutability != types.ImageTagMutabilityImmutable || !r.ImageScanningConfiguration.ScanOnPush ||
		r.EncryptionConfiguration.EncryptionType != types.EncryptionTypeKms || r.CreatedAt == nil {
		t.Fatalf("repository %+v", r)
	}
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/web")})
	ae := wantAPIError(t, err, "RepositoryAlreadyExistsException")
	if ae.Message != "The repository with name 'team/web' already exists in the registry with id '123456789012'" {
		t.Fatalf("message %q", ae.Message)
	}
	for _, bad := range []string{"Team", "x", "a//b", "-a"} {
		_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(bad)})
		wantAPIError(t, err, "InvalidParameterException")
	}
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("okname"), ImageTagMutability: "SOMETIMES"})
	wantAPIError(t, err, "InvalidParameterException")
	for _, n := range []string{"team/api", "aaa", "zzz"} {
		if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}

	// Pagination over everything, sorted by name.
	var names []string
	p := ecr.NewDescribeRepositoriesPaginator(c, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(2)})
	for pages := 0; p.HasMorePages(); pages++ {
		page, err := p.NextPage(ctx)
		if err != nil || pages > 3 || len(page.Repositories) > 2 {
			t.Fatalf("page %d: %v %d", pages, err, len(page.Repositories))
		}
		for _, r := range page.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
	}
	if strings.Join(names, ",") != "aaa,team/api,team/web,zzz" {
		t.Fatalf("repositories %v", names)
	}
	d, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"zzz", "aaa"}})
	if err != nil || len(d.Repositories) != 2 || aws.ToString(d.Repositories[0].RepositoryName) != "zzz" {
		t.Fatalf("by name: %v %+v", err, d)
	}
	_, err = c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"aaa", "missing"}})
	ae = wantAPIError(t, err, "RepositoryNotFoundException")
	if ae.Message != "The repository with name 'missing' does not exist in the registry with id '123456789012'" {
		t.Fatalf("message %q", ae.Message)
	}
	_, err = c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(1001)})
	wantAPIError(t, err, "InvalidParameterException")

	// Settings.
	m, err := c.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("team/web"), ImageTagMutability: types.ImageTagMutabilityMutable})
	if err != nil || m.ImageTagMutability != types.ImageTagMutabilityMutable {
		t.Fatalf("mutability: %v %+v", err, m)
	}
	sc, err := c.PutImageScanningConfiguration(ctx, &ecr.PutImageScanningConfigurationInput{RepositoryName: aws.String("team/web"), ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: false}})
	if err != nil || sc.ImageScanningConfiguration.ScanOnPush {
		t.Fatalf("scanning: %v", err)
	}
	_, err = c.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("nope"), ImageTagMutability: types.ImageTagMutabilityMutable})
	wantAPIError(t, err, "RepositoryNotFoundException")

	// Resource tags.
	arn := r.RepositoryArn
	if _, err := c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("webteam")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &ecr.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(lt.Tags) != 1 || aws.ToString(lt.Tags[0].Value) != "webteam" {
		t.Fatalf("tags: %v %+v", err, lt)
	}
	_, err = c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecr:us-east-1:123456789012:repository/gone")})
	wantAPIError(t, err, "RepositoryNotFoundException")
	_, err = c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: aws.String("not-an-arn"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	wantAPIError(t, err, "InvalidParameterException")

	// Delete: refused while images remain, unless forced.
	img := e.pushImage(t, "team/web", 1, nil)
	want(t, e.pushManifest(t, "team/web", "v1", mtOCIManifest, img.Manifest), http.StatusCreated)
	_, err = c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team/web")})
	wantAPIError(t, err, "RepositoryNotEmptyException")
	if _, err := c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team/web"), Force: true}); err != nil {
		t.Fatal(err)
	}
	want(t, e.do(t, req{Method: "GET", Path: "/v2/team/web/manifests/v1"}), http.StatusNotFound, "NAME_UNKNOWN")
	for _, s := range e.storage(t).Keys {
		if strings.Contains(s, "."+events.Token("team/web")) {
			t.Fatalf("force delete left %s", s)
		}
	}
	_, err = c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team/web")})
	wantAPIError(t, err, "RepositoryNotFoundException")
}

func TestECR_PushToMissingRepository(t *testing.T) {
	e := newEnv(t, func(c *registryConfig) { c.CreateOnPush = false })
	r := e.do(t, req{Method: "POST", Path: "/v2/not/there/blobs/uploads/"})
	want(t, r, http.StatusNotFound, "NAME_UNKNOWN")
	if !strings.Contains(string(r.Body), "The repository with name 'not/there' does not exist in the registry with id '123456789012'") {
		t.Fatalf("message: %s", r.Body)
	}
	if _, err := e.ECR().CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("not/there")}); err != nil {
		t.Fatal(err)
	}
	want(t, e.do(t, req{Method: "POST", Path: "/v2/not/there/blobs/uploads/"}), http.StatusAccepted)
}

func TestECR_Images(t *testing.T) {
	e := newEnv(t, nil)
	c := e.ECR()
	ctx := t.Context()
	repo := aws.String("img/app")
	a := e.pushImage(t, "img/app", 2, nil)
	b := e.pushImage(t, "img/app", 1, nil)
	want(t, e.pushManifest(t, "img/app", "a1", mtOCIManifest, a.Manifest), http.StatusCreated)
	want(t, e.pushManifest(t, "img/app", "a2", mtOCIManifest, a.Manifest), http.StatusCreated)
	want(t, e.pushManifest(t, "img/app", b.Digest, mtOCIManifest, b.Manifest), http.StatusCreated)

	// ListImages: one entry per tag, untagged images once; filters; pages.
	list := func(status types.TagStatus, max int32) []string {
		var ids []string
		p := ecr.NewListImagesPaginator(c, &ecr.ListImagesInput{RepositoryName: repo, MaxResults: aws.Int32(max), Filter: &types.ListImagesFilter{TagStatus: status}})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.ImageIds) > int(max) {
				t.Fatalf("page of %d", len(page.ImageIds))
			}
			for _, id := range page.ImageIds {
				ids = append(ids, aws.ToString(id.ImageDigest)[:14]+"/"+aws.ToString(id.ImageTag))
			}
		}
		sort.Strings(ids)
		return ids
	}
	short := func(d, tag string) string { return d[:14] + "/" + tag }
	if got := list(types.TagStatusAny, 1); strings.Join(got, ",") != strings.Join(sorted(short(a.Digest, "a1"), short(a.Digest, "a2"), short(b.Digest, "")), ",") {
		t.Fatalf("ANY: %v", got)
	}
	if got := list(types.TagStatusTagged, 1000); len(got) != 2 {
		t.Fatalf("TAGGED: %v", got)
	}
	if got := list(types.TagStatusUntagged, 10); strings.Join(got, ",") != short(b.Digest, "") {
		t.Fatalf("UNTAGGED: %v", got)
	}
	_, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: repo, MaxResults: aws.Int32(0)})
	wantAPIError(t, err, "InvalidParameterException")
	_, err = c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("img/none")})
	wantAPIError(t, err, "RepositoryNotFoundException")

	// DescribeImages.
	di, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo, ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("a2")}}})
	if err != nil || len(di.ImageDetails) != 1 {
		t.Fatalf("describe: %v %+v", err, di)
	}
	det := di.ImageDetails[0]
	tags := append([]string(nil), det.ImageTags...)
	sort.Strings(tags)
	var am struct {
		Config struct{ Size int64 }
		Layers []struct{ Size int64 }
	}
	_ = json.Unmarshal(a.Manifest, &am)
	if aws.ToString(det.ImageDigest) != a.Digest || strings.Join(tags, ",") != "a1,a2" ||
		aws.ToInt64(det.ImageSizeInBytes) != am.Config.Size+am.Layers[0].Size+am.Layers[1].Size ||
		aws.ToString(det.ImageManifestMediaType) != mtOCIManifest || aws.ToString(det.ArtifactMediaType) != "application/vnd.oci.image.config.v1+json" ||
		det.ImagePushedAt == nil || time.Since(*det.ImagePushedAt) > time.Minute || aws.ToString(det.RegistryId) != testenv.Account || aws.ToString(det.RepositoryName) != "img/app" {
		t.Fatalf("detail %+v", det)
	}
	_, err = c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo, ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("nope")}}})
	ae := wantAPIError(t, err, "ImageNotFoundException")
	if ae.Message != "The image with imageId {imageDigest:'null', imageTag:'nope'} does not exist within the repository with name 'img/app' in the registry with id '123456789012'" {
		t.Fatalf("message %q", ae.Message)
	}
	all, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo, Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusUntagged}})
	if err != nil || len(all.ImageDetails) != 1 || aws.ToString(all.ImageDetails[0].ImageDigest) != b.Digest || all.ImageDetails[0].ImageTags != nil {
		t.Fatalf("untagged details: %v %+v", err, all)
	}

	// BatchGetImage: the stored bytes; failures for the rest.
	bg, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: repo, ImageIds: []types.ImageIdentifier{
		{ImageTag: aws.String("a1")}, {ImageDigest: aws.String(b.Digest)}, {ImageTag: aws.String("ghost")}, {},
		{ImageTag: aws.String("a1"), ImageDigest: aws.String(b.Digest)},
	}})
	if err != nil || len(bg.Images) != 2 || len(bg.Failures) != 3 {
		t.Fatalf("batch get: %v %+v", err, bg)
	}
	if aws.ToString(bg.Images[0].ImageManifest) != string(a.Manifest) || aws.ToString(bg.Images[0].ImageId.ImageDigest) != a.Digest || aws.ToString(bg.Images[0].ImageManifestMediaType) != mtOCIManifest {
		t.Fatalf("image %+v", bg.Images[0])
	}
	if f := bg.Failures[0]; f.FailureCode != types.ImageFailureCodeImageNotFound || aws.ToString(f.FailureReason) != "Requested image not found" || aws.ToString(f.ImageId.ImageTag) != "ghost" {
		t.Fatalf("failure %+v", f)
	}
	if bg.Failures[1].FailureCode != types.ImageFailureCodeMissingDigestAndTag || bg.Failures[2].FailureCode != types.ImageFailureCodeImageTagDoesNotMatchDigest {
		t.Fatalf("failures %+v", bg.Failures)
	}
	bg, err = c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: repo, ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("a1")}}, AcceptedMediaTypes: []string{mtDocker}})
	if err != nil || len(bg.Failures) != 1 {
		t.Fatalf("unaccepted media type: %v %+v", err, bg)
	}

	// PutImage: retag without moving bytes.
	pi, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(string(b.Manifest)), ImageTag: aws.String("b1")})
	if err != nil || aws.ToString(pi.Image.ImageId.ImageDigest) != b.Digest {
		t.Fatalf("put image: %v %+v", err, pi)
	}
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(string(b.Manifest)), ImageTag: aws.String("b1")})
	wantAPIError(t, err, "ImageAlreadyExistsException")
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(string(b.Manifest)), ImageTag: aws.String("b2"), ImageDigest: aws.String(a.Digest)})
	wantAPIError(t, err, "ImageDigestDoesNotMatchException")
	missing := strings.Replace(string(b.Manifest), b.Layers[0], sha256Digest([]byte("no such layer")), 1)
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(missing), ImageTag: aws.String("b3")})
	wantAPIError(t, err, "LayersNotFoundException")
	noType := strings.Replace(string(b.Manifest), `"mediaType": "application/vnd.oci.image.manifest.v1+json",`, "", 1)
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(noType), ImageTag: aws.String("b4")})
	wantAPIError(t, err, "InvalidParameterException")
	if _, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(noType), ImageTag: aws.String("b4"), ImageManifestMediaType: aws.String(mtOCIManifest)}); err != nil {
		t.Fatalf("manifest without mediaType, type given: %v", err)
	}
	// Moving a tag in an IMMUTABLE repository is refused, by PutImage and
	// by a push.
	if _, err := c.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: repo, ImageTagMutability: types.ImageTagMutabilityImmutable}); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(string(a.Manifest)), ImageTag: aws.String("b1")})
	ae = wantAPIError(t, err, "ImageTagAlreadyExistsException")
	if ae.Message != "The image tag 'b1' already exists in the 'img/app' repository and cannot be overwritten because the repository is immutable." {
		t.Fatalf("message %q", ae.Message)
	}
	r := e.pushManifest(t, "img/app", "b1", mtOCIManifest, a.Manifest)
	want(t, r, http.StatusBadRequest, "TAG_INVALID")
	want(t, e.pushManifest(t, "img/app", "b1", mtOCIManifest, b.Manifest), http.StatusCreated) // same image: fine
	if _, err := c.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: repo, ImageTagMutability: types.ImageTagMutabilityImmutableWithExclusion,
		ImageTagMutabilityExclusionFilters: []types.ImageTagMutabilityExclusionFilter{{FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String("b*")}}}); err != nil {
		t.Fatal(err)
	}
	want(t, e.pushManifest(t, "img/app", "b1", mtOCIManifest, a.Manifest), http.StatusCreated) // excluded: mutable
	want(t, e.pushManifest(t, "img/app", "a1", mtOCIManifest, b.Manifest), http.StatusBadRequest, "TAG_INVALID")

	// Berth scans nothing: see TestECR_ImageScanningUnsupported.
	_, err = c.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: repo, ImageId: &types.ImageIdentifier{ImageTag: aws.String("ghost")}})
	wantAPIError(t, err, "ImageNotFoundException")
	la, err := c.BatchCheckLayerAvailability(ctx, &ecr.BatchCheckLayerAvailabilityInput{RepositoryName: repo, LayerDigests: []string{a.Layers[0], sha256Digest([]byte("x")), "bad"}})
	if err != nil || len(la.Layers) != 1 || len(la.Failures) != 2 || la.Layers[0].LayerAvailability != types.LayerAvailabilityAvailable {
		t.Fatalf("layer availability: %v %+v", err, la)
	}

	// BatchDeleteImage: by tag untags, the last tag takes the image; by
	// digest the image and all its tags; missing ones are failures.
	del := func(ids ...types.ImageIdentifier) *ecr.BatchDeleteImageOutput {
		out, err := c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: repo, ImageIds: ids})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Tags now: a1, a2 and b1 name a; b4 names noType; b is untagged.
	out := del(types.ImageIdentifier{ImageTag: aws.String("a2")})
	if len(out.ImageIds) != 1 || aws.ToString(out.ImageIds[0].ImageDigest) != a.Digest || len(out.Failures) != 0 {
		t.Fatalf("untag: %+v", out)
	}
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/img/app/manifests/" + a.Digest}), http.StatusOK)
	out = del(types.ImageIdentifier{ImageTag: aws.String("b4")}, types.ImageIdentifier{ImageTag: aws.String("ghost")})
	if len(out.ImageIds) != 1 || len(out.Failures) != 1 || out.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound {
		t.Fatalf("last tag: %+v", out)
	}
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/img/app/manifests/" + sha256Digest([]byte(noType))}), http.StatusNotFound) // the last tag took it
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/img/app/manifests/" + b.Digest}), http.StatusOK)                           // untagged, still there
	out = del(types.ImageIdentifier{ImageDigest: aws.String(a.Digest)})
	if len(out.ImageIds) != 2 || aws.ToString(out.ImageIds[0].ImageTag) == "" {
		t.Fatalf("by digest: %+v", out)
	}
	out = del(types.ImageIdentifier{ImageDigest: aws.String(b.Digest)}, types.ImageIdentifier{ImageDigest: aws.String(a.Digest)})
	if len(out.ImageIds) != 1 || out.ImageIds[0].ImageTag != nil || len(out.Failures) != 1 {
		t.Fatalf("untagged by digest: %+v", out)
	}
	left, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: repo})
	if err != nil || len(left.ImageIds) != 0 {
		t.Fatalf("left: %v %+v", err, left)
	}
}

func sorted(s ...string) []string { sort.Strings(s); return s }

func TestECR_ImageActionEvents(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	img := e.pushImage(t, "ev/app", 1, nil)
	want(t, e.pushManifest(t, "ev/app", "v1", mtOCIManifest, img.Manifest), http.StatusCreated)
	want(t, e.do(t, req{Method: "DELETE", Path: "/v2/ev/app/manifests/" + img.Digest}), http.StatusAccepted)

	cons, err := e.JS.OrderedConsumer(ctx, events.StreamEvents.Name, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.SubjECREventsAll}})
	if err != nil {
		t.Fatal(err)
	}
	var got []events.Event
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		batch, err := cons.FetchNoWait(10)
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			if m.Subject() != events.SubjECREvent("ev/app", img.Digest) {
				return errors.New("subject " + m.Subject())
			}
			if m.Headers().Get("Nats-Msg-Id") == "" {
				return errors.New("no Nats-Msg-Id")
			}
			var ev events.Event
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				return err
			}
			got = append(got, ev)
		}
		if len(got) < 2 {
			return errors.New("waiting for 2 events")
		}
		return nil
	})
	var push, del events.ECRImageAction
	_ = json.Unmarshal(got[0].Detail, &push)
	_ = json.Unmarshal(got[1].Detail, &del)
	if got[0].Source != "aws.ecr" || got[0].DetailType != "ECR Image Action" || got[0].Account != testenv.Account || got[0].Version != "0" ||
		push.Result != "SUCCESS" || push.ActionType != "PUSH" || push.RepositoryName != "ev/app" || push.ImageDigest != img.Digest || push.ImageTag != "v1" {
		t.Fatalf("push event %+v %+v", got[0], push)
	}
	if del.ActionType != "DELETE" || del.ImageDigest != img.Digest {
		t.Fatalf("delete event %+v", del)
	}
}

func TestAuth_TokensFromGetAuthorizationToken(t *testing.T) {
	var clock atomicTime
	clock.Set(time.Now())
	e := newEnv(t, func(c *registryConfig) { c.Now = clock.Get })
	out, err := e.ECR().GetAuthorizationToken(t.Context(), &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(out.AuthorizationData) != 1 {
		t.Fatalf("token: %v %+v", err, out)
	}
	ad := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 2 || parts[0] != "AWS" {
		t.Fatalf("token %q: want AWS:<password> without another ':'", raw)
	}
	if aws.ToString(ad.ProxyEndpoint) != "http://"+e.Host || ad.ExpiresAt.Sub(clock.Get()) < 11*time.Hour {
		t.Fatalf("authorization data %+v", ad)
	}
	basic := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString(raw)}
	want(t, e.do(t, req{Method: "GET", Path: "/v2/", Headers: basic}), http.StatusOK)
	want(t, e.do(t, req{Method: "GET", Path: "/v2/_catalog", Headers: basic}), http.StatusOK)
	// A forged signature fails; so does the token of another replica's clock
	// 13 hours later.
	forged := "Basic " + base64.StdEncoding.EncodeToString([]byte(string(raw[:len(raw)-2])+"AA"))
	want(t, e.do(t, req{Method: "GET", Path: "/v2/", Headers: map[string]string{"Authorization": forged}}), http.StatusUnauthorized, "UNAUTHORIZED")
	clock.Set(time.Now().Add(13 * time.Hour))
	r := e.do(t, req{Method: "GET", Path: "/v2/", Headers: basic})
	want(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
	if !strings.Contains(string(r.Body), "expired") || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("expired token: %s %v", r.Body, r.Header)
	}
	clock.Set(time.Now())
	// Deleting the access key revokes its tokens.
	kv, err := e.JS.KeyValue(context.Background(), events.BucketAccessKeys.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(context.Background(), "key."+e.Key.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		if r := e.do(t, req{Method: "GET", Path: "/v2/", Headers: basic}); r.StatusCode != http.StatusUnauthorized {
			return errors.New(r.String())
		}
		return nil
	})
}

// TestECR_EveryRoutedOperationIsAnswered: each operation the gateway routes
// to the registry has an endpoint.
func TestECR_EveryRoutedOperationIsAnswered(t *testing.T) {
	e := newEnv(t, nil)
	for op, svc := range events.ECRRoute.Implemented {
		if svc != events.ServiceRegistry {
			continue
		}
		err := natsutil.Call(t.Context(), e.NC, events.SubjAPI(events.APIECR, op), map[string]any{}, nil)
		if errors.Is(err, natsutil.ErrUnavailable) {
			t.Errorf("%s: no endpoint", op)
		}
		if e, ok := apierr.As(err); ok && e.Code == events.CodeServer {
			t.Errorf("%s with an empty request: server fault", op)
		}
	}
}

func TestECR_RepositoryURIStyles(t *testing.T) {
	e := newEnv(t, func(c *registryConfig) { c.ECRStyleURI = true })
	out, err := e.ECR().CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("style/app")})
	if err != nil {
		t.Fatal(err)
	}
	port := e.Host[strings.LastIndex(e.Host, ":"):]
	if got := aws.ToString(out.Repository.RepositoryUri); got != "123456789012.dkr.ecr.us-east-1.localhost"+port+"/style/app" {
		t.Fatalf("ECR-style URI %q", got)
	}
	e2 := newEnv(t, func(c *registryConfig) { c.PublicHost = "registry.example:5000" })
	out, err = e2.ECR().CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("style/app")})
	if err != nil || aws.ToString(out.Repository.RepositoryUri) != "registry.example:5000/style/app" {
		t.Fatalf("PublicHost URI: %v %+v", err, out)
	}
	tok, err := e2.ECR().GetAuthorizationToken(t.Context(), &ecr.GetAuthorizationTokenInput{})
	if err != nil || aws.ToString(tok.AuthorizationData[0].ProxyEndpoint) != "http://registry.example:5000" {
		t.Fatalf("proxyEndpoint: %v %+v", err, tok)
	}
}
