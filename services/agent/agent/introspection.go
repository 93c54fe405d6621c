package agent

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/engine"
)

// Introspection API, shaped like amazon-ecs-agent's (port 51678).

type introMetadata struct {
	Cluster              string  `json:"Cluster"`
	ContainerInstanceArn *string `json:"ContainerInstanceArn"`
	Version              string  `json:"Version"`
}

type introTasks struct {
	Tasks []introTask `json:"Tasks"`
}

type introTask struct {
	Arn           string           `json:"Arn"`
	DesiredStatus string           `json:"DesiredStatus,omitempty"`
	KnownStatus   string           `json:"KnownStatus"`
	Family        string           `json:"Family"`
	Version       string           `json:"Version"`
	Containers    []introContainer `json:"Containers"`
}

type introContainer struct {
	DockerID     string            `json:"DockerId"`
	DockerName   string            `json:"DockerName"`
	Name         string            `json:"Name"`
	Image        string            `json:"Image"`
	ImageID      string            `json:"ImageID"`
	CreatedAt    *time.Time        `json:"CreatedAt,omitempty"`
	StartedAt    *time.Time        `json:"StartedAt,omitempty"`
	Ports        []portResponse    `json:"Ports,omitempty"`
	Networks     []networkResponse `json:"Networks,omitempty"`
	Volumes      []volumeResponse  `json:"Volumes,omitempty"`
	RestartCount int               `json:"RestartCount"`
}

type portResponse struct {
	ContainerPort int    `json:"ContainerPort,omitempty"`
	Protocol      string `json:"Protocol,omitempty"`
	HostPort      int    `json:"HostPort,omitempty"`
	HostIP        string `json:"HostIp,omitempty"`
}

type networkResponse struct {
	NetworkMode   string   `json:"NetworkMode"`
	IPv4Addresses []string `json:"IPv4Addresses,omitempty"`
	IPv6Addresses []string `json:"IPv6Addresses,omitempty"`
	// awsvpc only, as on Fargate.
	AttachmentIndex          *int   `json:"AttachmentIndex,omitempty"`
	MACAddress               string `json:"MACAddress,omitempty"`
	IPv4SubnetCIDRBlock      string `json:"IPv4SubnetCIDRBlock,omitempty"`
	SubnetGatewayIpv4Address string `json:"SubnetGatewayIpv4Address,omitempty"`
}

type volumeResponse struct {
	DockerName  string `json:"DockerName,omitempty"`
	Source      string `json:"Source,omitempty"`
	Destination string `json:"Destination,omitempty"`
}

func (a *Agent) introspectionHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/metadata", a.handleMetadataV1)
	mux.HandleFunc("GET /v1/tasks", a.handleTasksV1)
	return a.notReady(mux)
}

func (a *Agent) handleMetadataV1(w http.ResponseWriter, _ *http.Request) {
	arn := a.proto.InstanceArn()
	writeJSON(w, http.StatusOK, introMetadata{
		Cluster:              a.proto.Cluster(),
		ContainerInstanceArn: &arn,
		Version:              "Berth Agent - v" + Version,
	})
}

