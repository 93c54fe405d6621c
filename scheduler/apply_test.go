package scheduler

import (
	"errors"
	"reflect"
	"testing"
)

var webTask = Resources{CPU: 512, Memory: 1024, TCPPorts: []int{80}, UDPPorts: []int{53}}

func TestInstance_Apply_Subtracts(t *testing.T) {
	in := testInstance("a")
	orig := testInstance("a")
	out, err := Apply(in, webTask, "service:web")
	if err != nil {
		t.Fatal(err)
	}
	if out.RemainingCPU != 4096-512 || out.RemainingMemory != 8192-1024 {
		t.Errorf("remaining = %d CPU, %d MiB", out.RemainingCPU, out.RemainingMemory)
	}
	if !out.ReservedTCP.Has(80) || !out.ReservedUDP.Has(53) || out.ReservedUDP.Has(80) {
		t.Errorf("ports: tcp %v udp %v", out.ReservedTCP.Sorted(), out.ReservedUDP.Sorted())
	}
	if out.Groups["service:web"] != 1 || out.PendingTasks != 1 || out.RunningTasks != 0 {
		t.Errorf("groups %v pending %d running %d", out.Groups, out.PendingTasks, out.RunningTasks)
	}
	if !reflect.DeepEqual(in, orig) {
		t.Errorf("Apply modified its input")
	}
}

func TestInstance_Apply_Conflicts(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Instance)
		r      Resources
		want   string
	}{
		{"cpu", withRemaining(100, 8192), webTask, ReasonCPU},
		{"memory", withRemaining(4096, 100), webTask, ReasonMemory},
		{"tcp port", func(in *Instance) { in.ReservedTCP[80] = struct{}{} }, webTask, ReasonPorts},
		{"agent port", nil, Resources{TCPPorts: []int{51678}}, ReasonPorts},
		{"udp port", func(in *Instance) { in.ReservedUDP[53] = struct{}{} }, webTask, ReasonPortsUDP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := testInstance("a")
			if tc.mutate != nil {
				tc.mutate(&in)
			}
			_, err := Apply(in, tc.r, "g")
			var ce *ConflictError
			if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a ConflictError", err)
			}
			if ce.Reason != tc.want || ce.InstanceARN != in.ARN {
				t.Errorf("conflict %+v, want reason %s", ce, tc.want)
			}
		})
	}
}

func TestInstance_Apply_InvalidResources(t *testing.T) {
	_, err := Apply(testInstance("a"), Resources{CPU: -5}, "g")
	if !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("err = %v, want ErrInvalidParameter", err)
	}
}

func TestInstance_Release_InverseOfApply(t *testing.T) {
	for _, phase := range []TaskPhase{PhasePending, PhaseRunning} {
		in := testInstance("a", withGroup("service:web", 1))
		out := mustApply(t, in, webTask, "service:web")
		if phase == PhaseRunning {
			var err error
			if out, err = Started(out); err != nil {
				t.Fatal(err)
			}
		}
		back, err := Release(out, webTask, "service:web", phase)
		if err != nil {
			t.Fatalf("phase %d: %v", phase, err)
		}
		if !reflect.DeepEqual(back, in) {
			t.Errorf("phase %d: Release(Apply(in)) = %+v, want %+v", phase, back, in)
		}
	}
}

func TestInstance_Release_DropsEmptyGroup(t *testing.T) {
	out := mustApply(t, testInstance("a"), webTask, "service:web")
	back, err := Release(out, webTask, "service:web", PhasePending)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := back.Groups["service:web"]; ok {
		t.Errorf("group left behind: %v", back.Groups)
	}
}

func TestInstance_Release_Conflicts(t *testing.T) {
	applied := mustApply(t, testInstance("a"), webTask, "service:web")
	cases := []struct {
		name  string
		in    Instance
		r     Resources
		group string
		phase TaskPhase
		want  string
	}{
		{"cpu above registered", testInstance("a"), Resources{CPU: 1}, "", PhasePending, ReasonCPU},
		{"memory above registered", testInstance("a"), Resources{Memory: 1}, "", PhasePending, ReasonMemory},
		{"tcp port not reserved", applied, Resources{TCPPorts: []int{81}}, "", PhasePending, ReasonPorts},
		{"udp port not reserved", applied, Resources{UDPPorts: []int{54}}, "", PhasePending, ReasonPortsUDP},
		{"no task of group", applied, Resources{}, "service:other", PhasePending, "GROUP"},
		{"no running task", applied, Resources{}, "service:web", PhaseRunning, "TASKS"},
		{"no pending task", testInstance("a", withGroup("g", 1)), Resources{}, "g", PhasePending, "TASKS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Release(tc.in, tc.r, tc.group, tc.phase)
			var ce *ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
				t.Fatalf("err = %v, want a ConflictError", err)
			}
			if ce.Reason != tc.want {
				t.Errorf("reason %q, want %q", ce.Reason, tc.want)
			}
		})
	}
}

func TestInstance_Started_NeedsPendingTask(t *testing.T) {
	if _, err := Started(testInstance("a")); !errors.Is(err, ErrConflict) {
		t.Errorf("err = %v, want ErrConflict", err)
	}
}

func TestPortSet_Methods(t *testing.T) {
	var nilSet PortSet
	if nilSet.Has(22) {
		t.Error("nil set has 22")
	}
	s := NewPortSet(443, 22, 80)
	c := s.Clone()
	c[8080] = struct{}{}
	if s.Has(8080) || !c.Has(443) {
		t.Error("Clone shares storage")
	}
	if got := s.Sorted(); !reflect.DeepEqual(got, []int{22, 80, 443}) {
		t.Errorf("Sorted = %v", got)
	}
	if nilSet.Clone() == nil {
		t.Error("Clone of nil set is nil")
	}
}
