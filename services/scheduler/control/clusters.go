package control

import (
	"context"
	"slices"
	"sort"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
)

// defaultCluster is the cluster a request means when it names none.
const defaultCluster = "default"

// maxDescribe bounds the clusters of one DescribeClusters.
const maxDescribe = 100

// listClustersToken names ListClusters page tokens.
const listClustersToken = "ListClusters"

func (s *Service) createCluster(ctx context.Context, in *ecsapi.CreateClusterRequest) (any, error) {
	name := in.ClusterName
	if name == "" {
		name = defaultCluster
	}
	if !validClusterName(name) {
		return nil, invalid(msgClusterName)
	}
	if err := checkSettings(in.Settings); err != nil {
		return nil, err
	}
	if err := checkConfiguration(in.Configuration); err != nil {
		return nil, err
	}
	if err := checkCapacity(in.CapacityProviders, in.DefaultCapacityProviderStrategy); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	insights, err := s.accountInsights(ctx)
	if err != nil {
		return nil, err
	}
	fresh := s.newCluster(name, insights, in)
	c, _, err := s.clusters.modify(ctx, name, func(cur *events.ClusterRecord) (*events.ClusterRecord, error) {
		if cur != nil && cur.Active() {
			return nil, nil // CreateCluster is idempotent: the ACTIVE cluster stays as it is
		}
		return fresh, nil // new, or replacing an INACTIVE one
	})
	if err != nil {
		return nil, err
	}
	out, err := s.render(ctx, c, mutationView)
	if err != nil {
		return nil, err
	}
	return &ecsapi.CreateClusterResponse{Cluster: out}, nil
}

// newCluster builds the record CreateCluster writes for a new name;
// containerInsights is insights (the account setting) unless the request
// names it.
func (s *Service) newCluster(name, insights string, in *ecsapi.CreateClusterRequest) *events.ClusterRecord {
	now := s.cfg.Now().UTC()
	c := &events.ClusterRecord{
		Name:   name,
		ARN:    events.ClusterARN(s.cfg.Region, s.cfg.Account, name),
		Status: events.ClusterStatusActive,
		Settings: mergeSettings([]events.ClusterSetting{{
			Name: events.ClusterSettingContainerInsights, Value: insights,
		}}, in.Settings),
		Configuration:                   recordConfiguration(in.Configuration),
		CapacityProviders:               append([]string{}, in.CapacityProviders...),
		DefaultCapacityProviderStrategy: recordStrategy(in.DefaultCapacityProviderStrategy),
		Tags:                            recordTags(in.Tags),
		CreatedAt:                       now,
		UpdatedAt:                       now,
	}
	if in.ServiceConnectDefaults != nil {
		c.ServiceConnectNamespace = in.ServiceConnectDefaults.Namespace
	}
	return c
}