// handleTasksV1 lists every task, or the one task holding a container
// (?dockerid=, a full id or a prefix of at least 12 characters) or with an
// ARN (?taskarn=). Both at once: 400; unknown: 404.
func (a *Agent) handleTasksV1(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dockerID, taskARN := q.Get("dockerid"), q.Get("taskarn")
	if dockerID != "" && taskARN != "" {
		writeError(w, http.StatusBadRequest, "give dockerid or taskarn, not both")
		return
	}
	tasks := a.eng.Tasks()
	switch {
	case taskARN != "":
		for _, t := range tasks {
			if t.TaskARN == taskARN {
				writeJSON(w, http.StatusOK, a.introTask(r.Context(), t))
				return
			}
		}
		writeError(w, http.StatusNotFound, "no task %s", taskARN)
	case dockerID != "":
		for _, t := range tasks {
			for _, c := range t.Containers {
				if matchDockerID(c.RuntimeID, dockerID) {
					writeJSON(w, http.StatusOK, a.introTask(r.Context(), t))
					return
				}
			}
		}
		writeError(w, http.StatusNotFound, "no task with container %s", dockerID)
	default:
		out := introTasks{Tasks: make([]introTask, 0, len(tasks))}
		for _, t := range tasks {
			out.Tasks = append(out.Tasks, a.introTask(r.Context(), t))
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func matchDockerID(full, q string) bool {
	if full == "" {
		return false
	}
	return full == q || (len(q) >= 12 && strings.HasPrefix(full, q))
}

func (a *Agent) introTask(ctx context.Context, t engine.Report) introTask {
	out := introTask{
		Arn:           t.TaskARN,
		DesiredStatus: string(t.DesiredStatus),
		KnownStatus:   t.LastStatus.String(),
		Family:        t.Family,
		Version:       strconv.Itoa(int(t.Revision)),
		Containers:    make([]introContainer, 0, len(t.Containers)),
	}
	for _, c := range t.Containers {
		ic := introContainer{DockerID: c.RuntimeID, Name: c.Name, Image: c.Image,
			StartedAt: timePtr(c.StartedAt), Ports: ports(c.NetworkBindings)}
		if in, ok := a.inspect(ctx, c.RuntimeID); ok {
			ic.DockerName, ic.ImageID, ic.CreatedAt = in.Name, in.ImageID, timePtr(in.Created)
			ic.Networks, ic.Volumes, ic.RestartCount = networks(in), volumes(in), in.RestartCount
			if n := a.awsvpcNetworks(t.Network); n != nil {
				ic.Networks = n
			}
		}
		out.Containers = append(out.Containers, ic)
	}
	return out
}

// inspect asks Docker for what the engine's reports do not carry.
func (a *Agent) inspect(ctx context.Context, id string) (docker.Container, bool) {
	if id == "" {
		return docker.Container{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	in, err := a.dc.InspectContainer(ctx, id)
	return in, err == nil
}

func ports(bs []engine.NetworkBinding) []portResponse {
	var out []portResponse
	for _, b := range bs {
		out = append(out, portResponse{ContainerPort: b.ContainerPort, Protocol: b.Protocol, HostPort: b.HostPort, HostIP: b.BindIP})
	}
	return out
}

func networks(in docker.Container) []networkResponse {
	var out []networkResponse
	for _, n := range in.Networks {
		mode := n.Name
		if in.NetworkMode == "host" || in.NetworkMode == "none" {
			mode = in.NetworkMode
		}
		out = append(out, networkResponse{NetworkMode: mode, IPv4Addresses: n.IPv4Addresses, IPv6Addresses: n.IPv6Addresses})
	}
	return out
}

// awsvpcNetworks is the one network of every container of an awsvpc task:
// the task's own (nil for other tasks).
func (a *Agent) awsvpcNetworks(n *engine.TaskNetwork) []networkResponse {
	if n == nil {
		return nil
	}
	idx := 0
	out := networkResponse{NetworkMode: "awsvpc", IPv4Addresses: []string{n.IPv4Address}, AttachmentIndex: &idx,
		MACAddress: n.MacAddress, SubnetGatewayIpv4Address: n.Gateway}
	if a.awsvpcSubnet.IsValid() {
		out.IPv4SubnetCIDRBlock = a.awsvpcSubnet.String()
		out.SubnetGatewayIpv4Address += "/" + strconv.Itoa(a.awsvpcSubnet.Bits())
	}
	return []networkResponse{out}
}

func volumes(in docker.Container) []volumeResponse {
	var out []volumeResponse
	for _, m := range in.Mounts {
		out = append(out, volumeResponse{DockerName: m.Name, Source: m.Source, Destination: m.Destination})
	}
	return out
}
