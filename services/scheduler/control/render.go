package control

import (
	"slices"
	"strconv"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
)

// Conversions from the stored records to the AWS shapes (API responses) and
// to the event details. Lists come out non-nil so they marshal as [].

// renderInstance is the ContainerInstance shape of r with the live
// agentConnected and task counts.
func (s *Service) renderInstance(r *events.InstanceRecord, withTags bool) ecsapi.ContainerInstance {
	pending, running := s.cache.taskCounts(r.Cluster, r.ID)
	return renderInstance(r, r.Registered() && s.connected(r, s.cfg.Now()), pending, running, withTags)
}

// renderInstance is the ContainerInstance shape of r.
func renderInstance(r *events.InstanceRecord, connected bool, pending, running int, withTags bool) ecsapi.ContainerInstance {
	reg, rem := instanceResources(r)
	out := ecsapi.ContainerInstance{
		ContainerInstanceArn: r.ARN,
		Ec2InstanceId:        r.EC2InstanceID,
		Version:              awsjson.Int64(r.Version),
		VersionInfo:          versionInfo(r),
		RemainingResources:   rem,
		RegisteredResources:  reg,
		Status:               r.Status,
		StatusReason:         r.StatusReason,
		AgentConnected:       awsjson.Bool(connected),
		RunningTasksCount:    awsjson.Int32(int32(running)),
		PendingTasksCount:    awsjson.Int32(int32(pending)),
		Attributes:           nonNilAttrs(r.Attributes),
		RegisteredAt:         awsjson.NewTime(r.RegisteredAt),
		Attachments:          []ecsapi.Attachment{},
	}
	if withTags {
		out.Tags = nonNilTags(r.Tags)
	}
	return out
}

func versionInfo(r *events.InstanceRecord) *ecsapi.VersionInfo {
	if r.VersionInfo == nil {
		return &ecsapi.VersionInfo{}
	}
	vi := *r.VersionInfo
	return &vi
}

// instanceResources renders registeredResources and remainingResources the
// way ECS does: every value field present, PORTS listing reserved ports.
func instanceResources(r *events.InstanceRecord) (registered, remaining []ecsapi.Resource) {
	registered = []ecsapi.Resource{
		intResource(events.ResourceCPU, r.RegisteredCPU),
		intResource(events.ResourceMemory, r.RegisteredMemory),
		portsResource(events.ResourcePorts, r.RegisteredTCP),
		portsResource(events.ResourcePortsUDP, r.RegisteredUDP),
	}
	remaining = []ecsapi.Resource{
		intResource(events.ResourceCPU, r.RemainingCPU),
		intResource(events.ResourceMemory, r.RemainingMemory),
		portsResource(events.ResourcePorts, r.ReservedTCP),
		portsResource(events.ResourcePortsUDP, r.ReservedUDP),
	}
	return registered, remaining
}

func intResource(name string, v int64) ecsapi.Resource {
	return ecsapi.Resource{
		Name: name, Type: "INTEGER",
		IntegerValue: awsjson.Int32(int32(v)), LongValue: awsjson.Int64(0), DoubleValue: awsjson.Float64(0),
	}
}

func portsResource(name string, ports []int) ecsapi.Resource {
	set := make([]string, 0, len(ports))
	for _, p := range ports {
		set = append(set, strconv.Itoa(p))
	}
	return ecsapi.Resource{
		Name: name, Type: "STRINGSET", StringSetValue: set,
		IntegerValue: awsjson.Int32(0), LongValue: awsjson.Int64(0), DoubleValue: awsjson.Float64(0),
	}
}

// nonNilAttrs is a, or an empty list for nil (AWS writes [] for none). It
// shares a with the record: records are copy-on-write (records.go clones
// the attributes of every next version), so nothing changes a in place.
func nonNilAttrs(a []ecsapi.Attribute) []ecsapi.Attribute {
	if a == nil {
		return []ecsapi.Attribute{}
	}
	return a
}

func nonNilTags(t []ecsapi.Tag) []ecsapi.Tag {
	if t == nil {
		return []ecsapi.Tag{}
	}
	return slices.Clone(t)
}

