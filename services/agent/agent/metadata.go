package agent

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/engine"
)

// Task metadata endpoint (v4, and v3 on the same handlers), shaped like
// amazon-ecs-agent's. A container finds it through
// ECS_CONTAINER_METADATA_URI_V4 = <base>/v4/<its id>.

type metaLimits struct {
	CPU    *float64 `json:"CPU,omitempty"`
	Memory *int64   `json:"Memory,omitempty"`
}

type metaHealth struct {
	Status string `json:"status"`
}

type metaContainer struct {
	DockerID      string            `json:"DockerId"`
	Name          string            `json:"Name"`
	DockerName    string            `json:"DockerName"`
	Image         string            `json:"Image"`
	ImageID       string            `json:"ImageID"`
	Ports         []portResponse    `json:"Ports,omitempty"`
	Labels        map[string]string `json:"Labels,omitempty"`
	DesiredStatus string            `json:"DesiredStatus"`
	KnownStatus   string            `json:"KnownStatus"`
	ExitCode      *int              `json:"ExitCode,omitempty"`
	Limits        metaLimits        `json:"Limits"`
	CreatedAt     *time.Time        `json:"CreatedAt,omitempty"`
	StartedAt     *time.Time        `json:"StartedAt,omitempty"`
	FinishedAt    *time.Time        `json:"FinishedAt,omitempty"`
	Type          string            `json:"Type"`
	Networks      []networkResponse `json:"Networks,omitempty"`
	Health        *metaHealth       `json:"Health,omitempty"`
	Volumes       []volumeResponse  `json:"Volumes,omitempty"`
	LogDriver     string            `json:"LogDriver,omitempty"`
	LogOptions    map[string]string `json:"LogOptions,omitempty"`
	RestartCount  int               `json:"RestartCount"`
}

type metaTask struct {
	Cluster            string          `json:"Cluster"`
	TaskARN            string          `json:"TaskARN"`
	Family             string          `json:"Family"`
	Revision           string          `json:"Revision"`
	DesiredStatus      string          `json:"DesiredStatus"`
	KnownStatus        string          `json:"KnownStatus"`
	Containers         []metaContainer `json:"Containers"`
	Limits             *metaLimits     `json:"Limits,omitempty"`
	PullStartedAt      *time.Time      `json:"PullStartedAt,omitempty"`
	PullStoppedAt      *time.Time      `json:"PullStoppedAt,omitempty"`
	ExecutionStoppedAt *time.Time      `json:"ExecutionStoppedAt,omitempty"`
	AvailabilityZone   string          `json:"AvailabilityZone,omitempty"`
	LaunchType         string          `json:"LaunchType"`
	ServiceName        string          `json:"ServiceName,omitempty"`
}

func (a *Agent) metadataHandler() http.Handler {
	mux := http.NewServeMux()
	for _, v := range []string{"v3", "v4"} {
		mux.HandleFunc("GET /"+v+"/{id}", a.metaRoute(a.serveContainer))
		mux.HandleFunc("GET /"+v+"/{id}/task", a.metaRoute(a.serveTask))
		mux.HandleFunc("GET /"+v+"/{id}/taskWithTags", a.metaRoute(a.serveTask))
		mux.HandleFunc("GET /"+v+"/{id}/stats", a.metaRoute(a.serveContainerStats))
		mux.HandleFunc("GET /"+v+"/{id}/task/stats", a.metaRoute(a.serveTaskStats))
	}
	return limited(newLimiter(metadataRPS, metadataBurst), a.notReady(mux))
}

// metaTarget is the container a metadata id designates, and its task.
type metaTarget struct {
	task       engine.Report
	container  engine.ContainerReport
	assignment events.TaskAssignment // zero when unknown
	v4         bool
}

type metaFunc func(w http.ResponseWriter, r *http.Request, t metaTarget)

func (a *Agent) metaRoute(fn metaFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		t, ok := a.lookupMetadataID(id)
		if !ok {
			writeError(w, http.StatusNotFound, "unknown container metadata id %q", id)
			return
		}
		t.v4 = strings.HasPrefix(r.URL.Path, "/v4/")
		fn(w, r, t)
	}
}

func (a *Agent) lookupMetadataID(id string) (metaTarget, bool) {
	taskID, _, ok := strings.Cut(id, "-")
	if !ok {
		return metaTarget{}, false
	}
	for _, t := range a.eng.Tasks() {
		if taskIDOf(t.TaskARN) != taskID {
			continue
		}
		for _, c := range t.Containers {
			if a.metadataID(t.TaskARN, c.Name) == id {
				asg, _ := a.desired.get(t.TaskARN)
				return metaTarget{task: t, container: c, assignment: asg}, true
			}
		}
	}
	return metaTarget{}, false
}

func (a *Agent) serveContainer(w http.ResponseWriter, r *http.Request, t metaTarget) {
	writeJSON(w, http.StatusOK, a.metaContainer(r.Context(), t, t.container))
}

