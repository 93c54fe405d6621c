package taskdefs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/testenv"
)

const okContainer = `{"name":"a","image":"busybox","memory":64}`

// reg builds a RegisterTaskDefinition body for family errfam from task-level
// members and container definitions.
func reg(task string, containers ...string) string {
	if task != "" {
		task += ","
	}
	return `{` + task + `"family":"errfam","containerDefinitions":[` + strings.Join(containers, ",") + `]}`
}

// regC is reg with one container made of okContainer's members plus extra.
func regC(task, extra string) string {
	return reg(task, `{"name":"a","image":"busybox","memory":64,`+extra+`}`)
}

func tagsJSON(n int) string {
	var ts []string
	for i := range n {
		ts = append(ts, fmt.Sprintf(`{"key":"k%d","value":"v"}`, i))
	}
	return `"tags":[` + strings.Join(ts, ",") + `]`
}

type errCase struct {
	name string
	op   string
	body string
	code events.Code
	msg  string // exact message; "" = only the code is checked
}

func registerErrorCases() []errCase {
	c := func(name, body, msg string) errCase {
		return errCase{name: name, op: "RegisterTaskDefinition", body: body, code: events.CodeClient, msg: msg}
	}
	ser := func(name, body string) errCase {
		return errCase{name: name, op: "RegisterTaskDefinition", body: body, code: events.CodeSerialization}
	}
	inv := func(name, body, msg string) errCase {
		return errCase{name: name, op: "RegisterTaskDefinition", body: body, code: events.CodeInvalidParameter, msg: msg}
	}
	eleven := slices.Repeat([]string{okContainer}, 11)
	for i := range eleven {
		eleven[i] = strings.Replace(okContainer, `"a"`, fmt.Sprintf(`"c%d"`, i), 1)
	}
	bigEnv := `"environment":[` + strings.TrimSuffix(strings.Repeat(`{"name":"PADDING","value":"`+strings.Repeat("x", 1000)+`"},`, 70), ",") + `]`
	return []errCase{
		ser("family not a string", `{"family": 5}`),
		ser("cpu as string", `{"family":"errfam","containerDefinitions":[{"cpu":"1"}]}`),
		ser("truncated JSON", `{"family":"errfam","containerDefinitions":[{"name":"a"`),
		ser("not an object", `[1,2]`),
		ser("fractional integer", regC("", `"cpu":1.5`)),
		ser("boolean as string", regC("", `"essential":"yes"`)),
		ser("list as object", `{"family":"errfam","containerDefinitions":{"name":"a"}}`),
		c("missing family", `{"containerDefinitions":[`+okContainer+`]}`, "Family should not be null or empty."),
		c("family with spaces", `{"family":"bad family","containerDefinitions":[`+okContainer+`]}`, "Family contains invalid characters."),
		c("family too long", `{"family":"`+strings.Repeat("f", 256)+`","containerDefinitions":[`+okContainer+`]}`, "Family contains invalid characters."),
		c("no containers member", `{"family":"errfam"}`, "Container list cannot be empty."),
		c("empty container list", reg(""), "Container list cannot be empty."),
		c("eleven containers", reg("", eleven...), "Too many containers."),
		c("container without name", reg("", `{"image":"busybox","memory":64}`), "Container.name should not be null or empty."),
		c("container name with dot", reg("", `{"name":"a.b","image":"busybox","memory":64}`), "Container.name contains invalid characters."),
		c("duplicate container names", reg("", okContainer, okContainer), "Duplicate container name 'a'. Container names must be unique within a task definition."),
		c("missing image", reg("", `{"name":"a","memory":64}`), "Container.image should not be null or empty."),
		c("no essential container", regC("", `"essential":false`), "At least one essential container is required."),
		c("memoryReservation over memory", regC("", `"memoryReservation":128`), "Invalid setting for container 'a'. 'memory' must be greater than or equal to 'memoryReservation'."),
		c("zero memory", reg("", `{"name":"a","image":"busybox","memory":0}`), "Invalid 'memory' setting for container 'a'."),
		c("fargate bridge", reg(`"requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512"`, okContainer), "Fargate only supports network mode 'awsvpc'."),
		c("fargate without cpu", reg(`"requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","memory":"512"`, okContainer), "Fargate requires that 'cpu' be defined at the task level."),
		c("fargate without memory", reg(`"requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","cpu":"256"`, okContainer), "Fargate requires that 'memory' be defined at the task level."),
		c("fargate bad pair", reg(`"requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","cpu":"256","memory":"4096"`, okContainer), "No Fargate configuration exists for given values."),
		c("fargate 512 with 5GB", reg(`"requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","cpu":".5 vCPU","memory":"5 GB"`, okContainer), "No Fargate configuration exists for given values."),
		c("fargate pidMode host", reg(`"requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","cpu":"256","memory":"512","pidMode":"host"`, okContainer), "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'."),
		c("awsvpc links", reg(`"networkMode":"awsvpc"`, regLinked()...), "Links are not supported when networkMode=awsvpc."),
		c("awsvpc host port differs", regC(`"networkMode":"awsvpc"`, `"portMappings":[{"containerPort":80,"hostPort":8080}]`), "When networkMode=awsvpc, the host ports and container ports in port mappings must match."),
		c("host host port differs", regC(`"networkMode":"host"`, `"portMappings":[{"containerPort":80,"hostPort":8080}]`), "When networkMode=host, the host ports and container ports in port mappings must match."),
		c("none with ports", regC(`"networkMode":"none"`, `"portMappings":[{"containerPort":80}]`), "Port mappings are not supported when networkMode=none."),
		c("unknown networkMode", reg(`"networkMode":"overlay"`, okContainer), "Invalid value 'overlay' for 'networkMode'. Valid values: bridge, host, awsvpc, none."),
		c("unknown compatibility", reg(`"requiresCompatibilities":["LAMBDA"]`, okContainer), "Invalid value 'LAMBDA' for 'requiresCompatibilities'. Valid values: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES."),
		c("external awsvpc", reg(`"requiresCompatibilities":["EXTERNAL"],"networkMode":"awsvpc"`, okContainer), "Task definitions using the EXTERNAL launch type do not support network mode 'awsvpc'."),
		c("unparsable task cpu", reg(`"cpu":"lots"`, okContainer), "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."),
		c("EC2 task cpu too small", reg(`"cpu":"64"`, okContainer), "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."),
		c("unparsable task memory", reg(`"memory":"1TB"`, okContainer), "Invalid 'memory' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."),
		c("container cpu over task cpu", reg(`"cpu":"256"`, `{"name":"a","image":"busybox","memory":64,"cpu":300}`), "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."),
		c("reservations over task memory", reg(`"memory":"512"`, `{"name":"a","image":"busybox","memoryReservation":300}`, `{"name":"b","image":"busybox","memoryReservation":300}`), "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'."),
		c("dependsOn unknown container", regC("", `"dependsOn":[{"containerName":"ghost","condition":"START"}]`), "Invalid 'dependsOn' setting for container 'a'."),
		c("dependsOn bad condition", reg("", okContainer, `{"name":"b","image":"busybox","memory":64,"dependsOn":[{"containerName":"a","condition":"READY"}]}`), "Invalid value 'READY' for 'dependsOn.condition'. Valid values: START, COMPLETE, SUCCESS, HEALTHY."),
		c("mountPoint unknown volume", regC("", `"mountPoints":[{"sourceVolume":"nope","containerPath":"/x"}]`), "Invalid 'mountPoints' setting for container 'a'. Unknown volume 'nope'."),
		c("volumesFrom unknown container", regC("", `"volumesFrom":[{"sourceContainer":"ghost"}]`), "Invalid 'volumesFrom' setting for container 'a'."),
		c("link to unknown container", regC("", `"links":["ghost:g"]`), "Invalid 'links' setting for container 'a'."),
		c("containerPort missing", regC("", `"portMappings":[{"hostPort":80}]`), "Invalid 'containerPort' setting for container 'a'."),
		c("containerPort too big", regC("", `"portMappings":[{"containerPort":70000}]`), "Invalid 'containerPort' setting for container 'a'."),
		c("hostPort negative", regC("", `"portMappings":[{"containerPort":80,"hostPort":-1}]`), "Invalid 'hostPort' setting for container 'a'."),
		c("protocol sctp", regC("", `"portMappings":[{"containerPort":80,"protocol":"sctp"}]`), "Invalid value 'sctp' for 'portMappings.protocol'. Valid values: tcp, udp."),
		c("reversed port range", regC(`"networkMode":"awsvpc"`, `"portMappings":[{"containerPortRange":"9000-8000"}]`), "Invalid 'containerPortRange' setting for container 'a'."),
		c("healthCheck without command", regC("", `"healthCheck":{"interval":30}`), "Invalid 'healthCheck.command' setting for container 'a'."),
		c("healthCheck interval 4", regC("", `"healthCheck":{"command":["CMD","true"],"interval":4}`), "Invalid 'healthCheck.interval' setting for container 'a'."),
		c("healthCheck interval 301", regC("", `"healthCheck":{"command":["CMD","true"],"interval":301}`), "Invalid 'healthCheck.interval' setting for container 'a'."),
		c("healthCheck timeout 1", regC("", `"healthCheck":{"command":["CMD","true"],"timeout":1}`), "Invalid 'healthCheck.timeout' setting for container 'a'."),
		c("healthCheck timeout 61", regC("", `"healthCheck":{"command":["CMD","true"],"timeout":61}`), "Invalid 'healthCheck.timeout' setting for container 'a'."),
		c("healthCheck retries 0", regC("", `"healthCheck":{"command":["CMD","true"],"retries":0}`), "Invalid 'healthCheck.retries' setting for container 'a'."),
		c("healthCheck retries 11", regC("", `"healthCheck":{"command":["CMD","true"],"retries":11}`), "Invalid 'healthCheck.retries' setting for container 'a'."),
		c("healthCheck startPeriod 301", regC("", `"healthCheck":{"command":["CMD","true"],"startPeriod":301}`), "Invalid 'healthCheck.startPeriod' setting for container 'a'."),
		c("unknown log driver", regC("", `"logConfiguration":{"logDriver":"bogus"}`), "Invalid value 'bogus' for 'logConfiguration.logDriver'. Valid values: json-file, syslog, journald, gelf, fluentd, awslogs, splunk, awsfirelens."),
		c("unknown ulimit", regC("", `"ulimits":[{"name":"files","softLimit":1,"hardLimit":2}]`), "Invalid value 'files' for 'ulimits.name'. Valid values: core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack."),
		c("placement constraint type", reg(`"placementConstraints":[{"type":"distinctInstance"}]`, okContainer), "Invalid value 'distinctInstance' for 'placementConstraints.type'. Valid values: memberOf."),
		c("volume with bad name", reg(`"volumes":[{"name":"a/b"}]`, okContainer), "Volume.name contains invalid characters."),
		c("duplicate volume", reg(`"volumes":[{"name":"v"},{"name":"v"}]`, okContainer), "Duplicate volume name 'v'."),
		c("ephemeral storage too small", reg(`"ephemeralStorage":{"sizeInGiB":10}`, okContainer), "Invalid 'ephemeralStorage.sizeInGiB' setting for task. The value must be between 21 and 200."),
		c("over 64 KiB", regC("", bigEnv), ""),
		inv("51 tags", reg(tagsJSON(51), okContainer), "Too many tags. A resource can have at most 50 tags."),
		inv("aws: tag key", reg(`"tags":[{"key":"AWS:owner","value":"x"}]`, okContainer), "Tag keys beginning with 'aws:' are reserved for AWS use."),
		inv("tag key too long", reg(`"tags":[{"key":"`+strings.Repeat("k", 129)+`","value":"x"}]`, okContainer), "1 validation error detected: Value at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"),
		inv("tag value too long", reg(`"tags":[{"key":"k","value":"`+strings.Repeat("v", 257)+`"}]`, okContainer), "1 validation error detected: Value at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"),
		inv("empty tag key", reg(`"tags":[{"value":"x"}]`, okContainer), "1 validation error detected: Value at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"),
		inv("tag key character", reg(`"tags":[{"key":"a#b","value":"x"}]`, okContainer), ""),
		inv("duplicate tag keys", reg(`"tags":[{"key":"k","value":"1"},{"key":"k","value":"2"}]`, okContainer), "Duplicate tag key 'k'. Each tag key must be unique."),
	}
}

