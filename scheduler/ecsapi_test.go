package scheduler

import (
	"errors"
	"reflect"
	"testing"

	"github.com/berth-project/berth/events/ecsapi"
)

func i32(v int32) *int32 { return &v }

func TestResources_FromTaskDefinition_Cases(t *testing.T) {
	port := func(container, host int32, proto string) ecsapi.PortMapping {
		pm := ecsapi.PortMapping{ContainerPort: i32(container), Protocol: proto}
		if host >= 0 {
			pm.HostPort = i32(host)
		}
		return pm
	}
	cases := []struct {
		name string
		td   ecsapi.TaskDefinition
		ov   *ecsapi.TaskOverride
		want Resources
		err  string
	}{
		{
			name: "container sums, reservation wins over memory",
			td: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "web", Cpu: i32(256), Memory: i32(512), MemoryReservation: i32(128)},
				{Name: "sidecar", Cpu: i32(128), Memory: i32(64)},
				{Name: "soft", MemoryReservation: i32(32)},
			}},
			want: Resources{CPU: 384, Memory: 224},
		},
		{
			name: "task level wins",
			td: ecsapi.TaskDefinition{Cpu: "1 vCPU", Memory: "2 GB", ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "web", Cpu: i32(256), Memory: i32(512)},
			}},
			want: Resources{CPU: 1024, Memory: 2048},
		},
		{
			name: "overrides",
			td: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "web", Cpu: i32(256), Memory: i32(512)},
			}},
			ov: &ecsapi.TaskOverride{Cpu: "512", ContainerOverrides: []ecsapi.ContainerOverride{
				{Name: "web", MemoryReservation: i32(100)},
			}},
			want: Resources{CPU: 512, Memory: 100},
		},
		{
			name: "bridge ports: static reserve, dynamic do not",
			td: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "web", Memory: i32(64), PortMappings: []ecsapi.PortMapping{
					port(8080, 80, ""), port(8081, 0, "tcp"), port(8082, -1, ""), port(53, 5353, "udp"),
				}},
			}},
			want: Resources{Memory: 64, TCPPorts: []int{80}, UDPPorts: []int{5353}},
		},
		{
			name: "host mode: host port is the container port",
			td: ecsapi.TaskDefinition{NetworkMode: "host", ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "web", Memory: i32(64), PortMappings: []ecsapi.PortMapping{port(8080, -1, ""), port(9000, 9000, "UDP")}},
			}},
			want: Resources{Memory: 64, TCPPorts: []int{8080}, UDPPorts: []int{9000}},
		},
		{
			name: "awsvpc reserves no host ports",
			td: ecsapi.TaskDefinition{NetworkMode: "awsvpc", ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "web", Memory: i32(64), PortMappings: []ecsapi.PortMapping{port(8080, 8080, "")}},
			}},
			want: Resources{Memory: 64},
		},
		{
			name: "container without memory reserves none",
			td:   ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "web"}, {Name: "side", Memory: i32(32)}}},
			want: Resources{Memory: 32},
		},
		{
			name: "same host port twice",
			td: ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
				{Name: "a", Memory: i32(64), PortMappings: []ecsapi.PortMapping{port(80, 80, "")}},
				{Name: "b", Memory: i32(64), PortMappings: []ecsapi.PortMapping{port(81, 80, "")}},
			}},
			err: "used more than once",
		},
		{
			name: "bad task cpu",
			td:   ecsapi.TaskDefinition{Cpu: "lots", Memory: "512"},
			err:  "Invalid 'cpu' setting",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResourcesFromTaskDefinition(&tc.td, tc.ov)
			if tc.err != "" {
				checkValidation(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseTaskCPU_Formats(t *testing.T) {
	ok := map[string]int64{"256": 256, "1024": 1024, "1 vCPU": 1024, "0.25 vCPU": 256, "2vcpu": 2048, " 4 VCPU ": 4096}
	for in, want := range ok {
		if got, err := ParseTaskCPU(in); err != nil || got != want {
			t.Errorf("ParseTaskCPU(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1 core", "0.1 vCPU", "abc"} {
		if _, err := ParseTaskCPU(in); !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("ParseTaskCPU(%q): err = %v", in, err)
		}
	}
}

func TestParseTaskMemory_Formats(t *testing.T) {
	ok := map[string]int64{"512": 512, "1 GB": 1024, "1GB": 1024, "0.5 GB": 512, "30 gb": 30720}
	for in, want := range ok {
		if got, err := ParseTaskMemory(in); err != nil || got != want {
			t.Errorf("ParseTaskMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1 TB", "0.3 GB", "x"} {
		if _, err := ParseTaskMemory(in); !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("ParseTaskMemory(%q): err = %v", in, err)
		}
	}
}

func TestConversions_FromAPI(t *testing.T) {
	cs := ConstraintsFromAPI([]ecsapi.PlacementConstraint{{Type: "memberOf", Expression: exprTrue}, {Type: "distinctInstance"}})
	if !reflect.DeepEqual(cs, []Constraint{{ConstraintMemberOf, exprTrue}, {ConstraintDistinctInstance, ""}}) {
		t.Errorf("ConstraintsFromAPI = %+v", cs)
	}
	tds := TaskDefinitionConstraintsFromAPI([]ecsapi.TaskDefinitionPlacementConstraint{{Type: "memberOf", Expression: exprTrue}})
	if !reflect.DeepEqual(tds, []Constraint{{ConstraintMemberOf, exprTrue}}) {
		t.Errorf("TaskDefinitionConstraintsFromAPI = %+v", tds)
	}
	ss := StrategiesFromAPI([]ecsapi.PlacementStrategy{{Type: "spread", Field: "host"}, {Type: "random"}})
	if !reflect.DeepEqual(ss, []Strategy{{StrategySpread, "host"}, {StrategyRandom, ""}}) {
		t.Errorf("StrategiesFromAPI = %+v", ss)
	}
}
