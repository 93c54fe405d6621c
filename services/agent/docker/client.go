package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

// Options configure a Client.
type Options struct {
	// Host is the daemon address (unix:///var/run/docker.sock when empty).
	Host string
	// APIVersion pins the API version; empty negotiates with the daemon.
	APIVersion string
	// Logger receives debug and warning messages; nil discards them.
	Logger *slog.Logger
	// EventsRetryMax caps the back-off between event-stream reconnects
	// (default 5 s).
	EventsRetryMax time.Duration
}

// Client implements Runtime with github.com/moby/moby/client.
type Client struct {
	api            *client.Client
	log            *slog.Logger
	eventsRetryMax time.Duration
}

var _ Runtime = (*Client)(nil)

// New builds a Client. It does not contact the daemon; call Ping.
func New(opts Options) (*Client, error) {
	var copts []client.Opt
	if opts.Host != "" {
		copts = append(copts, client.WithHost(opts.Host))
	}
	if opts.APIVersion != "" {
		copts = append(copts, client.WithAPIVersion(opts.APIVersion))
	}
	api, err := client.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	retry := opts.EventsRetryMax
	if retry <= 0 {
		retry = 5 * time.Second
	}
	return &Client{api: api, log: log, eventsRetryMax: retry}, nil
}

// API exposes the underlying moby client (tests, diagnostics).
func (c *Client) API() *client.Client { return c.api }

// Close releases idle connections.
func (c *Client) Close() error { return c.api.Close() }

// wrap classifies a moby client error.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var class error
	switch {
	case cerrdefs.IsNotFound(err):
		class = ErrNotFound
	case cerrdefs.IsConflict(err), cerrdefs.IsAlreadyExists(err):
		class = ErrConflict
	case client.IsErrConnectionFailed(err):
		class = ErrUnavailable
	case cerrdefs.IsInvalidArgument(err):
		class = ErrInvalid
	}
	return &Error{Op: op, Class: class, Err: err}
}

// Ping implements Runtime.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	return wrap("ping", err)
}

// APIVersion is the negotiated API version (after Ping).
func (c *Client) APIVersion() string { return c.api.ClientVersion() }

// EnsureImage implements Runtime.
func (c *Client) EnsureImage(ctx context.Context, ref string, auth *RegistryAuth, behavior PullBehavior) (Image, error) {
	switch behavior {
	case PullOnce, PullPreferCached:
		img, err := c.InspectImage(ctx, ref)
		if err == nil {
			return img, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Image{}, err
		}
		return c.PullImage(ctx, ref, auth)
	case PullAlways:
		return c.PullImage(ctx, ref, auth)
	case PullDefault, "":
		img, err := c.PullImage(ctx, ref, auth)
		if err == nil {
			return img, nil
		}
		cached, ierr := c.InspectImage(ctx, ref)
		if ierr != nil {
			return Image{}, err
		}
		c.log.Warn("image pull failed; using the cached image", "image", ref, "err", DaemonMessage(err))
		return cached, nil
	default:
		return Image{}, fmt.Errorf("pull behavior %q: %w", behavior, ErrInvalid)
	}
}

// PullImage implements Runtime.
func (c *Client) PullImage(ctx context.Context, ref string, auth *RegistryAuth) (Image, error) {
	op := "pull " + ref
	opts := client.ImagePullOptions{}
	if auth != nil {
		enc, err := authconfig.Encode(registry.AuthConfig{
			Username:      auth.Username,
			Password:      auth.Password,
			ServerAddress: auth.ServerAddress,
			IdentityToken: auth.IdentityToken,
			RegistryToken: auth.RegistryToken,
		})
		if err != nil {
			return Image{}, &Error{Op: op, Class: ErrInvalid, Err: err}
		}
		opts.RegistryAuth = enc
	}
	c.log.Debug("pulling image", "image", ref)
	resp, err := c.api.ImagePull(ctx, ref, opts)
	if err != nil {
		return Image{}, wrap(op, err)
	}
	defer resp.Close()
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return Image{}, wrap(op, err)
		}
		if msg.Error != nil {
			return Image{}, wrap(op, errors.New(msg.Error.Message))
		}
	}
	img, err := c.InspectImage(ctx, ref)
	if err != nil {
		return Image{}, err
	}
	img.Pulled = true
	return img, nil
}

