package taskdefs_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/testenv"
)

// examplesDir holds the example task definitions (file:// arguments).
func examplesDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../../examples/taskdefs")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// cliTaskDef is the part of the CLI's JSON output the tests look at.
type cliTaskDef struct {
	TaskDefinitionArn  string           `json:"taskDefinitionArn"`
	Family             string           `json:"family"`
	Revision           int              `json:"revision"`
	Status             string           `json:"status"`
	Compatibilities    []string         `json:"compatibilities"`
	RequiresAttributes []map[string]any `json:"requiresAttributes"`
	Cpu                string           `json:"cpu"`
	Memory             string           `json:"memory"`
	NetworkMode        string           `json:"networkMode"`
	RegisteredAt       string           `json:"registeredAt"`
	RegisteredBy       string           `json:"registeredBy"`
	DeregisteredAt     string           `json:"deregisteredAt"`
	Volumes            []any            `json:"volumes"`
	PlacementConstr    []any            `json:"placementConstraints"`
	Containers         []map[string]any `json:"containerDefinitions"`
}

func cli(t *testing.T, env *testenv.Env, dir string, args ...string) testenv.CLIResult {
	t.Helper()
	res := env.AWS(t, dir, args...)
	if res.Exit != 0 {
		t.Fatalf("aws %s: exit %d\n%s", strings.Join(args, " "), res.Exit, res.Stderr)
	}
	return res
}

