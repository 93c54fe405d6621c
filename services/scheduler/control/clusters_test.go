package control_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/services/scheduler/control"
)

func TestClusters_SDK_CreateDescribeUpdateDelete(t *testing.T) {
	env := start(t, control.Config{})
	ctx := context.Background()
	c := env.ECS()

	// No name: the default cluster, with AWS's defaults.
	out, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{})
	if err != nil {
		t.Fatal(err)
	}
	cl := out.Cluster
	if aws.ToString(cl.ClusterName) != "default" || aws.ToString(cl.ClusterArn) != clusterARN("default") || aws.ToString(cl.Status) != "ACTIVE" {
		t.Fatalf("create default: %+v", cl)
	}
	if cl.Statistics == nil || len(cl.Statistics) != 0 || cl.Tags == nil || cl.CapacityProviders == nil || cl.DefaultCapacityProviderStrategy == nil {
		t.Fatalf("create: lists must be present: %+v", cl)
	}
	if len(cl.Settings) != 1 || aws.ToString(cl.Settings[0].Value) != "disabled" || cl.Settings[0].Name != types.ClusterSettingNameContainerInsights {
		t.Fatalf("create: settings %+v", cl.Settings)
	}
	if cl.RegisteredContainerInstancesCount != 0 || cl.RunningTasksCount != 0 || cl.PendingTasksCount != 0 || cl.ActiveServicesCount != 0 {
		t.Fatalf("create: counts %+v", cl)
	}

	// Twice: idempotent, nothing written.
	before := bucketState(t, env)
	again, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("default"), Tags: []types.Tag{{Key: aws.String("ignored"), Value: aws.String("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(again.Cluster.ClusterArn) != clusterARN("default") || len(again.Cluster.Tags) != 0 {
		t.Fatalf("create again: %+v", again.Cluster)
	}
	unchanged(t, env, before, "an idempotent CreateCluster")

	// A full create.
	_, err = c.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName:       aws.String("prod_1"),
		Settings:          []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enhanced")}},
		Tags:              []types.Tag{{Key: aws.String("team"), Value: aws.String("blue")}, {Key: aws.String("env"), Value: aws.String("")}},
		CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{
			{CapacityProvider: aws.String("FARGATE"), Weight: 1, Base: 1},
			{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 4},
		},
		Configuration: &types.ClusterConfiguration{ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{
			Logging: types.ExecuteCommandLoggingOverride,
			LogConfiguration: &types.ExecuteCommandLogConfiguration{
				CloudWatchLogGroupName: aws.String("/exec"), CloudWatchEncryptionEnabled: true,
			},
		}},
		ServiceConnectDefaults: &types.ClusterServiceConnectDefaultsRequest{Namespace: aws.String("ns-1")},
	})
	if err != nil {
		t.Fatal(err)
	}

	// Describe with no arguments: the default cluster, optional parts absent.
	d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].ClusterName) != "default" || d.Failures == nil || len(d.Failures) != 0 {
		t.Fatalf("describe default: %+v", d)
	}
	if got := d.Clusters[0]; got.Settings != nil || got.Tags != nil || got.Statistics != nil || got.Configuration != nil || got.Attachments != nil {
		t.Fatalf("describe without include shows optional parts: %+v", got)
	}

	// Describe by name and ARN, with everything included, plus missing ones.
	d, err = c.DescribeClusters(ctx, &ecs.DescribeClustersInput{
		Clusters: []string{"prod_1", clusterARN("default"), "nope", "arn:aws:ecs:us-east-1:123456789012:cluster/gone", "bad name", "prod_1"},
		Include:  []types.ClusterField{"ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Clusters) != 2 || aws.ToString(d.Clusters[0].ClusterName) != "prod_1" || aws.ToString(d.Clusters[1].ClusterName) != "default" {
		t.Fatalf("describe: %+v", d.Clusters)
	}
	wantFailures := []string{clusterARN("nope"), "arn:aws:ecs:us-east-1:123456789012:cluster/gone", clusterARN("bad name")}
	if len(d.Failures) != len(wantFailures) {
		t.Fatalf("failures: %+v", d.Failures)
	}
	for i, f := range d.Failures {
		if aws.ToString(f.Arn) != wantFailures[i] || aws.ToString(f.Reason) != "MISSING" {
			t.Fatalf("failure %d: %+v", i, f)
		}
	}
	p := d.Clusters[0]
	if len(p.Settings) != 1 || aws.ToString(p.Settings[0].Value) != "enhanced" {
		t.Fatalf("settings: %+v", p.Settings)
	}
	if len(p.Tags) != 2 || aws.ToString(p.Tags[0].Key) != "team" || aws.ToString(p.Tags[1].Key) != "env" || aws.ToString(p.Tags[1].Value) != "" {
		t.Fatalf("tags: %+v", p.Tags)
	}
	if !slices.Equal(p.CapacityProviders, []string{"FARGATE", "FARGATE_SPOT"}) || len(p.DefaultCapacityProviderStrategy) != 2 ||
		p.DefaultCapacityProviderStrategy[0].Base != 1 || p.DefaultCapacityProviderStrategy[1].Weight != 4 {
		t.Fatalf("capacity: %+v %+v", p.CapacityProviders, p.DefaultCapacityProviderStrategy)
	}
	if p.Configuration == nil || p.Configuration.ExecuteCommandConfiguration.Logging != types.ExecuteCommandLoggingOverride ||
		aws.ToString(p.Configuration.ExecuteCommandConfiguration.LogConfiguration.CloudWatchLogGroupName) != "/exec" {
		t.Fatalf("configuration: %+v", p.Configuration)
	}
	if p.ServiceConnectDefaults == nil || aws.ToString(p.ServiceConnectDefaults.Namespace) != "ns-1" {
		t.Fatalf("service connect: %+v", p.ServiceConnectDefaults)
	}
	if p.Attachments == nil || len(p.Attachments) != 0 {
		t.Fatalf("attachments: %+v", p.Attachments)
	}
	stats := map[string]string{}
	for _, kv := range p.Statistics {
		stats[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	for _, name := range []string{"runningEC2TasksCount", "RunningFargateTasksCount", "pendingEC2TasksCount", "pendingFargateTasksCount",
		"activeEC2ServiceCount", "activeFargateServiceCount", "drainingEC2ServiceCount", "drainingFargateServiceCount"} {
		if stats[name] != "0" {
			t.Fatalf("statistics %s: %v", name, stats)
		}
	}

	// UpdateClusterSettings, then UpdateCluster.
	us, err := c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{
		Cluster:  aws.String("default"),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(us.Cluster.Settings) != 1 || aws.ToString(us.Cluster.Settings[0].Value) != "enabled" {
		t.Fatalf("update settings: %+v", us.Cluster.Settings)
	}
	if got := describeOne(t, c, "default", "SETTINGS"); aws.ToString(got.Settings[0].Value) != "enabled" {
		t.Fatalf("describe after update: %+v", got.Settings)
	}
	uc, err := c.UpdateCluster(ctx, &ecs.UpdateClusterInput{
		Cluster:                aws.String(clusterARN("default")),
		Settings:               []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("disabled")}},
		Configuration:          &types.ClusterConfiguration{ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{Logging: types.ExecuteCommandLoggingDefault}},
		ServiceConnectDefaults: &types.ClusterServiceConnectDefaultsRequest{Namespace: aws.String("ns-2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(uc.Cluster.Settings[0].Value) != "disabled" || uc.Cluster.Configuration.ExecuteCommandConfiguration.Logging != types.ExecuteCommandLoggingDefault ||
		aws.ToString(uc.Cluster.ServiceConnectDefaults.Namespace) != "ns-2" {
		t.Fatalf("update cluster: %+v", uc.Cluster)
	}

	// Delete: INACTIVE, still describable, no longer listed.
	del, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod_1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(del.Cluster.Status) != "INACTIVE" || aws.ToString(del.Cluster.ClusterArn) != clusterARN("prod_1") {
		t.Fatalf("delete: %+v", del.Cluster)
	}
	if got := describeOne(t, c, clusterARN("prod_1")); aws.ToString(got.Status) != "INACTIVE" {
		t.Fatalf("describe deleted: %+v", got)
	}
	if arns := listAll(t, c, nil); !slices.Equal(arns, []string{clusterARN("default")}) {
		t.Fatalf("list after delete: %v", arns)
	}

	// An INACTIVE cluster refuses changes, and a second delete.
	before = bucketState(t, env)
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod_1")})
	wantAPIError(t, err, events.CodeInvalidParameter, "The specified cluster is inactive. Specify an active cluster and try again.")
	_, err = c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("prod_1"),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}}})
	wantAPIError(t, err, events.CodeInvalidParameter, "The specified cluster is inactive. Specify an active cluster and try again.")
	_, err = c.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("prod_1")})
	wantCode(t, err, events.CodeInvalidParameter)
	unchanged(t, env, before, "changes to an INACTIVE cluster")

	// Recreate: a fresh ACTIVE cluster.
	re, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod_1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(re.Cluster.Status) != "ACTIVE" || len(re.Cluster.Tags) != 0 || aws.ToString(re.Cluster.Settings[0].Value) != "disabled" ||
		len(re.Cluster.CapacityProviders) != 0 || re.Cluster.Configuration != nil {
		t.Fatalf("recreate: %+v", re.Cluster)
	}
	if rec := record(t, env, "prod_1"); rec.DeletedAt != nil || rec.Status != events.ClusterStatusActive {
		t.Fatalf("recreated record: %+v", rec)
	}
	if arns := listAll(t, c, nil); !slices.Equal(arns, []string{clusterARN("default"), clusterARN("prod_1")}) {
		t.Fatalf("list after recreate: %v", arns)
	}

	// Unknown clusters.
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("nope")})
	wantAPIError(t, err, events.CodeClusterNotFound, "Cluster not found.")
	_, err = c.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("nope")})
	wantAPIError(t, err, events.CodeClusterNotFound, "Cluster not found.")
	_, err = c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String(clusterARN("nope")), Settings: []types.ClusterSetting{}})
	wantAPIError(t, err, events.CodeClusterNotFound, "Cluster not found.")
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("arn:aws:ecs:eu-west-1:123456789012:cluster/default")})
	wantAPIError(t, err, events.CodeClusterNotFound, "Cluster not found.")
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("arn:aws:ecs:us-east-1:999999999999:cluster/default")})
	wantAPIError(t, err, events.CodeInvalidParameter, "Invalid identifier: Identifier is for 999999999999. Your accountId is 123456789012")
}

