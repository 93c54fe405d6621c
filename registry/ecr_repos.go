package registry

import (
	"context"
	"regexp"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecrapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

const mutabilityEnum = "Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]"

// checkMutability validates imageTagMutability and its exclusion filters.
func checkMutability(m string, fs []ecrapi.ImageTagMutabilityExclusionFilter) ([]mutabilityFilter, error) {
	switch m {
	case mutable, immutable:
		if len(fs) > 0 {
			return nil, invalidParam("imageTagMutabilityExclusionFilters", "Exclusion filters are only allowed with IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION")
		}
		return nil, nil
	case immutableWithExclusion, mutableWithExclusion:
	default:
		return nil, invalidParam("imageTagMutability", mutabilityEnum)
	}
	if len(fs) < 1 || len(fs) > 5 {
		return nil, invalidParam("imageTagMutabilityExclusionFilters", "Member must have length between 1 and 5")
	}
	out := make([]mutabilityFilter, 0, len(fs))
	for _, f := range fs {
		if f.FilterType != "WILDCARD" {
			return nil, invalidParam("imageTagMutabilityExclusionFilters.filterType", "Member must satisfy enum value set: [WILDCARD]")
		}
		if !exclusionRE.MatchString(f.Filter) {
			return nil, invalidParam("imageTagMutabilityExclusionFilters.filter", "Member must satisfy regular expression pattern: ^[0-9a-zA-Z._*-]{1,128}$")
		}
		out = append(out, mutabilityFilter{Type: f.FilterType, Filter: f.Filter})
	}
	return out, nil
}

var exclusionRE = regexp.MustCompile(`^[0-9a-zA-Z._*-]{1,128}$`)

// checkTags validates resource tags (keys 1..128, values up to 256).
func checkTags(tags []ecrapi.Tag) ([]resourceTag, error) {
	out := make([]resourceTag, 0, len(tags))
	for _, t := range tags {
		if len(t.Key) < 1 || len(t.Key) > 128 {
			return nil, apierr.New(events.CodeInvalidTagParameter, "Tag keys must be between 1 and 128 characters long.")
		}
		if len(t.Value) > 256 {
			return nil, apierr.New(events.CodeInvalidTagParameter, "Tag values must be at most 256 characters long.")
		}
		out = append(out, resourceTag{Key: t.Key, Value: t.Value})
	}
	return out, nil
}

// maxResourceTags is ECR's limit of tags per resource.
const maxResourceTags = 50

func mergeTags(cur, add []resourceTag) ([]resourceTag, error) {
	out := append([]resourceTag(nil), cur...)
	for _, t := range add {
		found := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value, found = t.Value, true
			}
		}
		if !found {
			out = append(out, t)
		}
	}
	if len(out) > maxResourceTags {
		return nil, apierr.New(events.CodeTooManyTags, "A repository can have at most %d tags.", maxResourceTags)
	}
	return out, nil
}

