package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/agentproto"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/engine"
)

// ErrNoDocker is returned (wrapped, with the daemon address and the cause)
// by Probe and Run when the Docker daemon does not answer.
var ErrNoDocker = errors.New("cannot reach Docker")

const (
	probeTimeout    = 5 * time.Second
	shutdownTimeout = 5 * time.Second
	flushTimeout    = 3 * time.Second
	callRetryMax    = 2 * time.Second
)

// Agent runs the tasks the scheduler assigns to this host as Docker
// containers. Build it with New and call Run once.
type Agent struct {
	cfg     Config
	nc      *nats.Conn
	log     *slog.Logger
	dc      *docker.Client
	desired *desiredState
	outbox  *outbox
	auth    *registryAuth
	stats   *statsCache
	ins     *insights
	started atomic.Bool
	ready   chan struct{}

	// Set by Run before ready is closed, read-only afterwards.
	eng          *engine.Engine
	proto        *agentproto.Client
	instanceID   string // instanceIdentityDocument instanceId
	metaKey      []byte
	host         hostFacts
	introAddr    string // actual listening addresses, "" when off
	metaAddr     string
	bridgeAddr   string // the bridge-gateway metadata listener, when separate
	hostBase     string // metadata base URL for host-mode containers
	bridgeBase   string // ... for bridge-mode containers ("" when not served)
	registeredAt time.Time
	awsvpcSubnet netip.Prefix // the awsvpc network's subnet, when on

	srvMu   sync.Mutex
	servers []*http.Server
}

// New checks cfg and prepares an agent on nc. It does not contact Docker or
// NATS; Run does.
func New(cfg Config, nc *nats.Conn) (*Agent, error) {
	if nc == nil && (cfg.JoinToken == "" || cfg.Dial == nil) {
		return nil, errors.New("agent: a NATS connection, or a join token and a dialer, is required")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	log := cfg.Logger.With("component", "agent", "cluster", cfg.Cluster)
	dc, err := docker.New(docker.Options{Host: cfg.DockerHost, Logger: log.With("component", "docker")})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return &Agent{
		cfg:     cfg,
		nc:      nc,
		log:     log,
		dc:      dc,
		desired: newDesiredState(),
		outbox:  newOutbox(),
		auth:    newRegistryAuth(nc, cfg, log.With("component", "registry-auth")),
		stats:   newStatsCache(),
		ins:     &insights{prev: map[string]containerPoint{}},
		ready:   make(chan struct{}),
	}, nil
}

// Probe checks that the Docker daemon at host ("" for the default) answers.
// The error wraps ErrNoDocker and names the address:
// "cannot reach Docker at unix:///var/run/docker.sock: ...".
func Probe(ctx context.Context, host string) error {
	dc, err := docker.New(docker.Options{Host: host})
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrNoDocker, displayHost(host), err)
	}
	defer dc.Close()
	return probe(ctx, dc)
}

func probe(ctx context.Context, dc *docker.Client) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := dc.Ping(pctx); err != nil {
		return fmt.Errorf("%w at %s: %w", ErrNoDocker, dc.DaemonHost(), err)
	}
	return nil
}

func displayHost(h string) string {
	if h == "" {
		return "unix:///var/run/docker.sock"
	}
	return h
}

// Ready is closed once the agent has registered and serves its endpoints.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// ContainerInstanceArn is the registered container instance (after Ready).
func (a *Agent) ContainerInstanceArn() string {
	if !a.isReady() {
		return ""
	}
	return a.proto.InstanceArn()
}

// InstanceID is the host's stable instance id (after Ready).
func (a *Agent) InstanceID() string {
	if !a.isReady() {
		return ""
	}
	return a.instanceID
}

// IntrospectionAddr is the address the introspection API listens on ("" when
// off or before Ready).
func (a *Agent) IntrospectionAddr() string {
	if !a.isReady() {
		return ""
	}
	return a.introAddr
}

// MetadataAddr is the address the task metadata endpoint listens on.
func (a *Agent) MetadataAddr() string {
	if !a.isReady() {
		return ""
	}
	return a.metaAddr
}