func TestClusters_SDK_ListPagination(t *testing.T) {
	env := start(t, control.Config{})
	ctx := context.Background()
	c := env.ECS()
	var want []string
	for i := 7; i >= 1; i-- { // created out of order; listed sorted
		name := fmt.Sprintf("c%02d", i)
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		want = append(want, clusterARN(name))
	}
	slices.Sort(want)
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c00")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("c00")}); err != nil {
		t.Fatal(err)
	}

	var pages [][]string
	var token *string
	for {
		out, err := c.ListClusters(ctx, &ecs.ListClustersInput{MaxResults: aws.Int32(3), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, out.ClusterArns)
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	if len(pages) != 3 || len(pages[0]) != 3 || len(pages[1]) != 3 || len(pages[2]) != 1 {
		t.Fatalf("pages: %v", pages)
	}
	if got := slices.Concat(pages...); !slices.Equal(got, want) {
		t.Fatalf("pages %v, want %v", got, want)
	}
	if got := listAll(t, c, aws.Int32(2)); !slices.Equal(got, want) {
		t.Fatalf("paginator: %v", got)
	}
	if got := listAll(t, c, nil); !slices.Equal(got, want) {
		t.Fatalf("one page: %v", got)
	}

	before := bucketState(t, env)
	for _, tok := range []string{"garbage", "eyJsIjoiTGlzdFRhc2tzIiwiYSI6ImMwMSJ9", "%%%"} { // the second is a token of another list
		_, err := c.ListClusters(ctx, &ecs.ListClustersInput{NextToken: aws.String(tok)})
		wantAPIError(t, err, events.CodeInvalidParameter, "Invalid nextToken.")
	}
	for _, n := range []int32{0, 101, -1} {
		_, err := c.ListClusters(ctx, &ecs.ListClustersInput{MaxResults: aws.Int32(n)})
		wantAPIError(t, err, events.CodeInvalidParameter, "maxResults must be between 1 and 100.")
	}
	unchanged(t, env, before, "bad ListClusters")
}

// TestClusters_SDK_BadInput sends each kind of bad input and checks the AWS
// error and that nothing was written.
func TestClusters_SDK_BadInput(t *testing.T) {
	env := start(t, control.Config{})
	ctx := context.Background()
	c := env.ECS()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("keep"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}}}); err != nil {
		t.Fatal(err)
	}
	insights := func(v string) []types.ClusterSetting {
		return []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String(v)}}
	}
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	var fifty []types.Tag
	for i := range 51 {
		fifty = append(fifty, tag(fmt.Sprintf("k%d", i), "v"))
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("c%d", i)
	}
	nameMsg := "Invalid cluster name. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."
	cases := []struct {
		name string
		call func() error
		code events.Code
		msg  string
	}{
		{"name with a dot", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("bad.name")}), events.CodeInvalidParameter, nameMsg},
		{"name with a space", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("bad name")}), events.CodeInvalidParameter, nameMsg},
		{"name of 256", create(c, &ecs.CreateClusterInput{ClusterName: aws.String(strings.Repeat("a", 256))}), events.CodeInvalidParameter, nameMsg},
		{"name is an ARN", create(c, &ecs.CreateClusterInput{ClusterName: aws.String(clusterARN("x"))}), events.CodeInvalidParameter, nameMsg},
		{"setting name", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Settings: []types.ClusterSetting{{Name: "insights", Value: aws.String("enabled")}}}), events.CodeInvalidParameter, "Invalid setting 'name'"},
		{"setting value", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Settings: insights("ENABLED")}), events.CodeInvalidParameter, "Invalid setting 'value'"},
		{"capacity provider", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), CapacityProviders: []string{"mine"}}), events.CodeInvalidParameter, ""},
		{"strategy not attached", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), CapacityProviders: []string{"FARGATE"},
			DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}}), events.CodeInvalidParameter, ""},
		{"strategy weight", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), CapacityProviders: []string{"FARGATE"},
			DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1001}}}), events.CodeInvalidParameter, ""},
		{"two bases", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
			DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Base: 1}, {CapacityProvider: aws.String("FARGATE_SPOT"), Base: 2}}}), events.CodeInvalidParameter, ""},
		{"exec logging", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Configuration: &types.ClusterConfiguration{
			ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{Logging: "LOUD"}}}), events.CodeInvalidParameter, ""},
		{"51 tags", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: fifty}), events.CodeInvalidParameter, "Too many tags. A resource can have at most 50 tags."},
		{"aws: key", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: []types.Tag{tag("AWS:team", "x")}}), events.CodeInvalidParameter, "Tag keys beginning with 'aws:' are reserved for AWS use."},
		{"aws: value", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: []types.Tag{tag("team", "aws:x")}}), events.CodeInvalidParameter, ""},
		{"empty key", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: []types.Tag{tag("", "x")}}), events.CodeInvalidParameter, ""},
		{"long key", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: []types.Tag{tag(strings.Repeat("k", 129), "x")}}), events.CodeInvalidParameter, ""},
		{"long value", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: []types.Tag{tag("k", strings.Repeat("v", 257))}}), events.CodeInvalidParameter, ""},
		{"key character", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: []types.Tag{tag("a#b", "x")}}), events.CodeInvalidParameter, ""},
		{"duplicate key", create(c, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: []types.Tag{tag("k", "1"), tag("k", "2")}}), events.CodeInvalidParameter, "Duplicate tag key 'k'. Each tag key must be unique."},
		{"describe 101", func() error {
			_, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: many})
			return err
		}, events.CodeInvalidParameter, ""},
		{"describe include", func() error {
			_, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Include: []types.ClusterField{"EVERYTHING"}})
			return err
		}, events.CodeInvalidParameter, ""},
		{"update setting value", func() error {
			_, err := c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("keep"), Settings: insights("on")})
			return err
		}, events.CodeInvalidParameter, "Invalid setting 'value'"},
		{"update setting name", func() error {
			_, err := c.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("keep"), Settings: []types.ClusterSetting{{Name: "x", Value: aws.String("enabled")}}})
			return err
		}, events.CodeInvalidParameter, "Invalid setting 'name'"},
		{"update unknown", func() error {
			_, err := c.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("nope"), Settings: insights("enabled")})
			return err
		}, events.CodeClusterNotFound, "Cluster not found."},
		{"delete unknown", func() error {
			_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("nope")})
			return err
		}, events.CodeClusterNotFound, "Cluster not found."},
		{"delete bad ARN", func() error {
			_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("arn:aws:ecs:us-east-1:123456789012:task/keep")})
			return err
		}, events.CodeInvalidParameter, ""},
	}
	before := bucketState(t, env)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantAPIError(t, tc.call(), tc.code, tc.msg)
			unchanged(t, env, before, tc.name)
		})
	}
}

func create(c *ecs.Client, in *ecs.CreateClusterInput) func() error {
	return func() error {
		_, err := c.CreateCluster(context.Background(), in)
		return err
	}
}

// describeOne describes one cluster that must exist.
func describeOne(t testing.TB, c *ecs.Client, ref string, include ...types.ClusterField) types.Cluster {
	t.Helper()
	out, err := c.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: []string{ref}, Include: include})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Clusters) != 1 || len(out.Failures) != 0 {
		t.Fatalf("describe %s: %+v", ref, out)
	}
	return out.Clusters[0]
}

// listAll lists every cluster ARN with the SDK paginator.
func listAll(t testing.TB, c *ecs.Client, pageSize *int32) []string {
	t.Helper()
	var out []string
	p := ecs.NewListClustersPaginator(c, &ecs.ListClustersInput{MaxResults: pageSize})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.ClusterArns...)
	}
	return out
}
