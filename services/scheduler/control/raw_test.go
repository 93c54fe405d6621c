package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/scheduler/control"
)

// raw sends an AWS JSON body straight to the operation's NATS subject and
// returns the reply body.
func raw(t testing.TB, env *testenv.Env, op, body string) (string, error) {
	t.Helper()
	reply, err := natsutil.RequestRaw(context.Background(), env.NC, events.SubjAPI(events.APIECS, op), []byte(body), nil)
	if err != nil {
		return "", err
	}
	return string(reply.Data), nil
}

// TestWire_Shapes checks the JSON on the wire: lists always present where
// the CLI indexes them, optional members absent when not asked for, and
// strict decoding.
func TestWire_Shapes(t *testing.T) {
	env := start(t, control.Config{})
	body, err := raw(t, env, "DescribeClusters", `{"clusters":["nope"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"clusters":[]`) || !strings.Contains(body, `"failures":[{"arn":"`+clusterARN("nope")+`","reason":"MISSING"}]`) {
		t.Fatalf("describe missing: %s", body)
	}
	if body, err = raw(t, env, "ListClusters", ``); err != nil || body != `{"clusterArns":[]}` {
		t.Fatalf("list empty: %s %v", body, err)
	}
	if _, err = raw(t, env, "CreateCluster", `{"clusterName":"w"}`); err != nil {
		t.Fatal(err)
	}
	body, err = raw(t, env, "DescribeClusters", `{"clusters":["w"]}`)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Clusters []map[string]json.RawMessage `json:"clusters"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	got := d.Clusters[0]
	for _, k := range []string{"clusterArn", "clusterName", "status", "registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount", "activeServicesCount", "capacityProviders", "defaultCapacityProviderStrategy"} {
		if _, ok := got[k]; !ok {
			t.Errorf("describe: %s missing in %s", k, body)
		}
	}
	for _, k := range []string{"settings", "tags", "statistics", "configuration", "attachments"} {
		if _, ok := got[k]; ok {
			t.Errorf("describe without include: %s present in %s", k, body)
		}
	}
	if string(got["runningTasksCount"]) != "0" {
		t.Errorf("runningTasksCount: %s", got["runningTasksCount"])
	}

	for _, c := range []struct{ op, body string }{
		{"CreateCluster", `{"clusterName":7}`},
		{"DescribeClusters", `{"clusters":"w"}`},
		{"ListClusters", `{"maxResults":"3"}`},
		{"TagResource", `[]`},
	} {
		_, err := raw(t, env, c.op, c.body)
		if !apierr.HasCode(err, events.CodeSerialization) {
			t.Errorf("%s %s: %v", c.op, c.body, err)
		}
	}
	// Required members missing (the SDKs check them; raw callers may not).
	for _, c := range []struct{ op, body string }{
		{"DeleteCluster", `{}`},
		{"UpdateCluster", `{}`},
		{"UpdateClusterSettings", `{"settings":[]}`},
		{"TagResource", `{"tags":[]}`},
		{"UntagResource", `{"resourceArn":"` + clusterARN("w") + `"}`},
		{"ListTagsForResource", `{}`},
	} {
		_, err := raw(t, env, c.op, c.body)
		if !apierr.HasCode(err, events.CodeInvalidParameter) {
			t.Errorf("%s %s: %v", c.op, c.body, err)
		}
	}
}

func TestNew_Config(t *testing.T) {
	s := natstest.Start(t)
	nc, js := natstest.JetStream(t, s)
	for _, cfg := range []control.Config{
		{Account: testenv.Account},
		{Region: testenv.Region, Account: "12345"},
		{Region: testenv.Region},
	} {
		if _, err := control.New(cfg, nc, js); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := control.New(control.Config{Region: testenv.Region, Account: testenv.Account}, nc, js); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkDescribeClusters_NATS measures one DescribeClusters of 10
// clusters with every include, straight over NATS.
func BenchmarkDescribeClusters_NATS(b *testing.B) {
	env := start(b, control.Config{})
	var names []string
	for i := range 10 {
		n := fmt.Sprintf("b%02d", i)
		names = append(names, `"`+n+`"`)
		if _, err := raw(b, env, "CreateCluster", `{"clusterName":"`+n+`","tags":[{"key":"k","value":"v"}]}`); err != nil {
			b.Fatal(err)
		}
	}
	body := `{"clusters":[` + strings.Join(names, ",") + `],"include":["SETTINGS","TAGS","STATISTICS","CONFIGURATIONS"]}`
	b.ResetTimer()
	for b.Loop() {
		if _, err := raw(b, env, "DescribeClusters", body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateCluster_Idempotent_NATS measures CreateCluster of an
// existing cluster (a read, no write).
func BenchmarkCreateCluster_Idempotent_NATS(b *testing.B) {
	env := start(b, control.Config{})
	if _, err := raw(b, env, "CreateCluster", `{"clusterName":"same"}`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := raw(b, env, "CreateCluster", `{"clusterName":"same"}`); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTagResource_NATS measures a revision-checked write: TagResource
// on one cluster, alternating values.
func BenchmarkTagResource_NATS(b *testing.B) {
	env := start(b, control.Config{})
	if _, err := raw(b, env, "CreateCluster", `{"clusterName":"t"}`); err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		body := fmt.Sprintf(`{"resourceArn":%q,"tags":[{"key":"k","value":"v%d"}]}`, clusterARN("t"), i%2)
		if _, err := raw(b, env, "TagResource", body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListClusters_NATS measures a ListClusters page over 200 clusters.
func BenchmarkListClusters_NATS(b *testing.B) {
	env := start(b, control.Config{})
	for i := range 200 {
		if _, err := raw(b, env, "CreateCluster", fmt.Sprintf(`{"clusterName":"l%03d"}`, i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := raw(b, env, "ListClusters", `{"maxResults":100}`); err != nil {
			b.Fatal(err)
		}
	}
}
