package docker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error classes. Every error returned by this package wraps one of them when
// the class is known; test with errors.Is.
var (
	// ErrNotFound: the container, image or volume does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the name is taken (container create) or the object is in use.
	ErrConflict = errors.New("conflict")
	// ErrUnsupported: the task or container definition uses a feature Berth's
	// agent cannot run (awsvpc, FARGATE-only, secrets, ...).
	ErrUnsupported = errors.New("not supported by Berth")
	// ErrInvalid: the definition is malformed (bad port, DNS address, link...).
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: the Docker daemon cannot be reached.
	ErrUnavailable = errors.New("docker unavailable")
)

// Error is a failed Docker call. Error() is "<op>: <daemon message>"; Message
// holds the daemon's own words, which is what ECS puts after
// "CannotPullContainerError: " and its siblings.
type Error struct {
	Op    string // "pull nginx:latest", "create ecs-web-1-app-…"
	Class error  // one of the ErrX classes, or nil when unknown
	Err   error  // the error from the Docker client
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap exposes both the class and the client error to errors.Is / errors.As.
func (e *Error) Unwrap() []error {
	if e.Class == nil {
		return []error{e.Err}
	}
	return []error{e.Class, e.Err}
}

// DaemonMessage returns the Docker daemon's message inside err (without the
// operation prefix added by this package), or err.Error() when err did not
// come from a Docker call.
func DaemonMessage(err error) string {
	if err == nil {
		return ""
	}
	var de *Error
	if errors.As(err, &de) {
		return de.Err.Error()
	}
	return err.Error()
}

// PullBehavior mirrors ECS_IMAGE_PULL_BEHAVIOR.
type PullBehavior string

const (
	// PullDefault pulls every time; when the pull fails and the image is
	// cached, the cached image is used.
	PullDefault PullBehavior = "default"
	// PullAlways pulls every time; a failed pull is an error.
	PullAlways PullBehavior = "always"
	// PullOnce pulls when the image is not present locally (the first task on
	// the host, or after image cleanup removed it); a failed pull is an error.
	PullOnce PullBehavior = "once"
	// PullPreferCached uses the local image when present and pulls otherwise.
	// Images used this way are never removed by the engine's image cleanup.
	PullPreferCached PullBehavior = "prefer-cached"
)

// ParsePullBehavior accepts the ECS_IMAGE_PULL_BEHAVIOR spellings ("" means default).
func ParsePullBehavior(s string) (PullBehavior, error) {
	switch b := PullBehavior(strings.ToLower(strings.TrimSpace(s))); b {
	case "":
		return PullDefault, nil
	case PullDefault, PullAlways, PullOnce, PullPreferCached:
		return b, nil
	default:
		return "", fmt.Errorf("image pull behavior %q: %w", s, ErrInvalid)
	}
}

// RegistryAuth is the credential sent with a pull (header X-Registry-Auth).
type RegistryAuth struct {
	Username      string
	Password      string
	ServerAddress string
	IdentityToken string
	RegistryToken string
}

// String never prints secrets.
func (a RegistryAuth) String() string {
	return fmt.Sprintf("RegistryAuth{Username:%q ServerAddress:%q}", a.Username, a.ServerAddress)
}

// ECRAuth turns an ECR GetAuthorizationToken token (base64 of "AWS:password")
// into a RegistryAuth for the given registry endpoint.
func ECRAuth(token, serverAddress string) (RegistryAuth, error) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return RegistryAuth{}, fmt.Errorf("ecr authorization token: %w", ErrInvalid)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" {
		return RegistryAuth{}, fmt.Errorf("ecr authorization token: not user:password: %w", ErrInvalid)
	}
	return RegistryAuth{Username: user, Password: pass, ServerAddress: serverAddress}, nil
}

// Image is a local image.
type Image struct {
	Ref         string // the reference asked for
	ID          string // sha256:… config digest
	RepoDigests []string
	// Digest is the manifest digest (sha256:…) for Ref's repository when the
	// image came from a registry; empty for images built or imported locally.
	Digest string
	// Pulled reports that EnsureImage actually pulled (not served from cache).
	Pulled bool
}

// PortBinding is one published port of a container.
type PortBinding struct {
	BindIP        string // "0.0.0.0", "::"
	ContainerPort int
	HostPort      int
	Protocol      string // "tcp" or "udp"
}

