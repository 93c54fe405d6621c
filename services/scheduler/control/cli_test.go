package control_test

import (
	"slices"
	"testing"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/services/scheduler/control"
)

// cliCluster is the part of the CLI's cluster output the tests read.
type cliCluster struct {
	ClusterArn                        string              `json:"clusterArn"`
	ClusterName                       string              `json:"clusterName"`
	Status                            string              `json:"status"`
	RegisteredContainerInstancesCount *int                `json:"registeredContainerInstancesCount"`
	RunningTasksCount                 *int                `json:"runningTasksCount"`
	PendingTasksCount                 *int                `json:"pendingTasksCount"`
	ActiveServicesCount               *int                `json:"activeServicesCount"`
	Settings                          []map[string]string `json:"settings"`
	Tags                              []map[string]string `json:"tags"`
	Statistics                        []map[string]string `json:"statistics"`
}

type cliDescribe struct {
	Clusters []cliCluster        `json:"clusters"`
	Failures []map[string]string `json:"failures"`
}

type cliList struct {
	ClusterArns []string `json:"clusterArns"`
	NextToken   string   `json:"nextToken"`
}

// TestClusters_CLI runs the Debian aws CLI v2 through every cluster and
// tagging command.
func TestClusters_CLI(t *testing.T) {
	env := start(t, control.Config{})

	var created struct{ Cluster cliCluster }
	cli(t, env, &created, "ecs", "create-cluster")
	if c := created.Cluster; c.ClusterName != "default" || c.Status != "ACTIVE" || c.ClusterArn != clusterARN("default") ||
		c.RunningTasksCount == nil || *c.RunningTasksCount != 0 || c.Statistics == nil || c.Tags == nil {
		t.Fatalf("create-cluster: %+v", c)
	}
	cli(t, env, &created, "ecs", "create-cluster")
	if created.Cluster.ClusterArn != clusterARN("default") {
		t.Fatalf("create-cluster again: %+v", created.Cluster)
	}
	cli(t, env, &created, "ecs", "create-cluster", "--cluster-name", "cli-a",
		"--settings", "name=containerInsights,value=enabled", "--tags", "key=team,value=blue", "key=env,value=dev")
	if len(created.Cluster.Tags) != 2 || created.Cluster.Settings[0]["value"] != "enabled" {
		t.Fatalf("create-cluster cli-a: %+v", created.Cluster)
	}

	var d cliDescribe
	cli(t, env, &d, "ecs", "describe-clusters", "--clusters", "cli-a", "nope")
	if len(d.Clusters) != 1 || d.Clusters[0].Settings != nil || d.Clusters[0].Tags != nil ||
		len(d.Failures) != 1 || d.Failures[0]["arn"] != clusterARN("nope") || d.Failures[0]["reason"] != "MISSING" {
		t.Fatalf("describe-clusters: %+v", d)
	}
	cli(t, env, &d, "ecs", "describe-clusters", "--clusters", clusterARN("cli-a"), "--include", "SETTINGS", "TAGS", "STATISTICS")
	if c := d.Clusters[0]; len(c.Settings) != 1 || c.Settings[0]["value"] != "enabled" || len(c.Tags) != 2 || len(c.Statistics) != 8 || d.Failures == nil {
		t.Fatalf("describe-clusters --include: %+v", d)
	}

	var updated struct{ Cluster cliCluster }
	cli(t, env, &updated, "ecs", "update-cluster-settings", "--cluster", "cli-a", "--settings", "name=containerInsights,value=disabled")
	if updated.Cluster.Settings[0]["value"] != "disabled" {
		t.Fatalf("update-cluster-settings: %+v", updated.Cluster)
	}
	cli(t, env, &updated, "ecs", "update-cluster", "--cluster", "cli-a", "--settings", "name=containerInsights,value=enhanced")
	if updated.Cluster.Settings[0]["value"] != "enhanced" {
		t.Fatalf("update-cluster: %+v", updated.Cluster)
	}

	// Tags.
	cli(t, env, nil, "ecs", "tag-resource", "--resource-arn", clusterARN("cli-a"), "--tags", "key=team,value=red", "key=owner,value=ops")
	var tags struct{ Tags []map[string]string }
	cli(t, env, &tags, "ecs", "list-tags-for-resource", "--resource-arn", clusterARN("cli-a"))
	if len(tags.Tags) != 3 || tags.Tags[0]["key"] != "team" || tags.Tags[0]["value"] != "red" {
		t.Fatalf("list-tags-for-resource: %+v", tags)
	}
	cli(t, env, nil, "ecs", "untag-resource", "--resource-arn", clusterARN("cli-a"), "--tag-keys", "team", "env")
	cli(t, env, &tags, "ecs", "list-tags-for-resource", "--resource-arn", clusterARN("cli-a"))
	if len(tags.Tags) != 1 || tags.Tags[0]["key"] != "owner" {
		t.Fatalf("after untag-resource: %+v", tags)
	}

	// Listing: one page by hand, then the CLI's own pagination.
	for _, n := range []string{"cli-b", "cli-c", "cli-d"} {
		cli(t, env, nil, "ecs", "create-cluster", "--cluster-name", n)
	}
	var page cliList
	cli(t, env, &page, "ecs", "list-clusters", "--max-results", "2")
	if len(page.ClusterArns) != 2 || page.NextToken == "" {
		t.Fatalf("list-clusters --max-results 2: %+v", page)
	}
	first := slices.Clone(page.ClusterArns)
	cli(t, env, &page, "ecs", "list-clusters", "--max-results", "2", "--next-token", page.NextToken)
	if len(page.ClusterArns) != 2 || page.NextToken == "" {
		t.Fatalf("second page: %+v", page)
	}
	all := []string{clusterARN("cli-a"), clusterARN("cli-b"), clusterARN("cli-c"), clusterARN("cli-d"), clusterARN("default")}
	var every cliList
	cli(t, env, &every, "ecs", "list-clusters", "--page-size", "2")
	if !slices.Equal(every.ClusterArns, all) || !slices.Equal(slices.Concat(first, page.ClusterArns), all[:4]) {
		t.Fatalf("list-clusters: %+v", every)
	}

	// Delete, describe INACTIVE, gone from the list, recreate.
	var deleted struct{ Cluster cliCluster }
	cli(t, env, &deleted, "ecs", "delete-cluster", "--cluster", "cli-a")
	if deleted.Cluster.Status != "INACTIVE" {
		t.Fatalf("delete-cluster: %+v", deleted.Cluster)
	}
	cli(t, env, &d, "ecs", "describe-clusters", "--clusters", "cli-a")
	if len(d.Clusters) != 1 || d.Clusters[0].Status != "INACTIVE" {
		t.Fatalf("describe deleted: %+v", d)
	}
	cli(t, env, &every, "ecs", "list-clusters")
	if slices.Contains(every.ClusterArns, clusterARN("cli-a")) || len(every.ClusterArns) != 4 {
		t.Fatalf("list after delete: %+v", every)
	}
	cli(t, env, &created, "ecs", "create-cluster", "--cluster-name", "cli-a")
	if created.Cluster.Status != "ACTIVE" || len(created.Cluster.Tags) != 0 {
		t.Fatalf("recreate: %+v", created.Cluster)
	}

	// Service errors: exit 254 with AWS's code and message; nothing changes.
	before := bucketState(t, env)
	cliFails(t, env, events.CodeClusterNotFound, "Cluster not found.", "ecs", "delete-cluster", "--cluster", "nope")
	cliFails(t, env, events.CodeInvalidParameter, "Invalid cluster name.", "ecs", "create-cluster", "--cluster-name", "bad.name")
	cliFails(t, env, events.CodeInvalidParameter, "Invalid setting 'value'", "ecs", "update-cluster-settings", "--cluster", "cli-b", "--settings", "name=containerInsights,value=ENABLED")
	cliFails(t, env, events.CodeInvalidParameter, "Invalid setting 'value'", "ecs", "create-cluster", "--cluster-name", "x", "--settings", "name=containerInsights,value=yes")
	cliFails(t, env, events.CodeInvalidParameter, "Invalid nextToken.", "ecs", "list-clusters", "--next-token", "garbage")
	cliFails(t, env, events.CodeInvalidParameter, "", "ecs", "tag-resource", "--resource-arn", clusterARN("cli-b"), "--tags", "key=aws:x,value=y")
	cliFails(t, env, events.CodeClusterNotFound, "Cluster not found.", "ecs", "update-cluster", "--cluster", "nope", "--settings", "name=containerInsights,value=enabled")
	unchanged(t, env, before, "failed CLI calls")
}
