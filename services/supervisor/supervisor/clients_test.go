package supervisor_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/internal/testenv"
)

// botoWaiters is run by /usr/bin/python3: it creates a service, waits with
// boto3's services_stable, deletes it with force and waits with
// services_inactive.
const botoWaiters = `
import sys, boto3
ecs = boto3.Session(profile_name="berth").client("ecs", endpoint_url=sys.argv[1], region_name="us-east-1")
td = sys.argv[2]
s = ecs.create_service(cluster="c1", serviceName="boto", taskDefinition=td, desiredCount=2)["service"]
assert s["status"] == "ACTIVE" and s["desiredCount"] == 2, s
ecs.get_waiter("services_stable").wait(cluster="c1", services=["boto"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
d = ecs.describe_services(cluster="c1", services=["boto"])["services"][0]
assert d["runningCount"] == 2 and len(d["deployments"]) == 1, d
try:
    ecs.delete_service(cluster="c1", service="boto")
    raise SystemExit("delete of a scaled service accepted")
except ecs.exceptions.InvalidParameterException as e:
    assert "scaled above 0" in str(e), e
ecs.delete_service(cluster="c1", service="boto", force=True)
ecs.get_waiter("services_inactive").wait(cluster="c1", services=["boto"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
print("ok")
`

func TestClients_Boto3AndCLIWaiters(t *testing.T) {
	py := testenv.RequireTool(t, "/usr/bin/python3")
	if out, err := exec.Command(py, "-c", "import boto3").CombinedOutput(); err != nil {
		if testenv.Required() {
			t.Fatalf("boto3 required: %v\n%s", err, out)
		}
		t.Skipf("no boto3: %s", out)
	}
	e := start(t, 1)
	e.cluster(t, "c1")
	e.agents(t, "c1", 2, nil)
	td := e.taskDef(t, "web", "app:1")

	script := filepath.Join(t.TempDir(), "waiters.py")
	if err := os.WriteFile(script, []byte(botoWaiters), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, e.Endpoint, td)
	cmd.Env = append(os.Environ(),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(e.AWSDir, "credentials"), "AWS_CONFIG_FILE="+filepath.Join(e.AWSDir, "config"),
		"AWS_PROFILE=", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}

	// The aws CLI: create-service, wait services-stable, update, delete,
	// wait services-inactive.
	res := e.AWS(t, "", "ecs", "create-service", "--cluster", "c1", "--service-name", "cli", "--task-definition", td, "--desired-count", "2")
	if res.Exit != 0 || !strings.Contains(res.Stdout, `"desiredCount": 2`) {
		t.Fatalf("create-service: %d %s %s", res.Exit, res.Stdout, res.Stderr)
	}
	if res := e.AWS(t, "", "ecs", "wait", "services-stable", "--cluster", "c1", "--services", "cli"); res.Exit != 0 {
		t.Fatalf("wait services-stable: %d %s", res.Exit, res.Stderr)
	}
	res = e.AWS(t, "", "ecs", "delete-service", "--cluster", "c1", "--service", "cli")
	if res.Exit != 254 || !strings.Contains(res.Stderr, "An error occurred (InvalidParameterException) when calling the DeleteService operation: The service cannot be stopped while it is scaled above 0.") {
		t.Fatalf("delete-service without force: %d %s", res.Exit, res.Stderr)
	}
	if res := e.AWS(t, "", "ecs", "update-service", "--cluster", "c1", "--service", "cli", "--desired-count", "0"); res.Exit != 0 {
		t.Fatalf("update-service: %s", res.Stderr)
	}
	if res := e.AWS(t, "", "ecs", "delete-service", "--cluster", "c1", "--service", "cli"); res.Exit != 0 {
		t.Fatalf("delete-service: %s", res.Stderr)
	}
	if res := e.AWS(t, "", "ecs", "wait", "services-inactive", "--cluster", "c1", "--services", "cli"); res.Exit != 0 {
		t.Fatalf("wait services-inactive: %d %s", res.Exit, res.Stderr)
	}
	d, err := e.ecs.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("c1"), Services: []string{"cli", "boto"}})
	if err != nil || len(d.Services) != 2 || aws.ToString(d.Services[0].Status) != "INACTIVE" || aws.ToString(d.Services[1].Status) != "INACTIVE" {
		t.Fatalf("describe after delete: %+v %v", d, err)
	}
}
