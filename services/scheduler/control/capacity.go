package control

import (
	"context"
	"slices"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
)

// Capacity providers: Berth has only AWS's reserved FARGATE and
// FARGATE_SPOT, which every account has (Berth agents offering Fargate
// capacity serve both). Auto Scaling group providers
// (CreateCapacityProvider) are not implemented.

const msgCapProvidersRequired = "capacityProviders can not be null." // (unverified)

// putClusterCapacityProviders replaces a cluster's capacity providers and
// default strategy (both required, either may be empty).
func (s *Service) putClusterCapacityProviders(ctx context.Context, in *ecsapi.PutClusterCapacityProvidersRequest) (any, error) {
	name, err := s.requiredClusterRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.CapacityProviders == nil {
		return nil, invalid(msgCapProvidersRequired)
	}
	if err := checkCapacity(in.CapacityProviders, in.DefaultCapacityProviderStrategy); err != nil {
		return nil, err
	}
	c, err := s.updateActive(ctx, name, func(next *events.ClusterRecord) {
		next.CapacityProviders = slices.Clone(in.CapacityProviders)
		next.DefaultCapacityProviderStrategy = recordStrategy(in.DefaultCapacityProviderStrategy)
	})
	if err != nil {
		return nil, err
	}
	out, err := s.render(ctx, c, mutationView)
	if err != nil {
		return nil, err
	}
	return &ecsapi.PutClusterCapacityProvidersResponse{Cluster: out}, nil
}

// describeCapacityProviders describes FARGATE and FARGATE_SPOT (all of
// them when none is named); other names are MISSING failures.
func (s *Service) describeCapacityProviders(_ context.Context, in *ecsapi.DescribeCapacityProvidersRequest) (any, error) {
	names := in.CapacityProviders
	if len(names) == 0 {
		names = []string{"FARGATE", "FARGATE_SPOT"}
	}
	out := &ecsapi.DescribeCapacityProvidersResponse{CapacityProviders: []ecsapi.CapacityProvider{}, Failures: []ecsapi.Failure{}}
	for _, ref := range names {
		name := ref
		if events.IsARN(ref) {
			name = ref[strings.LastIndexByte(ref, '/')+1:]
		}
		arn := "arn:aws:ecs:" + s.cfg.Region + ":" + s.cfg.Account + ":capacity-provider/" + name
		if !fargateProviders[name] || (events.IsARN(ref) && ref != arn) {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: ref, Reason: "MISSING"})
			continue
		}
		cp := ecsapi.CapacityProvider{CapacityProviderArn: arn, Name: name, Status: "ACTIVE"}
		if slices.Contains(in.Include, "TAGS") {
			cp.Tags = []ecsapi.Tag{}
		}
		out.CapacityProviders = append(out.CapacityProviders, cp)
	}
	return out, nil
}
