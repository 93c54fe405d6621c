package registry

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecrapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/callerauth"
	"github.com/berth-project/berth/internal/natsutil"
)

// registerECR adds every ECR operation the registry answers (the same list
// as events.ECRRoute.Implemented).
func (s *Service) registerECR(api *natsutil.API) error {
	ops := map[string]natsutil.Handler{
		"GetAuthorizationToken":         s.getAuthorizationToken,
		"CreateRepository":              s.createRepository,
		"DescribeRepositories":          s.describeRepositories,
		"DeleteRepository":              s.deleteRepository,
		"PutImageTagMutability":         s.putImageTagMutability,
		"PutImageScanningConfiguration": s.putImageScanningConfiguration,
		"TagResource":                   s.tagResource,
		"UntagResource":                 s.untagResource,
		"ListTagsForResource":           s.listTagsForResource,
		"ListImages":                    s.listImages,
		"DescribeImages":                s.describeImages,
		"BatchGetImage":                 s.batchGetImage,
		"PutImage":                      s.putImage,
		"BatchDeleteImage":              s.batchDeleteImage,
		"BatchCheckLayerAvailability":   s.batchCheckLayerAvailability,
		"StartImageScan":                s.startImageScan,
		"DescribeImageScanFindings":     s.describeImageScanFindings,
	}
	for op, h := range ops {
		if err := api.Handle(op, h); err != nil {
			return fmt.Errorf("registry: %w", err)
		}
	}
	return nil
}

// ecrError is the one place registry errors become ECR errors; repo names
// the repository of the call for the messages that quote it.
func (s *Service) ecrError(err error, repo string) error {
	e, ok := asRegError(err)
	if !ok {
		return err
	}
	acct := s.cfg.Account
	switch e.kind {
	case kindRepoNotFound:
		return apierr.New(events.CodeRepositoryNotFound, "%s", e.msg)
	case kindRepoExists:
		return apierr.New(events.CodeRepositoryAlreadyExists, "The repository with name '%s' already exists in the registry with id '%s'", repo, acct)
	case kindRepoNotEmpty:
		return apierr.New(events.CodeRepositoryNotEmpty, "The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", repo, acct)
	case kindManifestBlobUnknown:
		return apierr.New(events.CodeLayersNotFound, "Layers with digests '%s' required for pushing image into repository with name '%s' in the registry with id '%s' do not exist", quoteList(e.digests), repo, acct)
	case kindManifestChildUnknown:
		return apierr.New(events.CodeReferencedImagesNotFound, "Manifests with digests '%s' referenced by the image index in repository with name '%s' in the registry with id '%s' do not exist", quoteList(e.digests), repo, acct)
	case kindDigestInvalid:
		return apierr.New(events.CodeImageDigestDoesNotMatch, "The specified image digest does not match the digest that Amazon ECR calculated for the image.")
	case kindTagImmutable:
		return apierr.New(events.CodeImageTagAlreadyExists, "%s", e.msg)
	case kindImageAlreadyExists:
		return apierr.New(events.CodeImageAlreadyExists, "%s", e.msg)
	case kindManifestUnknown:
		return apierr.New(events.CodeImageNotFound, "%s", e.msg)
	case kindManifestInvalid, kindTagInvalid, kindTooLarge:
		return apierr.New(events.CodeInvalidParameter, "Invalid parameter at 'ImageManifest' failed to satisfy constraint: '%s'", e.msg)
	}
	return apierr.New(events.CodeInvalidParameter, "%s", e.msg)
}

// invalidParam words a constraint violation as ECR does.
func invalidParam(member, constraint string) error {
	return apierr.New(events.CodeInvalidParameter, "Invalid parameter at '%s' failed to satisfy constraint: '%s'", member, constraint)
}

// checkRepoName validates a repositoryName member.
func checkRepoName(name string) error {
	if !validRepoName(name) {
		return invalidParam("repositoryName", "must satisfy regular expression '"+repoNamePattern+"'")
	}
	return nil
}

var registryIDRE = regexp.MustCompile(`^[0-9]{12}$`)

