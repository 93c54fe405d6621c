package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/services/supervisor/reconcile"
)

// maxAttempts bounds the compare-and-set retries of one operation.
const maxAttempts = 20

func (s *Service) createService(ctx context.Context, in *ecsapi.CreateServiceRequest) (any, error) {
	cluster, err := clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	rec, err := s.newRecord(ctx, cluster, in)
	if err != nil {
		return nil, err
	}
	key := events.ServiceKey(cluster, rec.Name)
	for range maxAttempts {
		cur, rev, err := s.store.get(ctx, key)
		if err != nil {
			return nil, err
		}
		if cur != nil && cur.Status != events.ServiceInactive {
			if cur.Status == events.ServiceActive && cur.CreateHash == rec.CreateHash {
				return &ecsapi.CreateServiceResponse{Service: s.render(cur, false)}, nil
			}
			return nil, invalid(msgNotIdempotent)
		}
		n, err := s.store.put(ctx, key, rec, rev)
		if err == errConflict {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.cache.put(key, rec, n)
		s.publish(ctx, rec.Outbox)
		s.queue.add(key)
		return &ecsapi.CreateServiceResponse{Service: s.render(rec, false)}, nil
	}
	return nil, fmt.Errorf("create service %s: too much contention", rec.Name)
}

// newRecord checks a CreateService request and builds the new service.
func (s *Service) newRecord(ctx context.Context, cluster string, in *ecsapi.CreateServiceRequest) (*events.ServiceRecord, error) {
	strategy, desired, dc, err := checkCreate(in)
	if err != nil {
		return nil, err
	}
	clusterARN, err := s.ecs.activeCluster(ctx, cluster)
	if err != nil {
		return nil, err
	}
	td, err := s.ecs.taskDefinition(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if td.Status != events.TaskDefActive {
		return nil, invalid(msgTaskDefInactive)
	}
	now := s.cfg.Now().UTC()
	req := *in
	req.ClientToken, req.Cluster = "", cluster
	sum := sha256.Sum256(mustJSON(req))
	propagate := in.PropagateTags
	if propagate == "" {
		propagate = "NONE"
	}
	rec := &events.ServiceRecord{
		Name: in.ServiceName, ARN: events.ServiceARN(s.cfg.Region, s.cfg.Account, cluster, in.ServiceName),
		Cluster: cluster, ClusterARN: clusterARN, Status: events.ServiceActive,
		DesiredCount: desired, LaunchType: events.LaunchTypeEC2, SchedulingStrategy: strategy,
		PropagateTags: propagate, EnableECSManaged: awsjson.Value(in.EnableECSManagedTags),
		EnableExecute: awsjson.Value(in.EnableExecuteCommand), HealthCheckGrace: in.HealthCheckGracePeriodSeconds,
		DeploymentConfiguration: dc,
		PlacementConstraints:    nonNil(in.PlacementConstraints),
		PlacementStrategy:       nonNil(in.PlacementStrategy),
		NetworkConfiguration:    in.NetworkConfiguration,
		Tags:                    nonNil(in.Tags),
		CreatedAt:               now, CreatedBy: "arn:aws:iam::" + s.cfg.Account + ":root",
		CreateHash: hex.EncodeToString(sum[:]),
		Launches:   []events.ServiceLaunch{}, Tasks: []events.ServiceTask{}, Events: []events.ServiceEvent{},
		UpdatedAt: now, Version: 1,
	}
	rec.Seq = 1
	dep := reconcile.NewDeployment(reconcile.DeploymentID(now, rec.Seq), td.TaskDefinitionArn, desired, hasHealthCheck(td), now)
	reconcile.AddDeployment(rec, dep)
	rec.Outbox = []events.ServiceOutEvent{reconcile.DeploymentEvent(rec, s.params(), events.EventTypeInfo, events.DeploymentInProgressEvent, dep.ID, dep.RolloutStateReason, now)}
	return rec, nil
}

func (s *Service) describeServices(ctx context.Context, in *ecsapi.DescribeServicesRequest) (any, error) {
	cluster, err := clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.Services) == 0:
		return nil, invalid(msgServicesEmpty)
	case len(in.Services) > 10:
		return nil, invalid(msgTooManyServices)
	}
	withTags := false
	for _, f := range in.Include {
		if f != "TAGS" {
			return nil, invalid(msgInclude)
		}
		withTags = true
	}
	if _, err := s.ecs.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	out := &ecsapi.DescribeServicesResponse{Services: []ecsapi.Service{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.Services {
		rec, _, err := s.store.get(ctx, events.ServiceKey(cluster, serviceName(ref)))
		if err != nil {
			return nil, err
		}
		if rec == nil {
			arn := ref
			if !events.IsARN(ref) {
				arn = events.ServiceARN(s.cfg.Region, s.cfg.Account, cluster, ref)
			}
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		out.Services = append(out.Services, *s.render(rec, withTags))
	}
	return out, nil
}

func (s *Service) listServices(ctx context.Context, in *ecsapi.ListServicesRequest) (any, error) {
	cluster, err := clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	size := 10
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, invalid(msgMaxResults)
		}
		size = int(*in.MaxResults)
	}
	if in.LaunchType != "" && in.LaunchType != events.LaunchTypeEC2 && in.LaunchType != "FARGATE" && in.LaunchType != "EXTERNAL" {
		return nil, invalid("Invalid value '%s' for 'launchType'. Valid values: EC2, FARGATE, EXTERNAL.", in.LaunchType)
	}
	if _, err := s.ecs.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != "" {
		b, err := hex.DecodeString(in.NextToken)
		if err != nil {
			return nil, invalid(msgNextToken)
		}
		after = string(b)
	}
	recs := s.cache.list(func(_ string, r *events.ServiceRecord) bool {
		return r.Cluster == cluster && r.Status == events.ServiceActive && r.Name > after &&
			(in.LaunchType == "" || in.LaunchType == r.LaunchType) &&
			(in.SchedulingStrategy == "" || in.SchedulingStrategy == r.SchedulingStrategy)
	})
	slices.SortFunc(recs, func(a, b cached) int { return cmpStr(a.rec.Name, b.rec.Name) })
	out := &ecsapi.ListServicesResponse{ServiceArns: []string{}}
	for i, c := range recs {
		if i == size {
			out.NextToken = hex.EncodeToString([]byte(recs[i-1].rec.Name))
			break
		}
		out.ServiceArns = append(out.ServiceArns, c.rec.ARN)
	}
	return out, nil
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Service) updateService(ctx context.Context, in *ecsapi.UpdateServiceRequest) (any, error) {
	cluster, err := clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Service == "" {
		return nil, invalid(msgServiceBlank)
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return nil, invalid(msgDesiredNegative)
	}
	if err := checkUnsupported("", in.CapacityProviderStrategy, in.LoadBalancers, in.ServiceRegistries, in.ServiceConnectConfiguration, in.DeploymentController); err != nil {
		return nil, err
	}
	if err := checkPlacement(in.PlacementConstraints, in.PlacementStrategy); err != nil {
		return nil, err
	}
	if err := checkPropagate(in.PropagateTags); err != nil {
		return nil, err
	}
	if _, err := s.ecs.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	var td *ecsapi.TaskDefinition
	if in.TaskDefinition != "" {
		if td, err = s.ecs.taskDefinition(ctx, in.TaskDefinition); err != nil {
			return nil, err
		}
		if td.Status != events.TaskDefActive {
			return nil, invalid(msgTaskDefInactive)
		}
	}
	rec, err := s.modify(ctx, cluster, serviceName(in.Service), func(rec *events.ServiceRecord) error {
		return s.applyUpdate(rec, in, td)
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.UpdateServiceResponse{Service: s.render(rec, false)}, nil
}

// applyUpdate folds an UpdateService request into rec.
func (s *Service) applyUpdate(rec *events.ServiceRecord, in *ecsapi.UpdateServiceRequest, td *ecsapi.TaskDefinition) error {
	if rec.Status != events.ServiceActive {
		return errServiceNotActive()
	}
	daemon := rec.SchedulingStrategy == events.SchedulingDaemon
	if daemon && in.DesiredCount != nil {
		return invalid(msgDaemonDesired)
	}
	if daemon && len(in.PlacementStrategy) > 0 {
		return invalid(msgDaemonStrategy)
	}
	now := s.cfg.Now().UTC()
	if in.DeploymentConfiguration != nil {
		merged := rec.DeploymentConfiguration
		dc := in.DeploymentConfiguration
		if dc.MaximumPercent != nil {
			merged.MaximumPercent = dc.MaximumPercent
		}
		if dc.MinimumHealthyPercent != nil {
			merged.MinimumHealthyPercent = dc.MinimumHealthyPercent
		}
		if dc.DeploymentCircuitBreaker != nil {
			merged.DeploymentCircuitBreaker = dc.DeploymentCircuitBreaker
		}
		checked, err := checkDeploymentConfig(&merged, rec.SchedulingStrategy)
		if err != nil {
			return err
		}
		rec.DeploymentConfiguration = checked
	}
	if in.PlacementConstraints != nil {
		rec.PlacementConstraints = nonNil(in.PlacementConstraints)
	}
	if in.PlacementStrategy != nil {
		rec.PlacementStrategy = nonNil(in.PlacementStrategy)
	}
	if in.NetworkConfiguration != nil {
		rec.NetworkConfiguration = in.NetworkConfiguration
	}
	if in.PropagateTags != "" {
		rec.PropagateTags = in.PropagateTags
	}
	if in.EnableExecuteCommand != nil {
		rec.EnableExecute = *in.EnableExecuteCommand
	}
	if in.EnableECSManagedTags != nil {
		rec.EnableECSManaged = *in.EnableECSManagedTags
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		rec.HealthCheckGrace = in.HealthCheckGracePeriodSeconds
	}
	if in.DesiredCount != nil && *in.DesiredCount != rec.DesiredCount {
		rec.DesiredCount = *in.DesiredCount
		rec.Steady = false
		rec.Outbox = append(rec.Outbox, reconcile.ActionEvent(rec, s.params(), events.EventTypeInfo, events.ServiceDesiredCountUpdated, "", now))
	}
	newTD := td != nil && td.TaskDefinitionArn != rec.TaskDefinition
	if newTD || awsjson.Value(in.ForceNewDeployment) {
		taskDef, hc := rec.TaskDefinition, primaryHealthCheck(rec)
		if td != nil {
			taskDef, hc = td.TaskDefinitionArn, hasHealthCheck(td)
		}
		rec.Seq++
		dep := reconcile.NewDeployment(reconcile.DeploymentID(now, rec.Seq), taskDef, rec.DesiredCount, hc, now)
		reconcile.AddDeployment(rec, dep)
		rec.BackoffStep, rec.BackoffUntil, rec.PlaceRetryAt = 0, now, now
		rec.Outbox = append(rec.Outbox, reconcile.DeploymentEvent(rec, s.params(), events.EventTypeInfo, events.DeploymentInProgressEvent, dep.ID, dep.RolloutStateReason, now))
	}
	return nil
}

func primaryHealthCheck(rec *events.ServiceRecord) bool {
	for _, d := range rec.Deployments {
		if d.Status == events.DeploymentPrimary {
			return d.HealthCheck
		}
	}
	return false
}

func (s *Service) deleteService(ctx context.Context, in *ecsapi.DeleteServiceRequest) (any, error) {
	cluster, err := clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Service == "" {
		return nil, invalid(msgServiceBlank)
	}
	if _, err := s.ecs.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	rec, err := s.modify(ctx, cluster, serviceName(in.Service), func(rec *events.ServiceRecord) error {
		if rec.Status != events.ServiceActive {
			return errServiceNotActive()
		}
		if rec.SchedulingStrategy == events.SchedulingReplica && rec.DesiredCount > 0 && !awsjson.Value(in.Force) {
			return invalid(msgScaledAbove0)
		}
		rec.Status = events.ServiceDraining
		rec.DesiredCount = 0
		rec.Steady = false
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.DeleteServiceResponse{Service: s.render(rec, false)}, nil
}

// modify applies fn to the service's record and commits it, retrying on a
// lost race; then the service is reconciled.
func (s *Service) modify(ctx context.Context, cluster, name string, fn func(*events.ServiceRecord) error) (*events.ServiceRecord, error) {
	key := events.ServiceKey(cluster, name)
	for range maxAttempts {
		rec, rev, err := s.store.get(ctx, key)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, errServiceNotFound()
		}
		rec.Outbox = nil
		if err := fn(rec); err != nil {
			return nil, err
		}
		rec.Version++
		rec.UpdatedAt = s.cfg.Now().UTC()
		n, err := s.store.put(ctx, key, rec, rev)
		if err == errConflict {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.cache.put(key, rec, n)
		s.publish(ctx, rec.Outbox)
		s.queue.add(key)
		return rec, nil
	}
	return nil, fmt.Errorf("service %s: too much contention", name)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// checkCreate validates what a CreateService request says on its own and
// returns its scheduling strategy, desired count and deployment
// configuration with the defaults.
func checkCreate(in *ecsapi.CreateServiceRequest) (string, int32, ecsapi.DeploymentConfiguration, error) {
	var none ecsapi.DeploymentConfiguration
	strategy := in.SchedulingStrategy
	switch {
	case in.ServiceName == "":
		return "", 0, none, invalid(msgServiceNameBlank)
	case !nameRE.MatchString(in.ServiceName):
		return "", 0, none, invalid(msgServiceName)
	case strategy == "":
		strategy = events.SchedulingReplica
	case strategy != events.SchedulingReplica && strategy != events.SchedulingDaemon:
		return "", 0, none, invalid(msgSchedulingStrategy, strategy)
	}
	if in.TaskDefinition == "" {
		return "", 0, none, invalid(msgTaskDefBlank)
	}
	desired := awsjson.Value(in.DesiredCount)
	switch {
	case strategy == events.SchedulingDaemon && in.DesiredCount != nil:
		return "", 0, none, invalid(msgDaemonDesired)
	case strategy == events.SchedulingDaemon && len(in.PlacementStrategy) > 0:
		return "", 0, none, invalid(msgDaemonStrategy)
	case strategy == events.SchedulingReplica && in.DesiredCount == nil:
		return "", 0, none, invalid(msgReplicaDesired)
	case desired < 0:
		return "", 0, none, invalid(msgDesiredNegative)
	}
	if err := checkUnsupported(in.LaunchType, in.CapacityProviderStrategy, in.LoadBalancers, in.ServiceRegistries, in.ServiceConnectConfiguration, in.DeploymentController); err != nil {
		return "", 0, none, err
	}
	dc, err := checkDeploymentConfig(in.DeploymentConfiguration, strategy)
	if err != nil {
		return "", 0, none, err
	}
	if err := checkPlacement(in.PlacementConstraints, in.PlacementStrategy); err != nil {
		return "", 0, none, err
	}
	if err := checkTags(in.Tags); err != nil {
		return "", 0, none, err
	}
	if err := checkPropagate(in.PropagateTags); err != nil {
		return "", 0, none, err
	}
	return strategy, desired, dc, nil
}

// listServicesByNamespace: Berth has no Service Connect (or Cloud Map)
// namespaces, so every namespace is unknown.
func (s *Service) listServicesByNamespace(_ context.Context, in *ecsapi.ListServicesByNamespaceRequest) (any, error) {
	if in.Namespace == "" {
		return nil, invalid(msgNamespaceBlank)
	}
	return nil, apierr.New(events.CodeNamespaceNotFound, msgNamespaceNotFound, in.Namespace)
}
