package taskdefs

import (
	"reflect"
	"testing"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
)

func TestParseTaskCPU(t *testing.T) {
	cases := map[string]int{
		"256": 256, "1024": 1024, " 512 ": 512,
		"1 vCPU": 1024, "1 vcpu": 1024, "1vCPU": 1024, "0.25 vCPU": 256, ".5 vcpu": 512, "2 VCPU": 2048, "16 vCPU": 16384,
		"": -1, "0": -1, "-256": -1, "vCPU": -1, "1 cpu": -1, "0.1 vCPU": -1, "1e3": -1, "one vCPU": -1, "+1 vCPU": -1,
	}
	for in, want := range cases {
		got, ok := parseTaskCPU(in)
		if want < 0 {
			if ok {
				t.Errorf("parseTaskCPU(%q) = %d, want invalid", in, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("parseTaskCPU(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
}

func TestParseTaskMemory(t *testing.T) {
	cases := map[string]int{
		"512": 512, "1GB": 1024, "1 GB": 1024, "2 gb": 2048, "0.5GB": 512, "30 GB": 30720,
		"": -1, "0": -1, "1 TB": -1, "GB": -1, "1.0001 GB": -1, "1 MiB": -1,
	}
	for in, want := range cases {
		got, ok := parseTaskMemory(in)
		if want < 0 {
			if ok {
				t.Errorf("parseTaskMemory(%q) = %d, want invalid", in, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("parseTaskMemory(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
}

func TestFargatePair(t *testing.T) {
	valid := [][2]int{
		{256, 512}, {256, 1024}, {256, 2048}, {512, 1024}, {512, 4096}, {1024, 2048}, {1024, 8192},
		{2048, 4096}, {2048, 16384}, {4096, 8192}, {4096, 30720}, {8192, 16384}, {8192, 61440}, {16384, 32768}, {16384, 122880},
	}
	invalid := [][2]int{
		{256, 3072}, {256, 4096}, {512, 512}, {512, 5120}, {1024, 1024}, {2048, 17408}, {4096, 31744},
		{8192, 18432}, {16384, 36864}, {8192, 65536}, {128, 512}, {3072, 8192},
	}
	for _, p := range valid {
		if !fargatePair(p[0], p[1]) {
			t.Errorf("%d/%d should be a Fargate size", p[0], p[1])
		}
	}
	for _, p := range invalid {
		if fargatePair(p[0], p[1]) {
			t.Errorf("%d/%d should not be a Fargate size", p[0], p[1])
		}
	}
}

func TestParseIdent(t *testing.T) {
	cases := []struct {
		in   string
		want ident
		ok   bool
		code events.Code
	}{
		{"web", ident{Family: "web"}, true, ""},
		{"web:3", ident{Family: "web", Revision: 3}, true, ""},
		{"arn:aws:ecs:us-east-1:123456789012:task-definition/web:3", ident{Family: "web", Revision: 3, Region: "us-east-1", Account: "123456789012", ARN: true}, true, ""},
		{"arn:aws:ecs:us-east-1:123456789012:task-definition/web", ident{Family: "web", Region: "us-east-1", Account: "123456789012", ARN: true}, true, ""},
		{"web:0", ident{}, false, events.CodeInvalidParameter},
		{"web:x", ident{}, false, events.CodeInvalidParameter},
		{"web:99999999999", ident{}, false, events.CodeInvalidParameter},
		{"", ident{}, false, ""},
		{"we b", ident{}, false, ""},
		{":3", ident{}, false, ""},
		{"arn:aws:ecs:us-east-1:123456789012:cluster/web", ident{}, false, ""},
		{"arn:aws:ecs:us-east-1:123456789012:task-definition/web:x", ident{}, false, ""},
	}
	for _, tc := range cases {
		got, ok, err := parseIdent(tc.in)
		if tc.code != "" {
			if !apierr.HasCode(err, tc.code) {
				t.Errorf("%q: err %v, want %s", tc.in, err, tc.code)
			}
			continue
		}
		if err != nil || ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%q: %+v %v %v, want %+v %v", tc.in, got, ok, err, tc.want, tc.ok)
		}
	}
}

func TestCompatibilitiesAndAttributes(t *testing.T) {
	cases := []struct {
		name   string
		td     ecsapi.TaskDefinition
		compat []string
		attrs  []string
	}{
		{
			name:   "bridge minimal",
			td:     ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "a", Image: "nginx", Memory: awsjson.Int32(64)}}},
			compat: []string{"EXTERNAL", "EC2"},
			attrs:  []string{},
		},
		{
			name: "awsvpc fargate size, memoryReservation, task role",
			td: ecsapi.TaskDefinition{NetworkMode: "awsvpc", Cpu: "256", Memory: "512", TaskRoleArn: "arn:aws:iam::1:role/r",
				ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "a", Image: "python:latest", MemoryReservation: awsjson.Int32(64)}}},
			compat: []string{"EC2", "FARGATE"},
			// Matches a real response for the same inputs.
			attrs: []string{attrAPI121, attrTaskIAMRole, attrAPI118, attrTaskENI},
		},
		{
			name: "health check and ECR image with execution role",
			td: ecsapi.TaskDefinition{NetworkMode: "awsvpc", Cpu: "1024", Memory: "3072", ExecutionRoleArn: "arn:aws:iam::1:role/e",
				ContainerDefinitions: []ecsapi.ContainerDefinition{{
					Name: "a", Image: "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/stress-ecr:1",
					HealthCheck:      &ecsapi.HealthCheck{Command: []string{"CMD-SHELL", "true"}},
					LogConfiguration: &ecsapi.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{"awslogs-group": "g"}},
				}}},
			compat: []string{"EC2", "FARGATE"},
			attrs: []string{attrLogDriver + "awslogs", attrAPI124, attrExecAWSLogs, attrECRAuth, attrAPI119,
				attrHealthCheck, attrExecECRPull, attrAPI118, attrTaskENI},
		},
		{
			name: "awsvpc without task size is not Fargate, not EXTERNAL",
			td: ecsapi.TaskDefinition{NetworkMode: "awsvpc",
				ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "a", Image: "nginx", Memory: awsjson.Int32(64)}}},
			compat: []string{"EC2"},
			attrs:  []string{attrAPI118, attrTaskENI},
		},
		{
			name: "privileged awsvpc with a Fargate size is still not Fargate",
			td: ecsapi.TaskDefinition{NetworkMode: "awsvpc", Cpu: "256", Memory: "512",
				ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "a", Image: "nginx", Privileged: awsjson.Bool(true)}}},
			compat: []string{"EC2"},
			attrs:  []string{attrAPI118, attrTaskENI, attrPrivileged},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cpu, _ := parseTaskCPU(tc.td.Cpu)
			mem, _ := parseTaskMemory(tc.td.Memory)
			if got := compatibilities(&tc.td, cpu, mem); !reflect.DeepEqual(got, tc.compat) {
				t.Errorf("compatibilities %v, want %v", got, tc.compat)
			}
			var names []string
			for _, a := range requiresAttributes(&tc.td) {
				names = append(names, a.Name)
			}
			if names == nil {
				names = []string{}
			}
			if !reflect.DeepEqual(names, tc.attrs) {
				t.Errorf("requiresAttributes\n got %v\nwant %v", names, tc.attrs)
			}
		})
	}
}