func cliTD(t *testing.T, res testenv.CLIResult) cliTaskDef {
	t.Helper()
	var out struct {
		TaskDefinition cliTaskDef `json:"taskDefinition"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		t.Fatalf("CLI output %q: %v", res.Stdout, err)
	}
	return out.TaskDefinition
}

func attrNames(td cliTaskDef) []string {
	out := []string{}
	for _, a := range td.RequiresAttributes {
		out = append(out, a["name"].(string))
	}
	return out
}

func TestCLI_ExampleFlows(t *testing.T) {
	env := startEnv(t, 1)
	dir := examplesDir(t)

	// hello-server: bridge, one nginx container with a dynamic host port.
	hello := cliTD(t, cli(t, env, dir, "ecs", "register-task-definition", "--cli-input-json", "file://hello-server.json"))
	if hello.TaskDefinitionArn != arn("hello-server", 1) || hello.Revision != 1 || hello.Status != "ACTIVE" {
		t.Fatalf("hello-server: %+v", hello)
	}
	if !reflect.DeepEqual(hello.Compatibilities, []string{"EXTERNAL", "EC2"}) {
		t.Errorf("hello-server compatibilities %v", hello.Compatibilities)
	}
	if names := attrNames(hello); len(names) != 0 {
		t.Errorf("hello-server requiresAttributes %v, want none", names)
	}
	if hello.RegisteredBy != "arn:aws:iam::"+testenv.Account+":root" || hello.RegisteredAt == "" {
		t.Errorf("registeredBy/At: %q %q", hello.RegisteredBy, hello.RegisteredAt)
	}
	if hello.Volumes == nil || hello.PlacementConstr == nil {
		t.Errorf("volumes/placementConstraints missing: %+v", hello)
	}
	c := hello.Containers[0]
	wantPM := []any{map[string]any{"containerPort": 80.0, "hostPort": 0.0, "protocol": "tcp"}}
	if !reflect.DeepEqual(c["portMappings"], wantPM) || c["cpu"] != 384.0 || c["memory"] != 384.0 || c["essential"] != true {
		t.Errorf("hello-server container: %v", c)
	}
	for _, k := range []string{"environment", "mountPoints", "volumesFrom"} {
		if v, ok := c[k].([]any); !ok || len(v) != 0 {
			t.Errorf("container %s = %v, want []", k, c[k])
		}
	}

	// sleep360: AWS's own example.
	sleep := cliTD(t, cli(t, env, dir, "ecs", "register-task-definition", "--cli-input-json", "file://sleep360.json"))
	if sleep.TaskDefinitionArn != arn("sleep360", 1) || !reflect.DeepEqual(sleep.Compatibilities, []string{"EXTERNAL", "EC2"}) {
		t.Errorf("sleep360: %+v", sleep)
	}
	if sc := sleep.Containers[0]; !reflect.DeepEqual(sc["command"], []any{"sleep", "360"}) || sc["memory"] != 10.0 || sc["cpu"] != 10.0 {
		t.Errorf("sleep360 container: %v", sc)
	}

	// fargate-task-definition: awsvpc, awslogs, execution role.
	fg := cliTD(t, cli(t, env, dir, "ecs", "register-task-definition", "--cli-input-json", "file://fargate-task-definition.json"))
	if fg.TaskDefinitionArn != arn("fargate-task-definition", 1) || fg.Cpu != "256" || fg.Memory != "512" || fg.NetworkMode != "awsvpc" {
		t.Errorf("fargate: %+v", fg)
	}
	if !reflect.DeepEqual(fg.Compatibilities, []string{"EC2", "FARGATE"}) {
		t.Errorf("fargate compatibilities %v", fg.Compatibilities)
	}
	wantAttrs := []string{
		"com.amazonaws.ecs.capability.logging-driver.awslogs",
		"ecs.capability.execution-role-awslogs",
		"com.amazonaws.ecs.capability.docker-remote-api.1.19",
		"com.amazonaws.ecs.capability.docker-remote-api.1.18",
		"ecs.capability.task-eni",
	}
	if got := attrNames(fg); !reflect.DeepEqual(got, wantAttrs) {
		t.Errorf("fargate requiresAttributes\n got %v\nwant %v", got, wantAttrs)
	}
	if fc := fg.Containers[0]; fc["cpu"] != 0.0 || !reflect.DeepEqual(fc["entryPoint"], []any{"sh", "-c"}) {
		t.Errorf("fargate container: %v", fc)
	}

	// list-task-definitions: ascending by family, then revision.
	var list struct {
		TaskDefinitionArns []string `json:"taskDefinitionArns"`
	}
	res := cli(t, env, dir, "ecs", "list-task-definitions")
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatal(err)
	}
	want := []string{arn("fargate-task-definition", 1), arn("hello-server", 1), arn("sleep360", 1)}
	if !reflect.DeepEqual(list.TaskDefinitionArns, want) {
		t.Errorf("list: %v", list.TaskDefinitionArns)
	}

	// describe by family and by family:revision.
	for _, ref := range []string{"hello-server", "hello-server:1", arn("hello-server", 1)} {
		d := cliTD(t, cli(t, env, dir, "ecs", "describe-task-definition", "--task-definition", ref))
		if d.TaskDefinitionArn != arn("hello-server", 1) {
			t.Errorf("describe %s: %s", ref, d.TaskDefinitionArn)
		}
	}

	// register again: revision 2, now the latest.
	hello2 := cliTD(t, cli(t, env, dir, "ecs", "register-task-definition", "--cli-input-json", "file://hello-server.json"))
	if hello2.Revision != 2 || hello2.TaskDefinitionArn != arn("hello-server", 2) {
		t.Fatalf("second registration: %+v", hello2)
	}
	if d := cliTD(t, cli(t, env, dir, "ecs", "describe-task-definition", "--task-definition", "hello-server")); d.Revision != 2 {
		t.Errorf("latest = %d, want 2", d.Revision)
	}

	// deregister 2: INACTIVE, and the latest-ACTIVE lookup skips it.
	dereg := cliTD(t, cli(t, env, dir, "ecs", "deregister-task-definition", "--task-definition", "hello-server:2"))
	if dereg.Status != "INACTIVE" || dereg.DeregisteredAt == "" {
		t.Errorf("deregister: %+v", dereg)
	}
	if d := cliTD(t, cli(t, env, dir, "ecs", "describe-task-definition", "--task-definition", "hello-server")); d.Revision != 1 {
		t.Errorf("latest ACTIVE after deregister = %d, want 1", d.Revision)
	}
	if d := cliTD(t, cli(t, env, dir, "ecs", "describe-task-definition", "--task-definition", "hello-server:2")); d.Status != "INACTIVE" {
		t.Errorf("hello-server:2 status %s", d.Status)
	}
	res = cli(t, env, dir, "ecs", "list-task-definitions", "--status", "INACTIVE")
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(list.TaskDefinitionArns, []string{arn("hello-server", 2)}) {
		t.Errorf("INACTIVE list: %v", list.TaskDefinitionArns)
	}
	var fams struct {
		Families []string `json:"families"`
	}
	res = cli(t, env, dir, "ecs", "list-task-definition-families")
	if err := json.Unmarshal([]byte(res.Stdout), &fams); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fams.Families, []string{"fargate-task-definition", "hello-server", "sleep360"}) {
		t.Errorf("families: %v", fams.Families)
	}

	// a family that does not exist.
	miss := env.AWS(t, dir, "ecs", "describe-task-definition", "--task-definition", "no-such-family")
	wantErr := "An error occurred (ClientException) when calling the DescribeTaskDefinition operation: Unable to describe task definition."
	if miss.Exit != 254 || !strings.Contains(miss.Stderr, wantErr) {
		t.Errorf("missing family: exit %d, stderr %q", miss.Exit, miss.Stderr)
	}
	// deregister without a revision.
	bare := env.AWS(t, dir, "ecs", "deregister-task-definition", "--task-definition", "hello-server")
	if bare.Exit != 254 || !strings.Contains(bare.Stderr, "(ClientException)") {
		t.Errorf("bare deregister: exit %d, stderr %q", bare.Exit, bare.Stderr)
	}
}
