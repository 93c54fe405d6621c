package agent

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
)

// The introspection API lists tasks and containers like the ECS agent's,
// with the dockerid / taskarn filters and their errors.
func TestAgent_Introspection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a, _ := e.start(e.config())
	base := "http://" + a.IntrospectionAddr()

	var md introMetadata
	if code := getJSON(t, base+"/v1/metadata", &md); code != 200 || md.Cluster != "default" ||
		md.ContainerInstanceArn == nil || *md.ContainerInstanceArn != a.ContainerInstanceArn() || !strings.HasPrefix(md.Version, "Berth Agent - v") {
		t.Fatalf("metadata %d %+v", code, md)
	}

	asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
		{Name: "web", Command: []string{"httpd", "-f", "-p", "80", "-h", "/www"},
			PortMappings: []ecsapi.PortMapping{{ContainerPort: ptr[int32](80)}}},
		sleeper("side", 0),
	}})
	e.put(asg)
	r := e.waitStatus(asg.TaskArn, 30*time.Second, "RUNNING")
	webID := container(r, "web").RuntimeID

	var all introTasks
	if code := getJSON(t, base+"/v1/tasks", &all); code != 200 || len(all.Tasks) != 1 {
		t.Fatalf("tasks %d %+v", code, all)
	}
	task := all.Tasks[0]
	if task.Arn != asg.TaskArn || task.KnownStatus != "RUNNING" || task.DesiredStatus != "RUNNING" || task.Family != "fam" ||
		task.Version != "1" || len(task.Containers) != 2 {
		t.Fatalf("task %+v", task)
	}
	var web introContainer
	for _, c := range task.Containers {
		if c.Name == "web" {
			web = c
		}
	}
	if web.DockerID != webID || !strings.HasPrefix(web.DockerName, "berth-fam-1-web-") || web.Image != e.img ||
		!strings.HasPrefix(web.ImageID, "sha256:") || web.CreatedAt == nil || web.StartedAt == nil {
		t.Errorf("web container %+v", web)
	}
	if len(web.Ports) == 0 || web.Ports[0].ContainerPort != 80 || web.Ports[0].HostPort == 0 || web.Ports[0].Protocol != "tcp" {
		t.Errorf("ports %+v", web.Ports)
	}
	if len(web.Networks) != 1 || web.Networks[0].NetworkMode != "bridge" || len(web.Networks[0].IPv4Addresses) != 1 {
		t.Errorf("networks %+v", web.Networks)
	}

	for _, q := range []string{"?dockerid=" + webID, "?dockerid=" + webID[:12], "?taskarn=" + asg.TaskArn} {
		var one introTask
		if code := getJSON(t, base+"/v1/tasks"+q, &one); code != 200 || one.Arn != asg.TaskArn {
			t.Errorf("%s: %d %+v", q, code, one)
		}
	}
	for q, want := range map[string]int{
		"?dockerid=" + webID + "&taskarn=" + asg.TaskArn:                http.StatusBadRequest,
		"?dockerid=0123456789abcdef":                                    http.StatusNotFound,
		"?taskarn=arn:aws:ecs:us-east-1:000000000000:task/default/nope": http.StatusNotFound,
	} {
		if code := getJSON(t, base+"/v1/tasks"+q, nil); code != want {
			t.Errorf("%s: %d, want %d", q, code, want)
		}
	}
}