// Container is what the agent needs from `docker inspect`.
type Container struct {
	ID          string
	Name        string // without the leading "/"
	Image       string // as given at create
	ImageID     string
	Labels      map[string]string
	Status      string // created, running, paused, restarting, removing, exited, dead
	Running     bool
	ExitCode    int
	OOMKilled   bool
	Error       string // the daemon's error when the container failed to start
	Health      string // "", starting, healthy, unhealthy
	StartedAt   time.Time
	FinishedAt  time.Time
	NetworkMode string
	Ports       []PortBinding
	StopTimeout *int // seconds, from the container config

	Created      time.Time
	RestartCount int
	Networks     []ContainerNetwork // one per attached network (none in host/none mode)
	Mounts       []Mount
	LogDriver    string
	LogOptions   map[string]string
	CPUShares    int64
	Memory       int64 // hard limit in bytes; 0 = none
	Env          []string
}

// ContainerNetwork is a network a container is attached to.
type ContainerNetwork struct {
	Name          string // "bridge", a user-defined network
	IPv4Addresses []string
	IPv6Addresses []string
	MacAddress    string // "02:42:ac:11:00:02"
	Gateway       string // IPv4 gateway
	PrefixLen     int    // IPv4 prefix length
}

// Mount is a volume or bind mount of a container.
type Mount struct {
	Name        string // Docker volume name; empty for bind mounts
	Source      string
	Destination string
}

// Started reports whether the container has ever been started.
func (c Container) Started() bool { return !c.StartedAt.IsZero() }

// Exited reports whether the container ran and is no longer running.
func (c Container) Exited() bool {
	switch c.Status {
	case "exited", "dead", "removing":
		return true
	}
	return false
}

// ContainerSummary is one row of `docker ps -a`.
type ContainerSummary struct {
	ID      string
	Name    string
	Image   string
	ImageID string
	Labels  map[string]string
	State   string
	Created time.Time
}

// Event actions delivered by Events. Docker's "health_status: healthy" becomes
// Action "health_status" with Health "healthy".
const (
	ActionStart        = "start"
	ActionDie          = "die"
	ActionOOM          = "oom"
	ActionHealthStatus = "health_status"
	ActionStop         = "stop"
	ActionKill         = "kill"
	ActionDestroy      = "destroy"
	// ActionReconnected is synthetic: the stream was re-established after an
	// error and events may have been missed; re-inspect everything.
	ActionReconnected = "reconnected"
)

// Event is a container event from the Docker daemon.
type Event struct {
	Action      string
	ContainerID string
	Labels      map[string]string // container labels (and name, image)
	ExitCode    *int              // on die
	Health      string            // on health_status
	Time        time.Time
}

// Runtime is the container runtime used by the task engine. Client implements
// it against the Docker Engine API.
type Runtime interface {
	// Ping checks that the daemon answers and negotiates the API version.
	Ping(ctx context.Context) error

	// EnsureImage makes ref available locally following behavior.
	EnsureImage(ctx context.Context, ref string, auth *RegistryAuth, behavior PullBehavior) (Image, error)
	// PullImage pulls ref unconditionally.
	PullImage(ctx context.Context, ref string, auth *RegistryAuth) (Image, error)
	// InspectImage returns a local image (ErrNotFound when absent).
	InspectImage(ctx context.Context, ref string) (Image, error)
	// RemoveImage untags/removes ref (not forced; ErrConflict while in use).
	RemoveImage(ctx context.Context, ref string) error

	// CreateContainer creates the Docker volumes the container needs and the
	// container itself, and returns its ID. ErrConflict when the name is taken.
	CreateContainer(ctx context.Context, spec ContainerSpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal, waits timeout, then SIGKILL. A
	// negative timeout uses the container's own stop timeout.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// RemoveContainer force-removes the container and its anonymous volumes.
	// Removing a container that does not exist is not an error.
	RemoveContainer(ctx context.Context, id string) error
	// InspectContainer accepts an ID or a name.
	InspectContainer(ctx context.Context, id string) (Container, error)
	// ListContainers lists containers in every state carrying all the labels
	// (label value "" matches any value); nil labels list every container.
	ListContainers(ctx context.Context, labels map[string]string) ([]ContainerSummary, error)
	// RemoveTaskVolumes removes the task-scoped Docker volumes of a task.
	RemoveTaskVolumes(ctx context.Context, taskARN string) error

	// Events streams container events for containers carrying all the labels,
	// reconnecting on error, until ctx ends; then the channel is closed.
	Events(ctx context.Context, labels map[string]string) <-chan Event
}
