package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/services/agent/docker"
)

// seedsFargateSample is the seeds' Fargate sample task definition (httpd,
// awsvpc, FARGATE, cpu 256, memory 512, awslogs).
const seedsFargateSample = "../../examples/taskdefs/fargate-task-definition.json"

// TestE2E_FargateSample is the acceptance of issue 15: the seeds' Fargate
// sample, with only its image replaced by a local httpd-capable image pushed
// to Berth (busybox with the httpd image's htdocs folder and an
// httpd-foreground that runs busybox httpd), runs on the all-in-one with
// `aws ecs run-task --launch-type FARGATE --network-configuration
// awsvpcConfiguration={subnets=[subnet-12345678],assignPublicIp=DISABLED}`;
// its private address answers HTTP from the host with the sample's page;
// describe-tasks shows the ENI attachment and no container instance.
func TestE2E_FargateSample(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin := buildBerth(t)
	owner := e2eOwner(t)
	t.Cleanup(func() {
		removeContainers(t, "label="+docker.LabelManaged+"="+owner)
		_ = exec.Command("docker", "network", "rm", docker.AWSVPCNetworkName(owner)).Run()
	})
	subnet := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 208+rand.IntN(8), rand.IntN(256)))
	p := startBerthWithAgent(t, bin, t.TempDir(), owner, "--agent-awsvpc-subnet", subnet.String())
	c := p.ecs(t)
	p.aws(t, "ecr", "create-repository", "--repository-name", "httpd")
	image := p.pushImage(t, "httpd", "2.4", httpdImage(t))

	raw, err := os.ReadFile(seedsFargateSample)
	if err != nil {
		t.Fatal(err)
	}
	var td map[string]any
	if err := json.Unmarshal(raw, &td); err != nil {
		t.Fatal(err)
	}
	td["containerDefinitions"].([]any)[0].(map[string]any)["image"] = image
	// The sample's awslogs options name a group without awslogs-create-group,
	// so the group must exist, as on AWS.
	p.aws(t, "logs", "create-log-group", "--log-group-name", "/ecs/fargate-task-definition")
	family := p.registerTaskDef(t, td)

	out := p.aws(t, "ecs", "run-task", "--task-definition", family, "--launch-type", "FARGATE",
		"--network-configuration", "awsvpcConfiguration={subnets=[subnet-12345678],assignPublicIp=DISABLED}")
	tasks, _ := out["tasks"].([]any)
	if len(tasks) != 1 {
		reg := p.aws(t, "ecs", "describe-task-definition", "--task-definition", family)["taskDefinition"].(map[string]any)
		insts := p.aws(t, "ecs", "list-container-instances")["containerInstanceArns"].([]any)
		ci := p.aws(t, "ecs", "describe-container-instances", "--container-instances", insts[0].(string))
		t.Fatalf("run-task: %v\nrequiresAttributes %v\ninstance %v", out, reg["requiresAttributes"], ci)
	}
	arn := tasks[0].(map[string]any)["taskArn"].(string)
	waitTask(t, c, arn, 2*time.Minute, status("RUNNING"))

	desc := p.aws(t, "ecs", "describe-tasks", "--tasks", arn)["tasks"].([]any)[0].(map[string]any)
	if desc["launchType"] != "FARGATE" || desc["capacityProviderName"] != "FARGATE" || desc["platformVersion"] != "1.4.0" || desc["containerInstanceArn"] != nil {
		t.Fatalf("describe-tasks: %v", desc)
	}
	atts, _ := desc["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("attachments: %v", desc["attachments"])
	}
	att := atts[0].(map[string]any)
	details := map[string]string{}
	for _, d := range att["details"].([]any) {
		kv := d.(map[string]any)
		details[kv["name"].(string)] = kv["value"].(string)
	}
	ip, err := netip.ParseAddr(details["privateIPv4Address"])
	if att["type"] != "ElasticNetworkInterface" || att["status"] != "ATTACHED" || details["subnetId"] != "subnet-12345678" ||
		!strings.HasPrefix(details["networkInterfaceId"], "eni-") || err != nil || !subnet.Contains(ip) {
		t.Fatalf("attachment: %v", att)
	}
	ni := desc["containers"].([]any)[0].(map[string]any)["networkInterfaces"].([]any)
	if len(ni) != 1 || ni[0].(map[string]any)["privateIpv4Address"] != ip.String() || ni[0].(map[string]any)["attachmentId"] != att["id"] {
		t.Fatalf("networkInterfaces: %v", ni)
	}

	natstest.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		resp, err := http.Get("http://" + ip.String() + ":80/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "Amazon ECS Sample App") {
			return fmt.Errorf("GET %s: %q", ip, body)
		}
		return nil
	})

	// Not shown on the local agent's container instance.
	insts := p.aws(t, "ecs", "list-container-instances")["containerInstanceArns"].([]any)
	onInst := p.aws(t, "ecs", "list-tasks", "--container-instance", insts[0].(string))["taskArns"].([]any)
	fargate := p.aws(t, "ecs", "list-tasks", "--launch-type", "FARGATE")["taskArns"].([]any)
	if len(onInst) != 0 || len(fargate) != 1 || fargate[0] != arn {
		t.Fatalf("list-tasks: on the instance %v, FARGATE %v", onInst, fargate)
	}

	p.aws(t, "ecs", "stop-task", "--task", arn)
	stopped := waitTask(t, c, arn, time.Minute, status("STOPPED"))
	if len(stopped.Attachments) != 1 || aws.ToString(stopped.Attachments[0].Status) != "DELETED" {
		t.Fatalf("stopped task attachment: %+v", stopped.Attachments)
	}
}

// httpdImage is the busybox test image with what the sample's command
// expects of the httpd image: /usr/local/apache2/htdocs and an
// httpd-foreground on the PATH (here busybox httpd in the foreground).
func httpdImage(t testing.TB) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/apache2/", "usr/local/apache2/htdocs/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	script := []byte("#!/bin/sh\nexec httpd -f -p 80 -h /usr/local/apache2/htdocs\n")
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/httpd-foreground", Mode: 0o755, Size: int64(len(script)), ModTime: epoch}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(script); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(busyboxImage(t), layer)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