func checkRegistryID(id string) error {
	if id != "" && !registryIDRE.MatchString(id) {
		return invalidParam("registryId", "must satisfy regular expression '[0-9]{12}'")
	}
	return nil
}

// maxResults validates maxResults (1..1000) and applies the default.
func maxResults(p *int32, def int) (int, error) {
	if p == nil {
		return def, nil
	}
	switch {
	case *p < 1:
		return 0, invalidParam("maxResults", "Member must have value greater than or equal to 1")
	case *p > 1000:
		return 0, invalidParam("maxResults", "Member must have value less than or equal to 1000")
	}
	return int(*p), nil
}

// Pagination tokens are the last item's sort key, base64url encoded.
func encodeToken(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 {
		return "", invalidParam("nextToken", "Invalid pagination token")
	}
	return string(b), nil
}

// paginate cuts items (sorted by key) after the token's key to n items and
// returns the next token.
func paginate[T any](items []T, key func(T) string, token string, n int) ([]T, string, error) {
	after, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	i := 0
	if after != "" {
		for i < len(items) && key(items[i]) <= after {
			i++
		}
	}
	items = items[i:]
	if len(items) > n {
		items = items[:n]
		return items, encodeToken(key(items[n-1])), nil
	}
	return items, "", nil
}

// repoWire converts a repository record to the ECR wire type.
func (s *Service) repoWire(r *repoRecord) ecrapi.Repository {
	out := ecrapi.Repository{
		CreatedAt:                  awsjson.NewTime(r.CreatedAt),
		EncryptionConfiguration:    &ecrapi.EncryptionConfiguration{EncryptionType: r.Encryption, KmsKey: r.KMSKey},
		ImageScanningConfiguration: &ecrapi.ImageScanningConfiguration{ScanOnPush: awsjson.Bool(r.ScanOnPush)},
		ImageTagMutability:         r.TagMutability,
		RegistryId:                 s.cfg.Account,
		RepositoryArn:              s.repositoryARN(r.Name),
		RepositoryName:             r.Name,
		RepositoryUri:              s.repositoryURI(r.Name),
	}
	for _, f := range r.Exclusions {
		out.ImageTagMutabilityExclusionFilters = append(out.ImageTagMutabilityExclusionFilters, ecrapi.ImageTagMutabilityExclusionFilter{FilterType: f.Type, Filter: f.Filter})
	}
	return out
}

// getAuthorizationToken issues a registry password for the access key that
// signed the call: the gateway's caller assertion must prove it, so a NATS
// client that merely sets events.HeaderAccessKey gets nothing.
func (s *Service) getAuthorizationToken(_ context.Context, req *natsutil.Request) (any, error) {
	key, err := callerauth.Verify(s.keys, req.Headers.Get(events.HeaderAccessKey), req.Headers.Get(events.HeaderCaller),
		events.SubjAPI(events.APIECR, req.Operation), req.Data, s.cfg.Now())
	if err != nil {
		s.log.Warn("GetAuthorizationToken refused: caller not proven", "request_id", req.RequestID(), "err", err)
		return nil, apierr.Wrap(err, events.CodeUnrecognizedClient, "The security token included in the request is invalid.")
	}
	var in ecrapi.GetAuthorizationTokenRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	for _, id := range in.RegistryIds {
		if err := checkRegistryID(id); err != nil {
			return nil, err
		}
	}
	exp := s.now().Add(s.cfg.TokenTTL)
	token := base64.StdEncoding.EncodeToString([]byte(tokenUser + ":" + newToken(key, exp)))
	n := max(len(in.RegistryIds), 1)
	out := ecrapi.GetAuthorizationTokenResponse{AuthorizationData: make([]ecrapi.AuthorizationData, 0, n)}
	for range n {
		out.AuthorizationData = append(out.AuthorizationData, ecrapi.AuthorizationData{
			AuthorizationToken: token,
			ExpiresAt:          awsjson.NewTime(exp),
			ProxyEndpoint:      s.scheme() + "://" + s.host(),
		})
	}
	return out, nil
}