// InspectImage implements Runtime.
func (c *Client) InspectImage(ctx context.Context, ref string) (Image, error) {
	res, err := c.api.ImageInspect(ctx, ref)
	if err != nil {
		return Image{}, wrap("inspect image "+ref, err)
	}
	return Image{Ref: ref, ID: res.ID, RepoDigests: res.RepoDigests, Digest: RepoDigestFor(ref, res.RepoDigests)}, nil
}

// RepoDigestFor picks the digest of ref's repository among "repo@sha256:…".
func RepoDigestFor(ref string, repoDigests []string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return ref[i+1:]
	}
	name := ref
	if n, err := reference.ParseNormalizedNamed(ref); err == nil {
		name = n.Name()
	}
	for _, rd := range repoDigests {
		repo, dgst, ok := strings.Cut(rd, "@")
		if !ok {
			continue
		}
		if n, err := reference.ParseNormalizedNamed(repo); err == nil && n.Name() == name {
			return dgst
		}
	}
	return ""
}

// HasRepoDigest reports whether repoDigests ("repo@sha256:…", from an image
// inspect) record digest for ref's repository: the local image is what a
// pull of ref would fetch when the registry resolves ref to digest.
func HasRepoDigest(ref string, repoDigests []string, digest string) bool {
	if digest == "" {
		return false
	}
	name := ref
	if n, err := reference.ParseNormalizedNamed(ref); err == nil {
		name = n.Name()
	}
	for _, rd := range repoDigests {
		repo, dgst, ok := strings.Cut(rd, "@")
		if !ok || dgst != digest {
			continue
		}
		if n, err := reference.ParseNormalizedNamed(repo); err == nil && n.Name() == name {
			return true
		}
	}
	return false
}

// RemoveImage implements Runtime.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	_, err := c.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	return wrap("remove image "+ref, err)
}

// CreateContainer implements Runtime.
func (c *Client) CreateContainer(ctx context.Context, spec ContainerSpec) (string, error) {
	cc, err := Translate(spec)
	if err != nil {
		return "", err
	}
	for _, v := range cc.Volumes {
		if err := c.ensureVolume(ctx, v); err != nil {
			return "", err
		}
	}
	res, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       cc.Name,
		Config:     cc.Config,
		HostConfig: cc.HostConfig,
	})
	if err != nil {
		return "", wrap("create "+cc.Name, err)
	}
	for _, w := range res.Warnings {
		c.log.Warn("docker create warning", "container", cc.Name, "warning", w)
	}
	return res.ID, nil
}

func (c *Client) ensureVolume(ctx context.Context, v VolumeSpec) error {
	_, err := c.api.VolumeInspect(ctx, v.Name, client.VolumeInspectOptions{})
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return wrap("inspect volume "+v.Name, err)
	}
	if !v.Create {
		return &Error{Op: "volume " + v.Name, Class: ErrNotFound,
			Err: errors.New("volume does not exist and autoprovision is false")}
	}
	_, err = c.api.VolumeCreate(ctx, client.VolumeCreateOptions{
		Name: v.Name, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: v.Labels,
	})
	return wrap("create volume "+v.Name, err)
}

// RemoveTaskVolumes implements Runtime.
func (c *Client) RemoveTaskVolumes(ctx context.Context, taskARN string) error {
	res, err := c.api.VolumeList(ctx, client.VolumeListOptions{
		Filters: make(client.Filters).Add("label", LabelTaskARN+"="+taskARN),
	})
	if err != nil {
		return wrap("list volumes", err)
	}
	var errs []error
	for _, v := range res.Items {
		if v.Labels[LabelVolumeName] == "" {
			continue // not a task-scoped volume we created
		}
		if _, err := c.api.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, wrap("remove volume "+v.Name, err))
		}
	}
	return errors.Join(errs...)
}

// StartContainer implements Runtime.
func (c *Client) StartContainer(ctx context.Context, id string) error {
	_, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return wrap("start "+id, err)
}

// StopContainer implements Runtime.
func (c *Client) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	opts := client.ContainerStopOptions{}
	if timeout >= 0 {
		secs := int(math.Ceil(timeout.Seconds()))
		opts.Timeout = &secs
	}
	_, err := c.api.ContainerStop(ctx, id, opts)
	return wrap("stop "+id, err)
}

// RemoveContainer implements Runtime.
func (c *Client) RemoveContainer(ctx context.Context, id string) error {
	_, err := c.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return wrap("remove "+id, err)
}