// renderTask is the Task shape of t.
func renderTask(t *events.TaskRecord, withTags bool) ecsapi.Task {
	out := ecsapi.Task{
		Attachments:           []ecsapi.Attachment{},
		Attributes:            nonNilAttrs(t.Attributes),
		AvailabilityZone:      t.AvailabilityZone,
		ClusterArn:            t.ClusterARN,
		Connectivity:          t.Connectivity,
		ConnectivityAt:        apiTime(t.ConnectivityAt),
		ContainerInstanceArn:  t.ContainerInstanceARN,
		Cpu:                   t.CPU,
		Memory:                t.Memory,
		CreatedAt:             awsjson.NewTime(t.CreatedAt),
		DesiredStatus:         t.DesiredStatus,
		EnableExecuteCommand:  awsjson.Bool(t.EnableExecuteCommand),
		Group:                 t.Group,
		HealthStatus:          healthOrUnknown(t.HealthStatus),
		LastStatus:            t.LastStatus,
		LaunchType:            t.LaunchType,
		Overrides:             renderOverrides(t),
		PullStartedAt:         apiTime(t.PullStartedAt),
		PullStoppedAt:         apiTime(t.PullStoppedAt),
		StartedAt:             apiTime(t.StartedAt),
		StartedBy:             t.StartedBy,
		StopCode:              t.StopCode,
		StoppedAt:             apiTime(t.StoppedAt),
		StoppedReason:         t.StoppedReason,
		StoppingAt:            apiTime(t.StoppingAt),
		ExecutionStoppedAt:    apiTime(t.ExecutionStoppedAt),
		TaskArn:               t.ARN,
		TaskDefinitionArn:     t.TaskDefinitionARN,
		Version:               awsjson.Int64(t.Version),
		InferenceAccelerators: []ecsapi.InferenceAccelerator{},
	}
	out.Containers = make([]ecsapi.Container, 0, len(t.Containers))
	for _, c := range t.Containers {
		out.Containers = append(out.Containers, ecsapi.Container{
			ContainerArn:      c.ARN,
			TaskArn:           t.ARN,
			Name:              c.Name,
			Image:             c.Image,
			ImageDigest:       c.ImageDigest,
			RuntimeId:         c.RuntimeID,
			LastStatus:        c.LastStatus,
			ExitCode:          c.ExitCode,
			Reason:            c.Reason,
			NetworkBindings:   nonNilBindings(c.NetworkBindings),
			NetworkInterfaces: []ecsapi.NetworkInterface{},
			HealthStatus:      healthOrUnknown(c.HealthStatus),
			Cpu:               c.CPU,
			Memory:            c.Memory,
			MemoryReservation: c.MemoryReservation,
		})
	}
	renderFargate(&out, t)
	if withTags {
		out.Tags = nonNilTags(t.Tags)
	}
	return out
}

// renderOverrides echoes the task's overrides as ECS does: one
// containerOverrides entry per container (just the name when the request
// did not override it) and an empty inferenceAcceleratorOverrides.
func renderOverrides(t *events.TaskRecord) *ecsapi.TaskOverride {
	out := &ecsapi.TaskOverride{InferenceAcceleratorOverrides: []ecsapi.InferenceAcceleratorOverride{}}
	if t.Overrides != nil {
		o := *t.Overrides
		out = &o
		if out.InferenceAcceleratorOverrides == nil {
			out.InferenceAcceleratorOverrides = []ecsapi.InferenceAcceleratorOverride{}
		}
	}
	given := out.ContainerOverrides
	out.ContainerOverrides = make([]ecsapi.ContainerOverride, 0, len(t.Containers))
	for _, c := range t.Containers {
		co := ecsapi.ContainerOverride{Name: c.Name}
		for _, g := range given {
			if g.Name == c.Name {
				co = g
			}
		}
		out.ContainerOverrides = append(out.ContainerOverrides, co)
	}
	return out
}

func nonNilBindings(b []ecsapi.NetworkBinding) []ecsapi.NetworkBinding {
	if b == nil {
		return []ecsapi.NetworkBinding{}
	}
	return slices.Clone(b)
}

func healthOrUnknown(h string) string {
	if h == "" {
		return "UNKNOWN"
	}
	return h
}