func regLinked() []string {
	return []string{`{"name":"a","image":"busybox","memory":64,"links":["b"]}`, `{"name":"b","image":"busybox","memory":64}`}
}

func otherErrorCases() []errCase {
	return []errCase{
		{"describe empty", "DescribeTaskDefinition", `{}`, events.CodeClient, "Unable to describe task definition."},
		{"describe bad revision", "DescribeTaskDefinition", `{"taskDefinition":"errfam:abc"}`, events.CodeInvalidParameter, "Invalid revision number. Number: abc"},
		{"describe unknown revision", "DescribeTaskDefinition", `{"taskDefinition":"errfam:7"}`, events.CodeClient, "Unable to describe task definition."},
		{"describe other account", "DescribeTaskDefinition", `{"taskDefinition":"arn:aws:ecs:us-east-1:999999999999:task-definition/errfam:1"}`, events.CodeClient, "Unable to describe task definition."},
		{"describe bad include", "DescribeTaskDefinition", `{"taskDefinition":"errfam","include":["LABELS"]}`, events.CodeClient, "Invalid value 'LABELS' for 'include'. Valid values: TAGS."},
		{"describe wrong type", "DescribeTaskDefinition", `{"taskDefinition":["errfam"]}`, events.CodeSerialization, ""},
		{"list maxResults 0", "ListTaskDefinitions", `{"maxResults":0}`, events.CodeInvalidParameter, "maxResults must be between 1 and 100, got 0."},
		{"list maxResults 101", "ListTaskDefinitions", `{"maxResults":101}`, events.CodeInvalidParameter, "maxResults must be between 1 and 100, got 101."},
		{"list bad token", "ListTaskDefinitions", `{"nextToken":"not-a-token!"}`, events.CodeInvalidParameter, "Invalid nextToken."},
		{"list bad status", "ListTaskDefinitions", `{"status":"DELETED"}`, events.CodeClient, "Invalid value 'DELETED' for 'status'. Valid values: ACTIVE, INACTIVE, DELETE_IN_PROGRESS."},
		{"list bad sort", "ListTaskDefinitions", `{"sort":"UP"}`, events.CodeClient, "Invalid value 'UP' for 'sort'. Valid values: ASC, DESC."},
		{"families bad status", "ListTaskDefinitionFamilies", `{"status":"DELETE_IN_PROGRESS"}`, events.CodeClient, "Invalid value 'DELETE_IN_PROGRESS' for 'status'. Valid values: ACTIVE, INACTIVE, ALL."},
		{"families bad token", "ListTaskDefinitionFamilies", `{"nextToken":"e30"}`, events.CodeInvalidParameter, "Invalid nextToken."},
		{"deregister bare family", "DeregisterTaskDefinition", `{"taskDefinition":"errfam"}`, events.CodeClient, "Revision is missing."},
		{"deregister unknown", "DeregisterTaskDefinition", `{"taskDefinition":"errfam:9"}`, events.CodeClient, "Unable to describe task definition."},
		{"delete none", "DeleteTaskDefinitions", `{"taskDefinitions":[]}`, events.CodeInvalidParameter, "size of TaskDefinition references list must be greater than 0"},
		{"delete eleven", "DeleteTaskDefinitions", `{"taskDefinitions":["a:1","a:2","a:3","a:4","a:5","a:6","a:7","a:8","a:9","a:10","a:11"]}`, events.CodeInvalidParameter, "Size of TaskDefinition references list cannot exceed 10"},
	}
}

