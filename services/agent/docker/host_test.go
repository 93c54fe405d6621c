package docker_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/berth-project/berth/events/ecsapi"
)

// Info, the bridge gateway, stats, and the inspect fields the agent's
// introspection and metadata endpoints serve.
func TestClient_HostInfoStatsAndInspectDetails(t *testing.T) {
	t.Parallel()
	c, img, owner := setup(t)
	ctx := t.Context()

	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID == "" || info.ServerVersion == "" || info.NCPU < 1 || info.MemTotal <= 0 || info.APIVersion == "" {
		t.Errorf("info = %+v", info)
	}
	if c.DaemonHost() == "" {
		t.Error("DaemonHost is empty")
	}
	gw, err := c.BridgeGateway(ctx)
	if err != nil || !gw.Is4() {
		t.Errorf("BridgeGateway = %v, %v", gw, err)
	}

	s := spec(owner, img, "app", ecsapi.ContainerDefinition{
		Command:     []string{"sleep", "60"},
		Memory:      ptr[int32](32),
		Environment: []ecsapi.KeyValuePair{{Name: "A", Value: "1"}},
		LogConfiguration: &ecsapi.LogConfiguration{LogDriver: "json-file",
			Options: map[string]string{"max-size": "1m"}},
	})
	s.Env = map[string]string{"INJECTED": "yes"}
	id, err := c.CreateContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	in, err := c.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Created.IsZero() || in.Memory != 32<<20 || in.LogDriver != "json-file" || in.LogOptions["max-size"] != "1m" {
		t.Errorf("inspect: created %v memory %d log %s %v", in.Created, in.Memory, in.LogDriver, in.LogOptions)
	}
	if !slices.Contains(in.Env, "INJECTED=yes") || !slices.Contains(in.Env, "A=1") {
		t.Errorf("env = %v", in.Env)
	}
	if len(in.Networks) != 1 || in.Networks[0].Name != "bridge" || len(in.Networks[0].IPv4Addresses) != 1 {
		t.Errorf("networks = %+v", in.Networks)
	}

	raw, err := c.Stats(ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Read     string         `json:"read"`
		CPU      map[string]any `json:"cpu_stats"`
		Memory   map[string]any `json:"memory_stats"`
		Networks map[string]any `json:"networks"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Read == "" || st.CPU == nil || st.Memory == nil || len(st.Networks) == 0 {
		t.Errorf("stats = %s", raw)
	}
}
