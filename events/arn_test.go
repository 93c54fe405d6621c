package events

import (
	"errors"
	"testing"
)

const (
	tRegion  = "us-east-1"
	tAccount = "123456789012"
)

func TestARN_Builders(t *testing.T) {
	cases := []struct {
		name, got, want string
	}{
		{"cluster", ClusterARN(tRegion, tAccount, "default"), "arn:aws:ecs:us-east-1:123456789012:cluster/default"},
		{"service", ServiceARN(tRegion, tAccount, "prod", "web"), "arn:aws:ecs:us-east-1:123456789012:service/prod/web"},
		{"task", TaskARN(tRegion, tAccount, "prod", "0123456789abcdef0123456789abcdef"), "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"},
		{"container-instance", ContainerInstanceARN(tRegion, tAccount, "prod", "abc"), "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/abc"},
		{"container", ContainerARN(tRegion, tAccount, "prod", "t1", "u-u-i-d"), "arn:aws:ecs:us-east-1:123456789012:container/prod/t1/u-u-i-d"},
		{"task-definition", TaskDefinitionARN(tRegion, tAccount, "web", 7), "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"},
		{"capacity-provider", CapacityProviderARN(tRegion, tAccount, "FARGATE"), "arn:aws:ecs:us-east-1:123456789012:capacity-provider/FARGATE"},
		{"task-set", TaskSetARN(tRegion, tAccount, "prod", "web", "ecs-svc/1234567890123456789"), "arn:aws:ecs:us-east-1:123456789012:task-set/prod/web/ecs-svc/1234567890123456789"},
		{"repository", RepositoryARN(tRegion, tAccount, "team/app"), "arn:aws:ecr:us-east-1:123456789012:repository/team/app"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, c.got, c.want)
		}
	}
}

func TestParseECSARN_Valid(t *testing.T) {
	base := ARN{Partition: "aws", Service: "ecs", Region: tRegion, Account: tAccount}
	with := func(resource string) ARN { a := base; a.Resource = resource; return a }
	cases := []struct {
		in   string
		want ECSResource
	}{
		{ClusterARN(tRegion, tAccount, "my_cluster-1"), ECSResource{ARN: with("cluster/my_cluster-1"), Type: ResourceCluster, Cluster: "my_cluster-1"}},
		{ServiceARN(tRegion, tAccount, "c", "s"), ECSResource{ARN: with("service/c/s"), Type: ResourceService, Cluster: "c", Name: "s"}},
		{"arn:aws:ecs:us-east-1:123456789012:service/s", ECSResource{ARN: with("service/s"), Type: ResourceService, Name: "s"}},
		{TaskARN(tRegion, tAccount, "c", "id1"), ECSResource{ARN: with("task/c/id1"), Type: ResourceTask, Cluster: "c", ID: "id1"}},
		{"arn:aws:ecs:us-east-1:123456789012:task/id1", ECSResource{ARN: with("task/id1"), Type: ResourceTask, ID: "id1"}},
		{ContainerInstanceARN(tRegion, tAccount, "c", "ci"), ECSResource{ARN: with("container-instance/c/ci"), Type: ResourceContainerInstance, Cluster: "c", ID: "ci"}},
		{ContainerARN(tRegion, tAccount, "c", "t", "u"), ECSResource{ARN: with("container/c/t/u"), Type: ResourceContainer, Cluster: "c", TaskID: "t", ID: "u"}},
		{"arn:aws:ecs:us-east-1:123456789012:container/u", ECSResource{ARN: with("container/u"), Type: ResourceContainer, ID: "u"}},
		{TaskDefinitionARN(tRegion, tAccount, "web", 12), ECSResource{ARN: with("task-definition/web:12"), Type: ResourceTaskDefinition, Name: "web", Revision: 12}},
		{"arn:aws:ecs:us-east-1:123456789012:task-definition/web", ECSResource{ARN: with("task-definition/web"), Type: ResourceTaskDefinition, Name: "web"}},
		{CapacityProviderARN(tRegion, tAccount, "cp"), ECSResource{ARN: with("capacity-provider/cp"), Type: ResourceCapacityProvider, Name: "cp"}},
		{TaskSetARN(tRegion, tAccount, "c", "s", "ecs-svc/42"), ECSResource{ARN: with("task-set/c/s/ecs-svc/42"), Type: ResourceTaskSet, Cluster: "c", Name: "s", ID: "ecs-svc/42"}},
		{"arn:aws-cn:ecs:cn-north-1:123456789012:cluster/x", ECSResource{ARN: ARN{Partition: "aws-cn", Service: "ecs", Region: "cn-north-1", Account: tAccount, Resource: "cluster/x"}, Type: ResourceCluster, Cluster: "x"}},
	}
	for _, c := range cases {
		got, err := ParseECSARN(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.in, got, c.want)
		}
		if got.String() != c.in {
			t.Errorf("%s: String() = %s", c.in, got.String())
		}
	}
}