// bucketState is everything the service stored: every key and its KV
// revision.
func bucketState(t *testing.T, env *testenv.Env) map[string]uint64 {
	t.Helper()
	kv, err := env.JS.KeyValue(context.Background(), events.BucketTaskDefs.Name)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(context.Background())
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return map[string]uint64{}
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, k := range keys {
		e, err := kv.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = e.Revision()
	}
	return out
}

func TestErrors_NothingStored(t *testing.T) {
	env := startEnv(t, 1)
	c := env.ECS()
	ctx := context.Background()
	if res := rawCall(t, env, "RegisterTaskDefinition", []byte(reg("", okContainer)), aws.Credentials{}); res.Status != http.StatusOK {
		t.Fatalf("baseline: %d %s", res.Status, res.Body)
	}
	before := bucketState(t, env)
	if len(before) != 2 {
		t.Fatalf("baseline keys: %v", before)
	}
	for _, tc := range slices.Concat(registerErrorCases(), otherErrorCases()) {
		t.Run(tc.name, func(t *testing.T) {
			res := rawCall(t, env, tc.op, []byte(tc.body), aws.Credentials{})
			if res.Status != http.StatusBadRequest {
				t.Fatalf("status %d, body %s", res.Status, res.Body)
			}
			code, msg := res.errorBody(t)
			if code != string(tc.code) || res.Header.Get("X-Amzn-ErrorType") != string(tc.code) {
				t.Fatalf("code %q (header %q), want %s; message %q", code, res.Header.Get("X-Amzn-ErrorType"), tc.code, msg)
			}
			if tc.msg != "" && msg != tc.msg {
				t.Fatalf("message\n got %q\nwant %q", msg, tc.msg)
			}
			if tc.name == "over 64 KiB" && !strings.HasPrefix(msg, "Actual length: '") {
				t.Fatalf("size message %q", msg)
			}
			if after := bucketState(t, env); !mapsEqual(after, before) {
				t.Fatalf("state changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	// The SDK sees typed errors.
	_, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("errfam"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a")}},
	})
	var ce *types.ClientException
	if !errors.As(err, &ce) || ce.ErrorMessage() != "Container.image should not be null or empty." {
		t.Fatalf("SDK error: %v", err)
	}
	_, err = c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{NextToken: aws.String("zzz")})
	var ipe *types.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Fatalf("SDK bad token: %v", err)
	}
	if after := bucketState(t, env); !mapsEqual(after, before) {
		t.Fatalf("state changed by SDK errors: %v", after)
	}
	// Nothing new is listed, and the counter was not bumped.
	if got := listAll(t, c, "ACTIVE"); !slices.Equal(got, []string{arn("errfam", 1)}) {
		t.Errorf("ACTIVE: %v", got)
	}
	for _, st := range []string{"INACTIVE", "DELETE_IN_PROGRESS"} {
		if got := listAll(t, c, st); len(got) != 0 {
			t.Errorf("%s: %v", st, got)
		}
	}
	out, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("errfam"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("busybox"), Memory: aws.Int32(64)}},
	})
	if err != nil || out.TaskDefinition.Revision != 2 {
		t.Fatalf("next registration: %v %+v", err, out)
	}
}

