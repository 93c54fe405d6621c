package scheduler

import (
	"fmt"
	"maps"
)

// TaskPhase says which counter of the instance a task is in.
type TaskPhase uint8

// Task phases for Release.
const (
	PhasePending TaskPhase = iota // counted in PendingTasks
	PhaseRunning                  // counted in RunningTasks
)

// Apply returns the instance with one more task holding r in group: CPU and
// memory subtracted, static ports reserved, the group count and
// PendingTasks incremented. It fails with a *ConflictError (ErrConflict)
// when the instance lacks CPU or memory or a port is already taken, so a
// caller that re-read the instance before a compare-and-set learns that
// its placement is stale. Only resources are checked; Plan.Check also
// checks status, agent and constraints. The input is not modified; the
// result shares Attributes with it.
func Apply(in Instance, r Resources, group string) (Instance, error) {
	if err := ValidateResources(r); err != nil {
		return Instance{}, err
	}
	if in.RemainingCPU < r.CPU {
		return Instance{}, conflict(&in, ReasonCPU, "needs %d CPU units, %d remain", r.CPU, in.RemainingCPU)
	}
	if in.RemainingMemory < r.Memory {
		return Instance{}, conflict(&in, ReasonMemory, "needs %d MiB, %d remain", r.Memory, in.RemainingMemory)
	}
	for _, p := range r.TCPPorts {
		if in.ReservedTCP.Has(p) {
			return Instance{}, conflict(&in, ReasonPorts, "TCP port %d is already reserved", p)
		}
	}
	for _, p := range r.UDPPorts {
		if in.ReservedUDP.Has(p) {
			return Instance{}, conflict(&in, ReasonPortsUDP, "UDP port %d is already reserved", p)
		}
	}
	out := in
	out.RemainingCPU -= r.CPU
	out.RemainingMemory -= r.Memory
	if len(r.TCPPorts) > 0 {
		out.ReservedTCP = in.ReservedTCP.Clone()
		for _, p := range r.TCPPorts {
			out.ReservedTCP[p] = struct{}{}
		}
	}
	if len(r.UDPPorts) > 0 {
		out.ReservedUDP = in.ReservedUDP.Clone()
		for _, p := range r.UDPPorts {
			out.ReservedUDP[p] = struct{}{}
		}
	}
	if group != "" {
		out.Groups = cloneGroups(in.Groups)
		out.Groups[group]++
	}
	out.PendingTasks++
	return out, nil
}

// Release is the inverse of Apply, for a task that stopped: it gives back
// the CPU, memory and ports of r, decrements the group count and the
// counter of phase. It fails with a *ConflictError when the instance does
// not hold what r describes (remaining above registered, a port not
// reserved, no task of the group or of that phase). The input is not
// modified.
func Release(in Instance, r Resources, group string, phase TaskPhase) (Instance, error) {
	if err := ValidateResources(r); err != nil {
		return Instance{}, err
	}
	if in.RemainingCPU+r.CPU > in.RegisteredCPU {
		return Instance{}, conflict(&in, ReasonCPU, "releasing %d CPU units would exceed the %d registered", r.CPU, in.RegisteredCPU)
	}
	if in.RemainingMemory+r.Memory > in.RegisteredMemory {
		return Instance{}, conflict(&in, ReasonMemory, "releasing %d MiB would exceed the %d registered", r.Memory, in.RegisteredMemory)
	}
	for _, p := range r.TCPPorts {
		if !in.ReservedTCP.Has(p) {
			return Instance{}, conflict(&in, ReasonPorts, "TCP port %d is not reserved", p)
		}
	}
	for _, p := range r.UDPPorts {
		if !in.ReservedUDP.Has(p) {
			return Instance{}, conflict(&in, ReasonPortsUDP, "UDP port %d is not reserved", p)
		}
	}
	if group != "" && in.Groups[group] < 1 {
		return Instance{}, conflict(&in, "GROUP", "no task of group %q on the instance", group)
	}
	out := in
	switch phase {
	case PhasePending:
		if in.PendingTasks < 1 {
			return Instance{}, conflict(&in, "TASKS", "no pending task to release")
		}
		out.PendingTasks--
	case PhaseRunning:
		if in.RunningTasks < 1 {
			return Instance{}, conflict(&in, "TASKS", "no running task to release")
		}
		out.RunningTasks--
	default:
		return Instance{}, invalidf("Invalid task phase %d.", phase)
	}
	out.RemainingCPU += r.CPU
	out.RemainingMemory += r.Memory
	if len(r.TCPPorts) > 0 {
		out.ReservedTCP = in.ReservedTCP.Clone()
		for _, p := range r.TCPPorts {
			delete(out.ReservedTCP, p)
		}
	}
	if len(r.UDPPorts) > 0 {
		out.ReservedUDP = in.ReservedUDP.Clone()
		for _, p := range r.UDPPorts {
			delete(out.ReservedUDP, p)
		}
	}
	if group != "" {
		out.Groups = cloneGroups(in.Groups)
		if out.Groups[group]--; out.Groups[group] == 0 {
			delete(out.Groups, group)
		}
	}
	return out, nil
}

// Started returns the instance with one task moved from PendingTasks to
// RunningTasks, for a task whose agent reported RUNNING.
func Started(in Instance) (Instance, error) {
	if in.PendingTasks < 1 {
		return Instance{}, conflict(&in, "TASKS", "no pending task to start")
	}
	in.PendingTasks--
	in.RunningTasks++
	return in, nil
}

func cloneGroups(g map[string]int) map[string]int {
	out := make(map[string]int, len(g)+1)
	maps.Copy(out, g)
	return out
}

func conflict(in *Instance, reason, format string, args ...any) error {
	return &ConflictError{InstanceARN: in.ARN, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}