func TestParseECSARN_Invalid(t *testing.T) {
	for _, in := range []string{
		"",
		"default",
		"arn:aws:ecs:us-east-1:123456789012",
		"arn::ecs:us-east-1:123456789012:cluster/x",
		"arn:aws:ecs::123456789012:cluster/x",
		"arn:aws:ecs:us-east-1:1234:cluster/x",
		"arn:aws:ecs:us-east-1:12345678901a:cluster/x",
		"arn:aws:ecs:us-east-1:123456789012:",
		"arn:aws:ecr:us-east-1:123456789012:cluster/x",
		"arn:aws:ecs:us-east-1:123456789012:cluster",
		"arn:aws:ecs:us-east-1:123456789012:cluster/",
		"arn:aws:ecs:us-east-1:123456789012:cluster/a/b",
		"arn:aws:ecs:us-east-1:123456789012:cluster//a",
		"arn:aws:ecs:us-east-1:123456789012:service/c/s/x",
		"arn:aws:ecs:us-east-1:123456789012:task/c/t/x",
		"arn:aws:ecs:us-east-1:123456789012:container/c/t",
		"arn:aws:ecs:us-east-1:123456789012:task-definition/web:0",
		"arn:aws:ecs:us-east-1:123456789012:task-definition/web:01",
		"arn:aws:ecs:us-east-1:123456789012:task-definition/web:x",
		"arn:aws:ecs:us-east-1:123456789012:task-definition/:1",
		"arn:aws:ecs:us-east-1:123456789012:task-set/c/s",
		"arn:aws:ecs:us-east-1:123456789012:widget/x",
		"xrn:aws:ecs:us-east-1:123456789012:cluster/x",
	} {
		if _, err := ParseECSARN(in); !errors.Is(err, ErrInvalidARN) {
			t.Errorf("%q: want ErrInvalidARN, got %v", in, err)
		}
	}
}

func TestParseClusterARN(t *testing.T) {
	cases := []struct {
		in      string
		name    string
		wantErr bool
	}{
		{ClusterARN(tRegion, tAccount, "default"), "default", false},
		{TaskARN(tRegion, tAccount, "default", "x"), "", true},
		{"arn:aws:ecs:us-east-1:123456789012:cluster/a.b", "a.b", false}, // names are checked by the caller
	}
	for _, c := range cases {
		r, err := ParseClusterARN(c.in)
		if (err != nil) != c.wantErr || r.Cluster != c.name {
			t.Errorf("%s: got %+v, %v", c.in, r, err)
		}
	}
}

func TestClusterNameOf(t *testing.T) {
	cases := []struct {
		in, want string
		wantErr  bool
	}{
		{"prod", "prod", false},
		{"", "", false},
		{ClusterARN(tRegion, tAccount, "prod"), "prod", false},
		{"arn:aws:ecs:us-east-1:123456789012:service/prod/web", "", true},
		{"arn:nonsense", "", true},
	}
	for _, c := range cases {
		got, err := ClusterNameOf(c.in)
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("%q: got %q, %v", c.in, got, err)
		}
	}
}

func TestParseRepositoryARN(t *testing.T) {
	cases := []struct {
		in, name string
		wantErr  bool
	}{
		{RepositoryARN(tRegion, tAccount, "app"), "app", false},
		{RepositoryARN(tRegion, tAccount, "team/sub/app"), "team/sub/app", false},
		{"arn:aws:ecr:us-east-1:123456789012:repository/", "", true},
		{"arn:aws:ecr:us-east-1:123456789012:repository/a//b", "", true},
		{"arn:aws:ecr:us-east-1:123456789012:image/app", "", true},
		{ClusterARN(tRegion, tAccount, "app"), "", true},
	}
	for _, c := range cases {
		a, name, err := ParseRepositoryARN(c.in)
		if name != c.name || (err != nil) != c.wantErr {
			t.Errorf("%q: got %q, %v", c.in, name, err)
		}
		if err == nil && (a.Account != tAccount || a.Region != tRegion || a.Service != "ecr") {
			t.Errorf("%q: fields %+v", c.in, a)
		}
	}
}