func (a *Agent) isReady() bool {
	select {
	case <-a.ready:
		return true
	default:
		return false
	}
}

// Run connects to Docker (failing at once, with ErrNoDocker, when it does
// not answer), joins the cluster, registers the host, and then runs the
// assigned tasks, heartbeats and reports until ctx ends. Containers keep
// running when Run returns; a restarted agent adopts them.
func (a *Agent) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	defer a.dc.Close()
	defer a.closeJoined()
	if err := probe(ctx, a.dc); err != nil {
		return err
	}
	if err := a.prepare(ctx); err != nil {
		a.closeServers()
		return err
	}
	defer a.closeServers()

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	engDone := make(chan error, 1)
	go func() { engDone <- a.eng.Run(ctx) }()

	joined := make(chan error, 1)
	go func() { joined <- a.join(ctx) }()
	select {
	case err := <-joined:
		if err != nil {
			cancel()
			<-engDone
			if parent.Err() != nil {
				return nil // stopped while joining
			}
			return err
		}
	case err := <-engDone: // Docker went away while the control plane was awaited
		cancel()
		<-joined
		if parent.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("engine stopped unexpectedly")
		}
		return fmt.Errorf("agent: %w", err)
	}
	close(a.ready)
	a.log.Info("agent registered", "container_instance_arn", a.proto.InstanceArn(), "instance_id", a.instanceID,
		"introspection", a.introAddr, "metadata", a.metaAddr, "metadata_bridge", a.bridgeBase)

	var wg sync.WaitGroup
	wg.Go(func() { runOutbox(ctx, a.outbox, a.proto.Report, a.log) })
	wg.Go(func() { a.proto.RunHeartbeats(ctx, a.cfg.HeartbeatInterval, a.heartbeat) })
	wg.Go(func() { a.followDesired(ctx) })
	wg.Go(func() { a.runLogShipper(ctx) })
	wg.Go(func() { a.runInsights(ctx) })

	var runErr error
	select {
	case <-ctx.Done():
		if err := <-engDone; err != nil {
			a.log.Debug("engine stopped during shutdown", "err", err) // cancelled mid-call
		}
	case runErr = <-engDone:
		if runErr == nil && ctx.Err() == nil {
			runErr = errors.New("engine stopped unexpectedly")
		}
	}
	cancel()
	wg.Wait()
	if left := flushOutbox(a.outbox, a.proto.Report, flushTimeout); left > 0 {
		a.log.Warn("reports not published before shutdown", "pending", left)
	}
	a.log.Info("agent stopped")
	if runErr != nil {
		return fmt.Errorf("agent: %w", runErr)
	}
	return nil
}