func TestPaginate(t *testing.T) {
	items := []pageToken{{Family: "a", Revision: 1}, {Family: "a", Revision: 2}, {Family: "b", Revision: 1}}
	cmpFn := func(x, y pageToken) int {
		switch {
		case x.Family != y.Family:
			if x.Family < y.Family {
				return -1
			}
			return 1
		default:
			return int(x.Revision - y.Revision)
		}
	}
	page, next := paginate(items, nil, 2, cmpFn)
	if len(page) != 2 || next == nil || *next != items[1] {
		t.Fatalf("page 1: %v %v", page, next)
	}
	page, next = paginate(items, next, 2, cmpFn)
	if len(page) != 1 || page[0] != items[2] || next != nil {
		t.Fatalf("page 2: %v %v", page, next)
	}
	// A token for an item that no longer exists resumes after its position.
	page, _ = paginate(items, &pageToken{Family: "a", Revision: 5}, 10, cmpFn)
	if len(page) != 1 || page[0] != items[2] {
		t.Fatalf("resume: %v", page)
	}
	tok := encodeToken(pageToken{Family: "web", Revision: 7})
	if got, err := decodeToken(tok); err != nil || got != (pageToken{Family: "web", Revision: 7}) {
		t.Fatalf("token round trip: %v %v", got, err)
	}
}

func TestApplyDefaults_PortMappings(t *testing.T) {
	for _, tc := range []struct {
		mode string
		in   *int32
		want int32
	}{
		{"", nil, 0}, {"bridge", awsjson.Int32(8080), 8080}, {"awsvpc", nil, 80}, {"awsvpc", awsjson.Int32(0), 80}, {"host", nil, 80},
	} {
		c := ecsapi.ContainerDefinition{PortMappings: []ecsapi.PortMapping{{ContainerPort: awsjson.Int32(80), HostPort: tc.in}}}
		applyDefaults(&c, tc.mode)
		pm := c.PortMappings[0]
		if *pm.HostPort != tc.want || pm.Protocol != "tcp" {
			t.Errorf("mode %q hostPort %v: got %d %s, want %d tcp", tc.mode, tc.in, *pm.HostPort, pm.Protocol, tc.want)
		}
	}
}