func (s *Service) createRepository(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.CreateRepositoryRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkRepoName(in.RepositoryName); err != nil {
		return nil, err
	}
	if err := checkRegistryID(in.RegistryId); err != nil {
		return nil, err
	}
	rec := s.newRepo(in.RepositoryName)
	if in.ImageTagMutability != "" {
		fs, err := checkMutability(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters)
		if err != nil {
			return nil, err
		}
		rec.TagMutability, rec.Exclusions = in.ImageTagMutability, fs
	}
	if c := in.ImageScanningConfiguration; c != nil {
		rec.ScanOnPush = awsjson.Value(c.ScanOnPush)
	}
	if c := in.EncryptionConfiguration; c != nil {
		switch c.EncryptionType {
		case "AES256", "KMS", "KMS_DSSE":
		default:
			return nil, invalidParam("encryptionConfiguration.encryptionType", "Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]")
		}
		if c.EncryptionType == "AES256" && c.KmsKey != "" {
			return nil, invalidParam("encryptionConfiguration.kmsKey", "A KMS key may only be given with KMS encryption")
		}
		rec.Encryption, rec.KMSKey = c.EncryptionType, c.KmsKey
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	if rec.Tags, err = mergeTags(nil, tags); err != nil {
		return nil, err
	}
	if err := s.createRepo(ctx, rec); err != nil {
		return nil, s.ecrError(err, in.RepositoryName)
	}
	r := s.repoWire(rec)
	return ecrapi.CreateRepositoryResponse{Repository: &r}, nil
}

func (s *Service) describeRepositories(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.DescribeRepositoriesRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkRegistryID(in.RegistryId); err != nil {
		return nil, err
	}
	n, err := maxResults(in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	out := ecrapi.DescribeRepositoriesResponse{Repositories: []ecrapi.Repository{}}
	if len(in.RepositoryNames) > 0 {
		if in.NextToken != "" || in.MaxResults != nil {
			return nil, apierr.New(events.CodeInvalidParameter, "Invalid parameter: maxResults and nextToken cannot be used with repositoryNames")
		}
		for _, name := range in.RepositoryNames {
			if err := checkRepoName(name); err != nil {
				return nil, err
			}
			r, _, err := s.getRepo(ctx, name)
			if err != nil {
				return nil, s.ecrError(err, name)
			}
			out.Repositories = append(out.Repositories, s.repoWire(r))
		}
		return out, nil
	}
	repos, err := s.listRepos(ctx)
	if err != nil {
		return nil, err
	}
	repos, next, err := paginate(repos, func(r *repoRecord) string { return r.Name }, in.NextToken, n)
	if err != nil {
		return nil, err
	}
	for _, r := range repos {
		out.Repositories = append(out.Repositories, s.repoWire(r))
	}
	out.NextToken = next
	return out, nil
}

func (s *Service) deleteRepository(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.DeleteRepositoryRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkRepoName(in.RepositoryName); err != nil {
		return nil, err
	}
	r, err := s.deleteRepo(ctx, in.RepositoryName, awsjson.Value(in.Force))
	if err != nil {
		return nil, s.ecrError(err, in.RepositoryName)
	}
	w := s.repoWire(r)
	return ecrapi.DeleteRepositoryResponse{Repository: &w}, nil
}

func (s *Service) putImageTagMutability(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.PutImageTagMutabilityRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkRepoName(in.RepositoryName); err != nil {
		return nil, err
	}
	fs, err := checkMutability(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters)
	if err != nil {
		return nil, err
	}
	r, err := s.updateRepo(ctx, in.RepositoryName, func(r *repoRecord) error {
		r.TagMutability, r.Exclusions = in.ImageTagMutability, fs
		return nil
	})
	if err != nil {
		return nil, s.ecrError(err, in.RepositoryName)
	}
	w := s.repoWire(r)
	return ecrapi.PutImageTagMutabilityResponse{
		RegistryId:                         s.cfg.Account,
		RepositoryName:                     r.Name,
		ImageTagMutability:                 r.TagMutability,
		ImageTagMutabilityExclusionFilters: w.ImageTagMutabilityExclusionFilters,
	}, nil
}

func (s *Service) putImageScanningConfiguration(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.PutImageScanningConfigurationRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkRepoName(in.RepositoryName); err != nil {
		return nil, err
	}
	if in.ImageScanningConfiguration == nil {
		return nil, invalidParam("imageScanningConfiguration", "Member must not be null")
	}
	scan := awsjson.Value(in.ImageScanningConfiguration.ScanOnPush)
	r, err := s.updateRepo(ctx, in.RepositoryName, func(r *repoRecord) error {
		r.ScanOnPush = scan
		return nil
	})
	if err != nil {
		return nil, s.ecrError(err, in.RepositoryName)
	}
	return ecrapi.PutImageScanningConfigurationResponse{
		RegistryId:                 s.cfg.Account,
		RepositoryName:             r.Name,
		ImageScanningConfiguration: &ecrapi.ImageScanningConfiguration{ScanOnPush: awsjson.Bool(r.ScanOnPush)},
	}, nil
}

// repoFromARN validates a resourceArn and returns the repository name.
func (s *Service) repoFromARN(arn string) (string, error) {
	name, ok := s.parseRepositoryARN(arn)
	if !ok || !validRepoName(name) {
		return "", invalidParam("resourceArn", "Invalid ARN")
	}
	return name, nil
}

func (s *Service) tagResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.TagResourceRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	name, err := s.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	add, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	_, err = s.updateRepo(ctx, name, func(r *repoRecord) error {
		tags, err := mergeTags(r.Tags, add)
		r.Tags = tags
		return err
	})
	if err != nil {
		return nil, s.ecrError(err, name)
	}
	return ecrapi.TagResourceResponse{}, nil
}

func (s *Service) untagResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.UntagResourceRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	name, err := s.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	drop := map[string]bool{}
	for _, k := range in.TagKeys {
		drop[k] = true
	}
	_, err = s.updateRepo(ctx, name, func(r *repoRecord) error {
		kept := r.Tags[:0]
		for _, t := range r.Tags {
			if !drop[t.Key] {
				kept = append(kept, t)
			}
		}
		r.Tags = kept
		return nil
	})
	if err != nil {
		return nil, s.ecrError(err, name)
	}
	return ecrapi.UntagResourceResponse{}, nil
}

func (s *Service) listTagsForResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecrapi.ListTagsForResourceRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	name, err := s.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	r, _, err := s.getRepo(ctx, name)
	if err != nil {
		return nil, s.ecrError(err, name)
	}
	out := ecrapi.ListTagsForResourceResponse{Tags: []ecrapi.Tag{}}
	for _, t := range r.Tags {
		out.Tags = append(out.Tags, ecrapi.Tag{Key: t.Key, Value: t.Value})
	}
	return out, nil
}
