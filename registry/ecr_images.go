package registry

import (
	"context"
	"sort"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecrapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// ECR image failure codes and reasons.
const (
	failNotFound      = "ImageNotFound"
	reasonNotFound    = "Requested image not found"
	failMissingID     = "MissingDigestAndTag"
	failInvalidDigest = "InvalidImageDigest"
	failInvalidTag    = "InvalidImageTag"
	failTagMismatch   = "ImageTagDoesNotMatchDigest"
)

// tagStatus validates a filter's tagStatus ("" means ANY).
func tagStatus(f string) (string, error) {
	switch f {
	case "", "ANY":
		return "ANY", nil
	case "TAGGED", "UNTAGGED":
		return f, nil
	}
	return "", invalidParam("filter.tagStatus", "Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]")
}

// repoImages reads a repository's manifests and tags (tags per digest).
func (s *Service) repoImages(ctx context.Context, repo string) ([]*manifestRecord, map[string][]string, error) {
	if _, _, err := s.getRepo(ctx, repo); err != nil {
		return nil, nil, err
	}
	mans, err := s.listManifests(ctx, repo)
	if err != nil {
		return nil, nil, err
	}
	tags, err := s.listTags(ctx, repo)
	if err != nil {
		return nil, nil, err
	}
	byDigest := map[string][]string{}
	for _, t := range tags {
		byDigest[t.Digest] = append(byDigest[t.Digest], t.Tag)
	}
	return mans, byDigest, nil
}

// imageQuery is what ListImages and DescribeImages read first: the page
// size, the tagStatus filter (ANY when none), and the repository's images
// with their tags by digest.
type imageQuery struct {
	n      int
	status string
	mans   []*manifestRecord
	tags   map[string][]string
}

func (s *Service) imageQuery(ctx context.Context, repo string, max *int32, filterStatus string) (imageQuery, error) {
	var q imageQuery
	if err := checkRepoName(repo); err != nil {
		return q, err
	}
	n, err := maxResults(max, 100)
	if err != nil {
		return q, err
	}
	q.n = n
	if q.status, err = tagStatus(filterStatus); err != nil {
		return q, err
	}
	if q.mans, q.tags, err = s.repoImages(ctx, repo); err != nil {
		return q, s.ecrError(err, repo)
	}
	return q, nil
}

func (s *Service) listImages(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.ListImagesRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	filter := ""
	if in.Filter != nil {
		filter = in.Filter.TagStatus
	}
	q, err := s.imageQuery(ctx, in.RepositoryName, in.MaxResults, filter)
	if err != nil {
		return nil, err
	}
	n, status, mans, tags := q.n, q.status, q.mans, q.tags
	var ids []ecrapi.ImageIdentifier
	for _, m := range mans {
		ts := tags[m.Digest]
		if len(ts) == 0 && status != "TAGGED" {
			ids = append(ids, ecrapi.ImageIdentifier{ImageDigest: m.Digest})
		}
		if status != "UNTAGGED" {
			for _, t := range ts {
				ids = append(ids, ecrapi.ImageIdentifier{ImageDigest: m.Digest, ImageTag: t})
			}
		}
	}
	key := func(id ecrapi.ImageIdentifier) string { return id.ImageDigest + "\x00" + id.ImageTag }
	sort.Slice(ids, func(i, j int) bool { return key(ids[i]) < key(ids[j]) })
	page, next, err := paginate(ids, key, in.NextToken, n)
	if err != nil {
		return nil, err
	}
	return ecrapi.ListImagesResponse{ImageIds: append([]ecrapi.ImageIdentifier{}, page...), NextToken: next}, nil
}

// imageDetail converts a manifest to ECR's ImageDetail.
func (s *Service) imageDetail(repo string, m *manifestRecord, tags []string) ecrapi.ImageDetail {
	d := ecrapi.ImageDetail{
		ImageDigest:            m.Digest,
		ImageManifestMediaType: m.MediaType,
		ImagePushedAt:          awsjson.NewTime(m.PushedAt),
		ImageSizeInBytes:       awsjson.Int64(m.ImageSize),
		ImageTags:              tags,
		RegistryId:             s.cfg.Account,
		RepositoryName:         repo,
		ArtifactMediaType:      m.ConfigMediaType,
		ImageScanStatus:        scanStatus(m),
	}
	if m.ArtifactType != "" {
		d.ArtifactMediaType = m.ArtifactType
	}
	if m.Subject != nil {
		d.SubjectManifestDigest = m.Subject.Digest
	}
	return d
}

// idString formats an image id as ECR's messages do.
func idString(id ecrapi.ImageIdentifier) string {
	d, t := id.ImageDigest, id.ImageTag
	if d == "" {
		d = "null"
	}
	if t == "" {
		t = "null"
	}
	return "{imageDigest:'" + d + "', imageTag:'" + t + "'}"
}

func (s *Service) describeImages(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.DescribeImagesRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	filter := ""
	if in.Filter != nil {
		filter = in.Filter.TagStatus
	}
	q, err := s.imageQuery(ctx, in.RepositoryName, in.MaxResults, filter)
	if err != nil {
		return nil, err
	}
	n, status, mans, tags := q.n, q.status, q.mans, q.tags
	out := ecrapi.DescribeImagesResponse{ImageDetails: []ecrapi.ImageDetail{}}
	if len(in.ImageIds) > 0 {
		seen := map[string]bool{}
		for _, id := range in.ImageIds {
			m, code, _ := s.findImage(ctx, in.RepositoryName, id)
			if code != "" {
				return nil, apierr.New(events.CodeImageNotFound, "The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'", idString(id), in.RepositoryName, s.cfg.Account)
			}
			if !seen[m.Digest] {
				seen[m.Digest] = true
				out.ImageDetails = append(out.ImageDetails, s.imageDetail(in.RepositoryName, m, tags[m.Digest]))
			}
		}
		return out, nil
	}
	var kept []*manifestRecord
	for _, m := range mans {
		tagged := len(tags[m.Digest]) > 0
		if status == "TAGGED" && !tagged || status == "UNTAGGED" && tagged {
			continue
		}
		kept = append(kept, m)
	}
	page, next, err := paginate(kept, func(m *manifestRecord) string { return m.Digest }, in.NextToken, n)
	if err != nil {
		return nil, err
	}
	for _, m := range page {
		out.ImageDetails = append(out.ImageDetails, s.imageDetail(in.RepositoryName, m, tags[m.Digest]))
	}
	out.NextToken = next
	return out, nil
}

// findImage resolves an image id, or returns an ECR failure code and
// reason.
func (s *Service) findImage(ctx context.Context, repo string, id ecrapi.ImageIdentifier) (*manifestRecord, string, string) {
	switch {
	case id.ImageDigest == "" && id.ImageTag == "":
		return nil, failMissingID, "Invalid request parameters: both tag and digest cannot be null"
	case id.ImageDigest != "":
		if _, err := parseDigest(id.ImageDigest); err != nil {
			return nil, failInvalidDigest, "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"
		}
	}
	if id.ImageTag != "" && !validECRTag(id.ImageTag) {
		return nil, failInvalidTag, "Invalid request parameters: image tag should satisfy the regex '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,299}'"
	}
	ref := id.ImageDigest
	if id.ImageTag != "" {
		ref = id.ImageTag
	}
	m, err := s.resolve(ctx, repo, ref)
	if err != nil {
		return nil, failNotFound, reasonNotFound
	}
	if id.ImageTag != "" && id.ImageDigest != "" && m.Digest != id.ImageDigest {
		return nil, failTagMismatch, "Invalid request parameters: image tag does not match image digest"
	}
	return m, "", ""
}

func (s *Service) batchGetImage(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.BatchGetImageRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkRepoName(in.RepositoryName); err != nil {
		return nil, err
	}
	if len(in.ImageIds) < 1 || len(in.ImageIds) > 100 {
		return nil, invalidParam("imageIds", "Member must have length between 1 and 100")
	}
	if _, _, err := s.getRepo(ctx, in.RepositoryName); err != nil {
		return nil, s.ecrError(err, in.RepositoryName)
	}
	out := ecrapi.BatchGetImageResponse{Images: []ecrapi.Image{}, Failures: []ecrapi.ImageFailure{}}
	for _, id := range in.ImageIds {
		m, code, reason := s.findImage(ctx, in.RepositoryName, id)
		if code == "" && len(in.AcceptedMediaTypes) > 0 && !contains(in.AcceptedMediaTypes, m.MediaType) {
			// Berth does not convert between manifest formats: an image in
			// a type the caller does not accept is not found for it.
			code, reason = failNotFound, reasonNotFound
		}
		if code != "" {
			fid := id
			out.Failures = append(out.Failures, ecrapi.ImageFailure{ImageId: &fid, FailureCode: code, FailureReason: reason})
			continue
		}
		iid := ecrapi.ImageIdentifier{ImageDigest: m.Digest, ImageTag: id.ImageTag}
		out.Images = append(out.Images, ecrapi.Image{
			ImageId:                &iid,
			ImageManifest:          string(m.Bytes),
			ImageManifestMediaType: m.MediaType,
			RegistryId:             s.cfg.Account,
			RepositoryName:         in.RepositoryName,
		})
	}
	return out, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Service) putImage(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.PutImageRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkRepoName(in.RepositoryName); err != nil {
		return nil, err
	}
	switch {
	case len(in.ImageManifest) < 1:
		return nil, invalidParam("imageManifest", "Member must have length greater than or equal to 1")
	case len(in.ImageManifest) > s.cfg.MaxManifestSize:
		return nil, invalidParam("imageManifest", "Member must have length less than or equal to 4194304")
	case in.ImageTag != "" && !validECRTag(in.ImageTag):
		return nil, invalidParam("imageTag", "Member must satisfy regular expression pattern: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,299}")
	}
	preq := putRequest{Repo: in.RepositoryName, Body: []byte(in.ImageManifest), Declared: contentType(in.ImageManifestMediaType), ECR: true}
	if in.ImageDigest != "" {
		d, err := parseDigest(in.ImageDigest)
		if err != nil {
			return nil, invalidParam("imageDigest", "Member must satisfy regular expression pattern: [a-zA-Z0-9-_+.]+:[a-fA-F0-9]+")
		}
		preq.Digest = d
	}
	if in.ImageTag != "" {
		preq.Tags = []string{in.ImageTag}
	}
	if _, err := parseManifest(preq.Body, preq.Declared); err != nil {
		// ECR reports a manifest it cannot read, or one without a media
		// type, as invalid JSON.
		return nil, invalidParam("ImageManifest", "Invalid JSON syntax")
	}
	res, err := s.putManifest(ctx, preq)
	if err != nil {
		return nil, s.ecrError(err, in.RepositoryName)
	}
	iid := ecrapi.ImageIdentifier{ImageDigest: res.Digest.String(), ImageTag: in.ImageTag}
	return ecrapi.PutImageResponse{Image: &ecrapi.Image{
		ImageId:                &iid,
		ImageManifest:          in.ImageManifest,
		ImageManifestMediaType: res.Record.MediaType,
		RegistryId:             s.cfg.Account,
		RepositoryName:         in.RepositoryName,
	}}, nil
}

func (s *Service) batchDeleteImage(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.BatchDeleteImageRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkRepoName(in.RepositoryName); err != nil {
		return nil, err
	}
	if len(in.ImageIds) < 1 || len(in.ImageIds) > 100 {
		return nil, invalidParam("imageIds", "Member must have length between 1 and 100")
	}
	repo := in.RepositoryName
	if _, _, err := s.getRepo(ctx, repo); err != nil {
		return nil, s.ecrError(err, repo)
	}
	out := ecrapi.BatchDeleteImageResponse{ImageIds: []ecrapi.ImageIdentifier{}, Failures: []ecrapi.ImageFailure{}}
	fail := func(id ecrapi.ImageIdentifier, code, reason string) {
		out.Failures = append(out.Failures, ecrapi.ImageFailure{ImageId: &id, FailureCode: code, FailureReason: reason})
	}
	for _, id := range in.ImageIds {
		m, code, reason := s.findImage(ctx, repo, id)
		if code != "" {
			fail(id, code, reason)
			continue
		}
		if id.ImageDigest == "" {
			// By tag: untag; the last tag takes the image with it.
			d, _, err := s.untag(ctx, repo, id.ImageTag, true)
			if err != nil {
				if _, ok := asRegError(err); ok {
					fail(id, failNotFound, reasonNotFound)
					continue
				}
				return nil, err
			}
			out.ImageIds = append(out.ImageIds, ecrapi.ImageIdentifier{ImageDigest: d.String(), ImageTag: id.ImageTag})
			continue
		}
		d, _ := parseDigest(m.Digest)
		rec, tags, err := s.deleteManifest(ctx, repo, d)
		if err != nil {
			if _, ok := asRegError(err); ok {
				fail(id, failNotFound, reasonNotFound)
				continue
			}
			return nil, err
		}
		if len(tags) == 0 {
			out.ImageIds = append(out.ImageIds, ecrapi.ImageIdentifier{ImageDigest: rec.Digest})
		}
		for _, t := range tags {
			out.ImageIds = append(out.ImageIds, ecrapi.ImageIdentifier{ImageDigest: rec.Digest, ImageTag: t})
		}
	}
	return out, nil
}

func (s *Service) batchCheckLayerAvailability(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.BatchCheckLayerAvailabilityRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkRepoName(in.RepositoryName); err != nil {
		return nil, err
	}
	if len(in.LayerDigests) < 1 || len(in.LayerDigests) > 100 {
		return nil, invalidParam("layerDigests", "Member must have length between 1 and 100")
	}
	if _, _, err := s.getRepo(ctx, in.RepositoryName); err != nil {
		return nil, s.ecrError(err, in.RepositoryName)
	}
	out := ecrapi.BatchCheckLayerAvailabilityResponse{Layers: []ecrapi.Layer{}, Failures: []ecrapi.LayerFailure{}}
	for _, ld := range in.LayerDigests {
		d, err := parseDigest(ld)
		if err != nil {
			out.Failures = append(out.Failures, ecrapi.LayerFailure{LayerDigest: ld, FailureCode: "InvalidLayerDigest", FailureReason: "Invalid layer digest"})
			continue
		}
		l, err := s.statBlob(ctx, in.RepositoryName, d)
		if err != nil {
			if _, ok := asRegError(err); ok {
				out.Failures = append(out.Failures, ecrapi.LayerFailure{LayerDigest: ld, FailureCode: "MissingLayerDigest", FailureReason: "Could not find the layer"})
				continue
			}
			return nil, err
		}
		out.Layers = append(out.Layers, ecrapi.Layer{LayerDigest: ld, LayerAvailability: "AVAILABLE", LayerSize: awsjson.Int64(l.Size)})
	}
	return out, nil
}

// Berth has no vulnerability scanner, so it never reports a completed scan.
// It answers as ECR does for images its scanner cannot handle: an image
// pushed to a repository with scanOnPush has the status UNSUPPORTED_IMAGE
// (ECR's basic scanning reports an operating system it does not support
// that way), StartImageScan refuses with UnsupportedImageTypeException, and
// an image that was never scanned has no scan (ScanNotFoundException).

// unsupportedScan is the scan status of an image scanned on push.
func unsupportedScan() *ecrapi.ImageScanStatus {
	return &ecrapi.ImageScanStatus{
		Status:      "UNSUPPORTED_IMAGE",
		Description: "UnsupportedImageError: The operating system and/or package manager are not supported.",
	}
}

// scanStatus is the scan status of m, nil when it was never scanned.
func scanStatus(m *manifestRecord) *ecrapi.ImageScanStatus {
	if !m.ScanOnPush {
		return nil
	}
	return unsupportedScan()
}

func (s *Service) scanTarget(ctx context.Context, repo string, id *ecrapi.ImageIdentifier) (*manifestRecord, ecrapi.ImageIdentifier, error) {
	if err := checkRepoName(repo); err != nil {
		return nil, ecrapi.ImageIdentifier{}, err
	}
	if id == nil {
		return nil, ecrapi.ImageIdentifier{}, invalidParam("imageId", "Member must not be null")
	}
	if _, _, err := s.getRepo(ctx, repo); err != nil {
		return nil, ecrapi.ImageIdentifier{}, s.ecrError(err, repo)
	}
	m, code, _ := s.findImage(ctx, repo, *id)
	if code != "" {
		return nil, ecrapi.ImageIdentifier{}, apierr.New(events.CodeImageNotFound, "The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'", idString(*id), repo, s.cfg.Account)
	}
	return m, ecrapi.ImageIdentifier{ImageDigest: m.Digest, ImageTag: id.ImageTag}, nil
}

func (s *Service) startImageScan(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.StartImageScanRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if _, _, err := s.scanTarget(ctx, in.RepositoryName, in.ImageId); err != nil {
		return nil, err
	}
	return nil, apierr.New(events.CodeUnsupportedImageType, "The image is of a type that cannot be scanned.")
}

func (s *Service) describeImageScanFindings(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.DescribeImageScanFindingsRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	m, iid, err := s.scanTarget(ctx, in.RepositoryName, in.ImageId)
	if err != nil {
		return nil, err
	}
	status := scanStatus(m)
	if status == nil {
		return nil, apierr.New(events.CodeScanNotFound, "Image scan does not exist for the image with '%s' in the repository with name '%s' in the registry with id '%s'",
			idString(*in.ImageId), in.RepositoryName, s.cfg.Account)
	}
	return ecrapi.DescribeImageScanFindingsResponse{
		RegistryId:      s.cfg.Account,
		RepositoryName:  in.RepositoryName,
		ImageId:         &iid,
		ImageScanStatus: status,
	}, nil
}