// InspectContainer implements Runtime.
func (c *Client) InspectContainer(ctx context.Context, id string) (Container, error) {
	res, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return Container{}, wrap("inspect "+id, err)
	}
	return fromInspect(res.Container), nil
}

func fromInspect(in container.InspectResponse) Container {
	out := Container{ID: in.ID, Name: strings.TrimPrefix(in.Name, "/"), ImageID: in.Image,
		Created: parseTime(in.Created), RestartCount: in.RestartCount}
	if in.Config != nil {
		out.Image = in.Config.Image
		out.Labels = in.Config.Labels
		out.StopTimeout = in.Config.StopTimeout
		out.Env = in.Config.Env
	}
	for _, m := range in.Mounts {
		out.Mounts = append(out.Mounts, Mount{Name: m.Name, Source: m.Source, Destination: m.Destination})
	}
	if s := in.State; s != nil {
		out.Status = string(s.Status)
		out.Running = s.Running
		out.ExitCode = s.ExitCode
		out.OOMKilled = s.OOMKilled
		out.Error = s.Error
		out.StartedAt = parseTime(s.StartedAt)
		out.FinishedAt = parseTime(s.FinishedAt)
		if s.Health != nil {
			out.Health = string(s.Health.Status)
		}
	}
	if hc := in.HostConfig; hc != nil {
		out.NetworkMode = string(hc.NetworkMode)
		out.LogDriver, out.LogOptions = hc.LogConfig.Type, hc.LogConfig.Config
		out.CPUShares, out.Memory = hc.CPUShares, hc.Memory
	}
	if in.NetworkSettings != nil {
		names := slices.Sorted(maps.Keys(in.NetworkSettings.Networks))
		for _, name := range names {
			ep := in.NetworkSettings.Networks[name]
			if ep == nil {
				continue
			}
			n := ContainerNetwork{Name: name, MacAddress: ep.MacAddress.String(), PrefixLen: ep.IPPrefixLen}
			if ep.Gateway.IsValid() {
				n.Gateway = ep.Gateway.String()
			}
			if ep.IPAddress.IsValid() {
				n.IPv4Addresses = []string{ep.IPAddress.String()}
			}
			if ep.GlobalIPv6Address.IsValid() {
				n.IPv6Addresses = []string{ep.GlobalIPv6Address.String()}
			}
			out.Networks = append(out.Networks, n)
		}
	}
	if out.NetworkMode == networkModeHost {
		// Host networking publishes nothing: the container port is the host port.
		if in.Config != nil {
			for p := range in.Config.ExposedPorts {
				out.Ports = append(out.Ports, PortBinding{BindIP: "0.0.0.0", ContainerPort: int(p.Num()), HostPort: int(p.Num()), Protocol: string(p.Proto())})
			}
		}
	} else if in.NetworkSettings != nil {
		for p, binds := range in.NetworkSettings.Ports {
			for _, b := range binds {
				hp, err := strconv.Atoi(b.HostPort)
				if err != nil || hp == 0 {
					continue
				}
				ip := "0.0.0.0"
				if b.HostIP.IsValid() {
					ip = b.HostIP.String()
				}
				out.Ports = append(out.Ports, PortBinding{BindIP: ip, ContainerPort: int(p.Num()), HostPort: hp, Protocol: string(p.Proto())})
			}
		}
	}
	slices.SortFunc(out.Ports, func(a, b PortBinding) int {
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort - b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return strings.Compare(a.Protocol, b.Protocol)
		}
		return strings.Compare(a.BindIP, b.BindIP)
	})
	return out
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// ListContainers implements Runtime.
func (c *Client) ListContainers(ctx context.Context, labels map[string]string) ([]ContainerSummary, error) {
	f := make(client.Filters)
	for k, v := range labels {
		if v == "" {
			f.Add("label", k)
		} else {
			f.Add("label", k+"="+v)
		}
	}
	res, err := c.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, wrap("list containers", err)
	}
	out := make([]ContainerSummary, 0, len(res.Items))
	for _, it := range res.Items {
		s := ContainerSummary{ID: it.ID, Image: it.Image, ImageID: it.ImageID, Labels: it.Labels,
			State: string(it.State), Created: time.Unix(it.Created, 0)}
		if len(it.Names) > 0 {
			s.Name = strings.TrimPrefix(it.Names[0], "/")
		}
		out = append(out, s)
	}
	return out, nil
}