func apiTime(t *time.Time) *awsjson.Time {
	if t == nil {
		return nil
	}
	return awsjson.NewTime(*t)
}

// iso formats a detail timestamp ("" for none).
func iso(t *time.Time) string {
	if t == nil {
		return ""
	}
	return awsjson.Time{Time: *t}.ISO()
}

// taskDetail is the "ECS Task State Change" detail of t.
func taskDetail(t *events.TaskRecord) events.TaskDetail {
	created, updated := t.CreatedAt, t.UpdatedAt
	d := events.TaskDetail{
		Attachments:          []ecsapi.Attachment{},
		Attributes:           t.Attributes,
		AvailabilityZone:     t.AvailabilityZone,
		ClusterArn:           t.ClusterARN,
		Connectivity:         t.Connectivity,
		ConnectivityAt:       iso(t.ConnectivityAt),
		ContainerInstanceArn: t.ContainerInstanceARN,
		CPU:                  t.CPU,
		CreatedAt:            iso(&created),
		DesiredStatus:        t.DesiredStatus,
		EnableExecuteCommand: t.EnableExecuteCommand,
		ExecutionStoppedAt:   iso(t.ExecutionStoppedAt),
		Group:                t.Group,
		HealthStatus:         healthOrUnknown(t.HealthStatus),
		LastStatus:           t.LastStatus,
		LaunchType:           t.LaunchType,
		Memory:               t.Memory,
		Overrides:            renderOverrides(t),
		PullStartedAt:        iso(t.PullStartedAt),
		PullStoppedAt:        iso(t.PullStoppedAt),
		StartedAt:            iso(t.StartedAt),
		StartedBy:            t.StartedBy,
		StopCode:             t.StopCode,
		StoppedAt:            iso(t.StoppedAt),
		StoppedReason:        t.StoppedReason,
		StoppingAt:           iso(t.StoppingAt),
		TaskArn:              t.ARN,
		TaskDefinitionArn:    t.TaskDefinitionARN,
		UpdatedAt:            iso(&updated),
		Version:              t.Version,
		Containers:           make([]events.ContainerDetail, 0, len(t.Containers)),
	}
	for _, c := range t.Containers {
		d.Containers = append(d.Containers, events.ContainerDetail{
			ContainerArn:      c.ARN,
			CPU:               c.CPU,
			ExitCode:          c.ExitCode,
			HealthStatus:      healthOrUnknown(c.HealthStatus),
			Image:             c.Image,
			ImageDigest:       c.ImageDigest,
			LastStatus:        c.LastStatus,
			Memory:            c.Memory,
			MemoryReservation: c.MemoryReservation,
			Name:              c.Name,
			NetworkBindings:   nonNilBindings(c.NetworkBindings),
			NetworkInterfaces: []ecsapi.NetworkInterface{},
			Reason:            c.Reason,
			RuntimeID:         c.RuntimeID,
			TaskArn:           t.ARN,
		})
	}
	if a, ok := eniAttachment(t); ok {
		d.Attachments = []ecsapi.Attachment{a}
	}
	if t.LaunchType == launchTypeFargate {
		d.ContainerInstanceArn = ""
	}
	return d
}

// instanceDetail is the "ECS Container Instance State Change" detail of r.
func instanceDetail(r *events.InstanceRecord, pending, running int) events.ContainerInstanceDetail {
	reg, rem := instanceResources(r)
	registered, updated := r.RegisteredAt, r.UpdatedAt
	return events.ContainerInstanceDetail{
		AgentConnected:       r.AgentConnected,
		Attributes:           nonNilAttrs(r.Attributes),
		ClusterArn:           r.ClusterARN,
		ContainerInstanceArn: r.ARN,
		EC2InstanceID:        r.EC2InstanceID,
		RegisteredResources:  reg,
		RemainingResources:   rem,
		Status:               r.Status,
		StatusReason:         r.StatusReason,
		Version:              r.Version,
		VersionInfo:          versionInfo(r),
		PendingTasksCount:    pending,
		RunningTasksCount:    running,
		RegisteredAt:         iso(&registered),
		UpdatedAt:            iso(&updated),
	}
}