func (a *Agent) serveTask(w http.ResponseWriter, r *http.Request, t metaTarget) {
	out := metaTask{
		Cluster:            a.proto.Cluster(),
		TaskARN:            t.task.TaskARN,
		Family:             t.task.Family,
		Revision:           strconv.Itoa(int(t.task.Revision)),
		DesiredStatus:      string(t.task.DesiredStatus),
		KnownStatus:        publicTaskStatus(t.task.LastStatus),
		PullStartedAt:      timePtr(t.task.PullStartedAt),
		PullStoppedAt:      timePtr(t.task.PullStoppedAt),
		ExecutionStoppedAt: timePtr(t.task.ExecutionStoppedAt),
		AvailabilityZone:   a.cfg.AvailabilityZone,
		LaunchType:         "EC2",
		ServiceName:        serviceName(t.assignment),
		Containers:         make([]metaContainer, 0, len(t.task.Containers)),
	}
	if t.v4 {
		out.Cluster = t.assignment.ClusterArn
		if out.Cluster == "" {
			out.Cluster = events.ClusterARN(a.cfg.Region, a.accountOf(), a.proto.Cluster())
		}
	}
	if t.assignment.TaskDefinition != nil {
		def := docker.ApplyTaskOverride(*t.assignment.TaskDefinition, t.assignment.Overrides)
		var l metaLimits
		if units, ok := docker.TaskCPUUnits(def.Cpu); ok {
			v := float64(units) / 1024
			l.CPU = &v
		}
		if mib, ok := docker.TaskMemoryMiB(def.Memory); ok {
			l.Memory = &mib
		}
		if l.CPU != nil || l.Memory != nil {
			out.Limits = &l
		}
	}
	for _, c := range t.task.Containers {
		out.Containers = append(out.Containers, a.metaContainer(r.Context(), t, c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Agent) metaContainer(ctx context.Context, t metaTarget, c engine.ContainerReport) metaContainer {
	out := metaContainer{
		DockerID:      c.RuntimeID,
		Name:          c.Name,
		Image:         c.Image,
		DesiredStatus: string(t.task.DesiredStatus),
		KnownStatus:   c.LastStatus.String(),
		ExitCode:      c.ExitCode,
		StartedAt:     timePtr(c.StartedAt),
		FinishedAt:    timePtr(c.FinishedAt),
		Type:          "NORMAL",
		Ports:         ports(c.NetworkBindings),
	}
	if def := containerDef(t.assignment, c.Name); def != nil {
		if def.Cpu != nil {
			v := float64(*def.Cpu)
			out.Limits.CPU = &v
		}
		if def.Memory != nil {
			v := int64(*def.Memory)
			out.Limits.Memory = &v
		}
		if def.HealthCheck != nil {
			out.Health = &metaHealth{Status: string(c.HealthStatus)}
		}
	}
	if in, ok := a.inspect(ctx, c.RuntimeID); ok {
		out.DockerName, out.ImageID, out.CreatedAt = in.Name, in.ImageID, timePtr(in.Created)
		out.Labels = maps.Clone(in.Labels)
		out.Networks, out.Volumes, out.RestartCount = networks(in), volumes(in), in.RestartCount
		if n := a.awsvpcNetworks(t.task.Network); n != nil {
			out.Networks = n
		}
		out.LogDriver, out.LogOptions = in.LogDriver, in.LogOptions
		if out.Limits.CPU == nil && in.CPUShares > 0 {
			v := float64(in.CPUShares)
			out.Limits.CPU = &v
		}
		if out.Limits.Memory == nil && in.Memory > 0 {
			v := in.Memory >> 20
			out.Limits.Memory = &v
		}
	}
	return out
}

func (a *Agent) serveContainerStats(w http.ResponseWriter, r *http.Request, t metaTarget) {
	writeJSON(w, http.StatusOK, a.stats.get(r.Context(), a.dc, t.container))
}

func (a *Agent) serveTaskStats(w http.ResponseWriter, r *http.Request, t metaTarget) {
	out := map[string]any{}
	for _, c := range t.task.Containers {
		if c.RuntimeID != "" {
			out[c.RuntimeID] = a.stats.get(r.Context(), a.dc, c)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// containerDef is the definition of container name, with its RunTask
// override applied.
func containerDef(asg events.TaskAssignment, name string) *ecsapi.ContainerDefinition {
	if asg.TaskDefinition == nil {
		return nil
	}
	for _, d := range asg.TaskDefinition.ContainerDefinitions {
		if d.Name != name {
			continue
		}
		if asg.Overrides != nil {
			for i := range asg.Overrides.ContainerOverrides {
				if o := &asg.Overrides.ContainerOverrides[i]; o.Name == name {
					d = docker.ApplyOverride(d, o)
				}
			}
		}
		return &d
	}
	return nil
}

// serviceName is the service a task belongs to (group "service:<name>").
func serviceName(asg events.TaskAssignment) string {
	if s, ok := strings.CutPrefix(asg.Group, "service:"); ok {
		return s
	}
	return ""
}

// publicTaskStatus maps the engine's status to ECS's public one.
func publicTaskStatus(s engine.TaskStatus) string {
	if s == engine.TaskNone {
		return engine.TaskPending.String()
	}
	return s.String()
}

func (a *Agent) accountOf() string {
	if a.cfg.Account != "" {
		return a.cfg.Account
	}
	if arn, err := events.ParseARN(a.proto.InstanceArn()); err == nil {
		return arn.Account
	}
	return ""
}