// prepare gathers host facts, loads the identity, opens the HTTP listeners
// and builds the engine.
func (a *Agent) prepare(ctx context.Context) error {
	info, err := a.dc.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrNoDocker, a.dc.DaemonHost(), err)
	}
	a.host = gatherHost(info, a.dc.DaemonHost())
	id, err := loadIdentity(a.cfg.DataDir, machineID(), info.ID, a.cfg.Owner)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.instanceID = id.InstanceID
	if a.cfg.InstanceID != "" {
		a.instanceID = a.cfg.InstanceID
	}
	a.metaKey = []byte(id.MetadataKey)
	if err := a.listen(ctx); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	awsvpc, err := a.prepareAWSVPC(ctx)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.eng, err = engine.New(engine.Config{
		Runtime:        a.dc,
		Logger:         a.cfg.Logger.With("cluster", a.cfg.Cluster),
		Reporter:       func(r engine.Report) { a.outbox.push(a.toStateReport(r)) },
		Owner:          a.cfg.Owner,
		PullBehavior:   a.cfg.PullBehavior,
		RegistryAuth:   a.auth.Auth,
		ResolveDigest:  a.auth.Digest,
		StopTimeout:    a.cfg.StopTimeout,
		CleanupDelay:   a.cfg.CleanupDelay,
		ResyncInterval: a.cfg.EngineResyncInterval,
		ImageCleanup:   a.cfg.ImageCleanup,
		ContainerEnv:   a.containerEnv,
		HostCPUs:       a.host.CPUs,
		AWSVPC:         awsvpc,
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// prepareAWSVPC makes the pause image and the awsvpc network when an awsvpc
// subnet is configured (nil, nil otherwise).
func (a *Agent) prepareAWSVPC(ctx context.Context) (*engine.AWSVPC, error) {
	if a.cfg.AWSVPCSubnet == "" {
		return nil, nil
	}
	subnet, err := ParseAWSVPCSubnet(a.cfg.AWSVPCSubnet)
	if err != nil {
		return nil, err
	}
	if err := a.dc.EnsurePauseImage(ctx, docker.DefaultPauseImage); err != nil {
		return nil, fmt.Errorf("awsvpc pause image: %w", err)
	}
	name := docker.AWSVPCNetworkName(a.cfg.Owner)
	info, err := a.dc.EnsureAWSVPCNetwork(ctx, name, subnet, a.cfg.Owner)
	if err != nil {
		return nil, fmt.Errorf("awsvpc network for --awsvpc-subnet %s: %w", subnet, err)
	}
	a.awsvpcSubnet = info.Subnet
	a.log.Info("awsvpc network ready", "network", name, "subnet", info.Subnet, "gateway", info.Gateway)
	return &engine.AWSVPC{Network: name, PauseImage: docker.DefaultPauseImage}, nil
}

// join creates the cluster (idempotent, as the ECS agent does for its
// configured cluster) and registers the host, retrying while the scheduler
// is not there.
func (a *Agent) join(ctx context.Context) error {
	if a.cfg.JoinToken != "" && a.cfg.Dial != nil {
		req := registerRequest(a.cfg, a.host, a.instanceID, a.ownPorts())
		proto, _, nc, err := agentproto.Join(ctx, a.cfg.Dial, a.cfg.JoinToken, req, a.log.With("component", "agentproto"))
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		a.nc = nc
		a.auth.setConn(nc)
		a.proto = proto
		a.registeredAt = time.Now().UTC()
		return nil
	}
	var cc ecsapi.CreateClusterResponse
	if err := a.callRetry(ctx, events.SubjAPI(events.APIECS, "CreateCluster"), ecsapi.CreateClusterRequest{ClusterName: a.cfg.Cluster}, &cc); err != nil {
		return fmt.Errorf("agent: create cluster %q: %w", a.cfg.Cluster, err)
	}
	req := registerRequest(a.cfg, a.host, a.instanceID, a.ownPorts())
	proto, _, err := agentproto.Register(ctx, a.nc, req, a.log.With("component", "agentproto"))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.proto = proto
	a.registeredAt = time.Now().UTC()
	return nil
}

// closeJoined closes the connection the agent opened when it joined.
func (a *Agent) closeJoined() {
	if a.cfg.JoinToken != "" && a.nc != nil {
		_ = a.nc.Drain()
	}
}

// callRetry calls an API over NATS, retrying while nobody answers.
func (a *Agent) callRetry(ctx context.Context, subj string, in, out any) error {
	wait := 100 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
		err := natsutil.Call(cctx, a.nc, subj, in, out)
		cancel()
		retryable := errors.Is(err, natsutil.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
		if err == nil || !retryable {
			return err
		}
		a.log.Debug("waiting for the control plane", "subject", subj, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, callRetryMax)
	}
}

func (a *Agent) heartbeat() events.Heartbeat {
	n := 0
	for _, r := range a.eng.Tasks() {
		if r.LastStatus == engine.TaskRunning {
			n++
		}
	}
	return events.Heartbeat{AgentVersion: Version, RunningTasks: n}
}

// ownPorts are the TCP ports the agent listens on, reserved at registration.
func (a *Agent) ownPorts() []int {
	var out []int
	for _, addr := range []string{a.introAddr, a.metaAddr, a.bridgeAddr} {
		if _, p, err := net.SplitHostPort(addr); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 {
				out = append(out, n)
			}
		}
	}
	return out
}