func (s *Service) describeClusters(ctx context.Context, in *ecsapi.DescribeClustersRequest) (any, error) {
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{defaultCluster}
	}
	if len(refs) > maxDescribe {
		return nil, invalid(msgTooManyClusters)
	}
	v, err := parseInclude(in.Include)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.DescribeClustersResponse{Clusters: []ecsapi.Cluster{}, Failures: []ecsapi.Failure{}}
	seen := map[string]bool{}
	for _, ref := range refs {
		name, arn, ok := s.describeRef(ref)
		if !ok {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		c, err := s.clusters.get(ctx, name)
		if err != nil {
			return nil, err
		}
		if c == nil {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		cl, err := s.render(ctx, c, v)
		if err != nil {
			return nil, err
		}
		out.Clusters = append(out.Clusters, *cl)
	}
	return out, nil
}

// describeRef resolves one DescribeClusters entry to a cluster name and the
// ARN a MISSING failure reports. ok is false when the entry cannot name a
// cluster of this region and account.
func (s *Service) describeRef(ref string) (name, arn string, ok bool) {
	if !events.IsARN(ref) {
		return ref, events.ClusterARN(s.cfg.Region, s.cfg.Account, ref), validClusterName(ref)
	}
	r, err := events.ParseClusterARN(ref)
	if err != nil || r.Region != s.cfg.Region || r.Account != s.cfg.Account {
		return "", ref, false
	}
	return r.Cluster, ref, true
}

func (s *Service) listClusters(ctx context.Context, in *ecsapi.ListClustersRequest) (any, error) {
	size, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(listClustersToken, in.NextToken)
	if err != nil {
		return nil, err
	}
	all, err := s.clusters.all(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range all {
		if c.Active() { // INACTIVE clusters stay describable but are not listed
			names = append(names, c.Name)
		}
	}
	sort.Strings(names)
	start := sort.Search(len(names), func(i int) bool { return names[i] > after })
	end := min(start+size, len(names))
	out := &ecsapi.ListClustersResponse{ClusterArns: []string{}}
	for _, n := range names[start:end] {
		out.ClusterArns = append(out.ClusterArns, events.ClusterARN(s.cfg.Region, s.cfg.Account, n))
	}
	if end < len(names) {
		out.NextToken = encodePageToken(listClustersToken, names[end-1])
	}
	return out, nil
}

func (s *Service) deleteCluster(ctx context.Context, in *ecsapi.DeleteClusterRequest) (any, error) {
	name, err := s.requiredClusterRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	c, err := s.clusters.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := checkActive(c); err != nil {
		return nil, err
	}
	if err := s.checkEmpty(ctx, name); err != nil {
		return nil, err
	}
	c, _, err = s.clusters.modify(ctx, name, func(cur *events.ClusterRecord) (*events.ClusterRecord, error) {
		if err := checkActive(cur); err != nil {
			return nil, err
		}
		now := s.cfg.Now().UTC()
		next := *cur
		next.Status = events.ClusterStatusInactive
		next.UpdatedAt = now
		next.DeletedAt = &now
		return &next, nil
	})
	if err != nil {
		return nil, err
	}
	out, err := s.render(ctx, c, mutationView)
	if err != nil {
		return nil, err
	}
	return &ecsapi.DeleteClusterResponse{Cluster: out}, nil
}

// checkEmpty refuses to delete a cluster that still has registered
// container instances, active or draining services, or unstopped tasks.
func (s *Service) checkEmpty(ctx context.Context, name string) error {
	n, err := s.counts(ctx, name)
	if err != nil {
		return err
	}
	switch {
	case n.Instances.Registered > 0:
		return apierr.New(events.CodeClusterContainsInstances, msgContainsInstances)
	case n.Services.Blocking() > 0:
		return apierr.New(events.CodeClusterContainsServices, msgContainsServices)
	case n.Tasks.Unstopped > 0 || n.Tasks.Running() > 0 || n.Tasks.Pending() > 0:
		return apierr.New(events.CodeClusterContainsTasks, msgContainsTasks)
	}
	return nil
}

func (s *Service) updateCluster(ctx context.Context, in *ecsapi.UpdateClusterRequest) (any, error) {
	name, err := s.requiredClusterRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	if err := checkSettings(in.Settings); err != nil {
		return nil, err
	}
	if err := checkConfiguration(in.Configuration); err != nil {
		return nil, err
	}
	c, err := s.updateActive(ctx, name, func(next *events.ClusterRecord) {
		next.Settings = mergeSettings(next.Settings, in.Settings)
		if in.Configuration != nil {
			next.Configuration = recordConfiguration(in.Configuration)
		}
		if in.ServiceConnectDefaults != nil {
			next.ServiceConnectNamespace = in.ServiceConnectDefaults.Namespace
		}
	})
	if err != nil {
		return nil, err
	}
	out, err := s.render(ctx, c, mutationView)
	if err != nil {
		return nil, err
	}
	return &ecsapi.UpdateClusterResponse{Cluster: out}, nil
}

func (s *Service) updateClusterSettings(ctx context.Context, in *ecsapi.UpdateClusterSettingsRequest) (any, error) {
	name, err := s.requiredClusterRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	if err := checkSettings(in.Settings); err != nil {
		return nil, err
	}
	c, err := s.updateActive(ctx, name, func(next *events.ClusterRecord) {
		next.Settings = mergeSettings(next.Settings, in.Settings)
	})
	if err != nil {
		return nil, err
	}
	out, err := s.render(ctx, c, mutationView)
	if err != nil {
		return nil, err
	}
	return &ecsapi.UpdateClusterSettingsResponse{Cluster: out}, nil
}

// updateActive applies change to a copy of the ACTIVE cluster name and
// commits it with a revision check.
func (s *Service) updateActive(ctx context.Context, name string, change func(next *events.ClusterRecord)) (*events.ClusterRecord, error) {
	return s.updateActiveChecked(ctx, name, func(next *events.ClusterRecord) error {
		change(next)
		return nil
	})
}

// updateActiveChecked is updateActive for a change that may refuse (its
// error is returned and nothing is written). change may run more than once.
func (s *Service) updateActiveChecked(ctx context.Context, name string, change func(next *events.ClusterRecord) error) (*events.ClusterRecord, error) {
	c, _, err := s.clusters.modify(ctx, name, func(cur *events.ClusterRecord) (*events.ClusterRecord, error) {
		if err := checkActive(cur); err != nil {
			return nil, err
		}
		next := cloneCluster(cur)
		if err := change(next); err != nil {
			return nil, err
		}
		next.UpdatedAt = s.cfg.Now().UTC()
		return next, nil
	})
	return c, err
}

// checkActive answers ClusterNotFoundException for no cluster and the
// inactive-cluster InvalidParameterException for an INACTIVE one.
func checkActive(c *events.ClusterRecord) error {
	switch {
	case c == nil:
		return errClusterNotFound()
	case !c.Active():
		return errClusterInactive()
	}
	return nil
}

// requiredClusterRef resolves a required cluster parameter.
func (s *Service) requiredClusterRef(ref string) (string, error) {
	if ref == "" {
		return "", invalid(msgClusterRequired)
	}
	return s.clusterRef(ref)
}

// clusterRef resolves a cluster reference, a short name or a full ARN, to a
// cluster name. An ARN of another account is an invalid identifier; one of
// another region names no cluster here.
func (s *Service) clusterRef(ref string) (string, error) {
	if !events.IsARN(ref) {
		return ref, nil
	}
	r, err := events.ParseClusterARN(ref)
	if err != nil {
		return "", invalid(msgInvalidARN)
	}
	if r.Account != s.cfg.Account {
		return "", invalid(msgOtherAccount, r.Account, s.cfg.Account)
	}
	if r.Region != s.cfg.Region {
		return "", errClusterNotFound()
	}
	return r.Cluster, nil
}

// view says which optional parts of a cluster a response shows.
type view struct {
	attachments, configurations, settings, statistics, tags bool
	// mutation: a Create/Update/Delete answer, which shows settings, tags
	// and configuration, and statistics as an empty list (as AWS does).
	mutation bool
}

var mutationView = view{configurations: true, settings: true, tags: true, mutation: true}

// parseInclude reads DescribeClusters' include list.
func parseInclude(include []string) (view, error) {
	var v view
	for _, f := range include {
		switch f {
		case "ATTACHMENTS":
			v.attachments = true
		case "CONFIGURATIONS":
			v.configurations = true
		case "SETTINGS":
			v.settings = true
		case "STATISTICS":
			v.statistics = true
		case "TAGS":
			v.tags = true
		default:
			return view{}, invalid(msgInclude)
		}
	}
	return v, nil
}

// render turns a record into the AWS Cluster shape, with live counters
// (zero for an INACTIVE cluster).
func (s *Service) render(ctx context.Context, c *events.ClusterRecord, v view) (*ecsapi.Cluster, error) {
	var n Counts
	if c.Active() {
		var err error
		if n, err = s.counts(ctx, c.Name); err != nil {
			return nil, err
		}
	}
	out := &ecsapi.Cluster{
		ClusterArn:                        c.ARN,
		ClusterName:                       c.Name,
		Status:                            c.Status,
		RegisteredContainerInstancesCount: awsjson.Int32(n.Instances.Registered),
		RunningTasksCount:                 awsjson.Int32(n.Tasks.Running()),
		PendingTasksCount:                 awsjson.Int32(n.Tasks.Pending()),
		ActiveServicesCount:               awsjson.Int32(n.Services.Active()),
		CapacityProviders:                 append([]string{}, c.CapacityProviders...),
		DefaultCapacityProviderStrategy:   apiStrategy(c.DefaultCapacityProviderStrategy),
	}
	if c.ServiceConnectNamespace != "" {
		out.ServiceConnectDefaults = &ecsapi.ClusterServiceConnectDefaults{Namespace: c.ServiceConnectNamespace}
	}
	if v.settings {
		out.Settings = []ecsapi.ClusterSetting{}
		for _, st := range c.Settings {
			out.Settings = append(out.Settings, ecsapi.ClusterSetting{Name: st.Name, Value: st.Value})
		}
	}
	if v.tags {
		out.Tags = apiTags(c.Tags)
	}
	switch {
	case v.statistics:
		out.Statistics = statistics(n)
	case v.mutation:
		out.Statistics = []ecsapi.KeyValuePair{}
	}
	if v.configurations {
		out.Configuration = apiConfiguration(c.Configuration)
	}
	if v.attachments {
		out.Attachments = []ecsapi.Attachment{} // Berth makes no capacity-provider attachments
	}
	return out, nil
}

// cloneCluster copies a record deeply enough that changing the copy's
// slices leaves the original untouched.
func cloneCluster(c *events.ClusterRecord) *events.ClusterRecord {
	next := *c
	next.Settings = slices.Clone(c.Settings)
	next.CapacityProviders = slices.Clone(c.CapacityProviders)
	next.DefaultCapacityProviderStrategy = slices.Clone(c.DefaultCapacityProviderStrategy)
	next.Tags = slices.Clone(c.Tags)
	return &next
}