func TestErrors_Authentication(t *testing.T) {
	env := startEnv(t, 1)
	before := bucketState(t, env)
	body := []byte(reg("", okContainer))
	cases := []struct {
		name  string
		creds aws.Credentials
		code  events.Code
	}{
		{"bad signature", aws.Credentials{AccessKeyID: env.Key.AccessKeyID, SecretAccessKey: "not-the-secret"}, events.CodeInvalidSignature},
		{"unknown access key", aws.Credentials{AccessKeyID: "AKIANOTAREALKEY00000", SecretAccessKey: "x"}, events.CodeUnrecognizedClient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := rawCall(t, env, "RegisterTaskDefinition", body, tc.creds)
			if code, msg := res.errorBody(t); res.Status != http.StatusBadRequest || code != string(tc.code) {
				t.Fatalf("%d %s %s", res.Status, code, msg)
			}
		})
	}
	if after := bucketState(t, env); !mapsEqual(after, before) {
		t.Fatalf("state changed: %v", after)
	}
	// Lists on an empty bucket still carry their (empty) lists.
	for op, member := range map[string]string{"ListTaskDefinitions": "taskDefinitionArns", "ListTaskDefinitionFamilies": "families"} {
		res := rawCall(t, env, op, []byte(`{}`), aws.Credentials{})
		var body map[string]any
		if err := json.Unmarshal(res.Body, &body); err != nil || res.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", op, res.Status, res.Body)
		}
		if l, ok := body[member].([]any); !ok || len(l) != 0 {
			t.Fatalf("%s: %s", op, res.Body)
		}
	}
	// The first valid registration is revision 1.
	var out struct {
		TaskDefinition struct{ Revision int } `json:"taskDefinition"`
	}
	res := rawCall(t, env, "RegisterTaskDefinition", body, aws.Credentials{})
	if err := json.Unmarshal(res.Body, &out); err != nil || out.TaskDefinition.Revision != 1 {
		t.Fatalf("first registration: %v %s", err, res.Body)
	}
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