// Containers find the task metadata endpoint through
// ECS_CONTAINER_METADATA_URI_V4: in host mode on the agent's address, in
// bridge mode on the bridge gateway; none mode gets no URI. The test also
// reads every v4 route itself.
func TestAgent_MetadataEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a, _ := e.start(e.config())
	if a.bridgeBase == "" {
		t.Fatal("no bridge-gateway metadata listener")
	}

	// The container checks the task document names its own task (the ARN
	// comes in through the environment) and exits 0; 1 when wget fails, 4
	// when the document is not about its task.
	check := `out=$(wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task") || exit 1; case "$out" in *"\"TaskARN\": \"$EXPECT\""*) exit 0;; *) echo "$out"; exit 4;; esac`
	fetcher := func(mode string) (string, ecsapi.TaskDefinition) {
		def := ecsapi.TaskDefinition{NetworkMode: mode, ContainerDefinitions: []ecsapi.ContainerDefinition{
			{Name: "probe", Command: []string{"sh", "-c", check}},
		}}
		return mode, def
	}
	type run struct{ mode, arn string }
	var runs []run
	for _, mode := range []string{"host", "bridge"} {
		_, def := fetcher(mode)
		asg := e.task(a.ContainerInstanceArn(), def)
		asg.TaskDefinition.ContainerDefinitions[0].Environment = []ecsapi.KeyValuePair{{Name: "EXPECT", Value: asg.TaskArn}}
		e.put(asg)
		runs = append(runs, run{mode, asg.TaskArn})
	}
	none := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{NetworkMode: "none", ContainerDefinitions: []ecsapi.ContainerDefinition{
		{Name: "probe", Command: []string{"sh", "-c", `test -z "$ECS_CONTAINER_METADATA_URI_V4" && test -z "$ECS_CONTAINER_METADATA_URI"`}},
	}})
	e.put(none)
	runs = append(runs, run{"none", none.TaskArn})
	for _, r := range runs {
		rep := e.waitStatus(r.arn, 30*time.Second, "STOPPED")
		if c := container(rep, "probe"); c.ExitCode == nil || *c.ExitCode != 0 {
			t.Errorf("%s mode: %s", r.mode, summary(rep))
		}
	}

	// A long-running bridge task, read from the test.
	asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{Cpu: "512", Memory: "256", ContainerDefinitions: []ecsapi.ContainerDefinition{
		func() ecsapi.ContainerDefinition {
			c := sleeper("app", 0)
			c.Cpu, c.Memory = ptr[int32](128), ptr[int32](64)
			return c
		}(),
	}})
	asg.Group = "service:web"
	// RunTask overrides are the limits the endpoint shows and Docker applies.
	asg.Overrides = &ecsapi.TaskOverride{Cpu: "1024", Memory: "512",
		ContainerOverrides: []ecsapi.ContainerOverride{{Name: "app", Cpu: ptr[int32](200), Memory: ptr[int32](100)}}}
	e.put(asg)
	rep := e.waitStatus(asg.TaskArn, 30*time.Second, "RUNNING")
	appID := container(rep, "app").RuntimeID
	in, err := e.dc.InspectContainer(t.Context(), appID)
	if err != nil {
		t.Fatal(err)
	}
	if in.CPUShares != 200 || in.Memory != 100<<20 {
		t.Errorf("docker: CpuShares %d, Memory %d; want the override's 200 and 100 MiB", in.CPUShares, in.Memory)
	}
	uri := envValue(in.Env, EnvMetadataURIV4)
	if !strings.HasPrefix(uri, a.bridgeBase+"/v4/") || envValue(in.Env, EnvMetadataURIV3) == "" {
		t.Fatalf("env %v (bridge base %s)", in.Env, a.bridgeBase)
	}
	// The test reaches the endpoint on the loopback listener with the same id.
	id := uri[strings.LastIndexByte(uri, '/')+1:]
	local := a.hostBase + "/v4/" + id

	var mc metaContainer
	if code := getJSON(t, local, &mc); code != 200 || mc.DockerID != appID || mc.Name != "app" || mc.KnownStatus != "RUNNING" ||
		mc.Type != "NORMAL" || mc.Limits.CPU == nil || *mc.Limits.CPU != 200 || mc.Limits.Memory == nil || *mc.Limits.Memory != 100 ||
		mc.Labels["com.amazonaws.ecs.task-arn"] != asg.TaskArn || len(mc.Networks) != 1 || mc.CreatedAt == nil || mc.LogDriver == "" {
		t.Errorf("container %d %+v", code, mc)
	}
	var mt metaTask
	if code := getJSON(t, local+"/task", &mt); code != 200 || mt.TaskARN != asg.TaskArn || mt.Family != "fam" || mt.Revision != "1" ||
		mt.KnownStatus != "RUNNING" || mt.DesiredStatus != "RUNNING" || len(mt.Containers) != 1 || mt.LaunchType != "EC2" ||
		mt.Cluster != asg.ClusterArn || mt.ServiceName != "web" || mt.AvailabilityZone != "us-east-1a" ||
		mt.Limits == nil || *mt.Limits.CPU != 1 || *mt.Limits.Memory != 512 || mt.PullStartedAt == nil {
		t.Errorf("task %d %+v", code, mt)
	}
	var v3 metaTask
	if code := getJSON(t, a.hostBase+"/v3/"+id+"/task", &v3); code != 200 || v3.Cluster != "default" || v3.TaskARN != asg.TaskArn {
		t.Errorf("v3 task %d %+v", code, v3)
	}

	var st map[string]json.RawMessage
	for i := range 2 { // the second sample takes precpu_stats from the first
		if code := getJSON(t, local+"/stats", &st); code != 200 {
			t.Fatalf("stats %d", code)
		}
		for _, k := range []string{"read", "cpu_stats", "memory_stats", "networks", "network_rate_stats", "precpu_stats"} {
			if len(st[k]) == 0 || string(st[k]) == "null" {
				t.Errorf("stats #%d: no %s", i, k)
			}
		}
	}
	var pre struct {
		Usage struct {
			Total uint64 `json:"total_usage"`
		} `json:"cpu_usage"`
	}
	if err := json.Unmarshal(st["precpu_stats"], &pre); err != nil || pre.Usage.Total == 0 {
		t.Errorf("precpu_stats %s", st["precpu_stats"])
	}
	var ts map[string]json.RawMessage
	if code := getJSON(t, local+"/task/stats", &ts); code != 200 || len(ts[appID]) == 0 {
		t.Errorf("task stats %d: %v", code, ts)
	}
	if code := getJSON(t, a.hostBase+"/v4/"+taskIDOf(asg.TaskArn)+"-0000000000000000", nil); code != http.StatusNotFound {
		t.Errorf("unknown id: %d", code)
	}
}

func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}
