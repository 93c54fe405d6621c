package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecrapi"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/services/agent/docker"
)

const (
	// tokenFailureBackoff: after a failed pull token request, pulls go
	// anonymous for this long before the agent asks again.
	tokenFailureBackoff = 30 * time.Second
	// tokenRefreshMargin: a token is renewed when less than this is left
	// (or a quarter of its lifetime, whichever is smaller).
	tokenRefreshMargin = 15 * time.Minute
	defaultTokenTTL    = time.Hour
)

// registryAuth supplies ECR-style credentials for images in Berth's
// registry: it asks the registry service for a pull-only token
// (events.SubjRegistryPullToken over NATS, on the agent's own NATS
// identity; no access key is involved), caches it until near expiry, and
// hands it out for images whose registry host is the token's proxyEndpoint
// host (or one of its aliases). Other registries get nil: anonymous pulls.
type registryAuth struct {
	nc         *nats.Conn
	requester  string
	extraHosts []string
	timeout    time.Duration
	log        *slog.Logger
	now        func() time.Time

	mu        sync.Mutex
	token     string // base64("AWS:" + password)
	endpoint  string // proxyEndpoint, "http://127.0.0.1:5000"
	host      string // its host:port
	fetchedAt time.Time
	expiresAt time.Time
	failedAt  time.Time
}

func newRegistryAuth(nc *nats.Conn, cfg Config, log *slog.Logger) *registryAuth {
	return &registryAuth{
		nc:         nc,
		requester:  cfg.Owner,
		extraHosts: cfg.RegistryHosts,
		timeout:    cfg.CallTimeout,
		log:        log,
		now:        time.Now,
	}
}

// setConn switches to the connection the agent got when it joined.
func (r *registryAuth) setConn(nc *nats.Conn) {
	r.mu.Lock()
	r.nc = nc
	r.mu.Unlock()
}

// Auth implements engine.Config.RegistryAuth.
func (r *registryAuth) Auth(ctx context.Context, image string) (*docker.RegistryAuth, error) {
	host := imageHost(image)
	if host == "" {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock() // one fetch at a time; pulls wait for it
	if err := r.refreshLocked(ctx); err != nil {
		level := slog.LevelWarn
		if errors.Is(err, natsutil.ErrUnavailable) {
			level = slog.LevelDebug // no registry service deployed
		}
		r.log.Log(ctx, level, "cannot get registry credentials; pulling anonymously", "image", image, "err", err)
	}
	if r.token == "" || !r.now().Before(r.expiresAt) || !r.matchesLocked(host) {
		return nil, nil
	}
	auth, err := docker.ECRAuth(r.token, r.endpoint)
	if err != nil {
		return nil, fmt.Errorf("registry pull token: %w", err)
	}
	return &auth, nil
}

// Digest implements engine.Config.ResolveDigest: the manifest digest an
// image reference stands for. A digest reference is its own answer; a tag
// in Berth's registry is resolved with ECR BatchGetImage over NATS. Other
// images, and tags the registry does not know, get "": the engine pulls
// them (and the pull reports what is wrong).
func (r *registryAuth) Digest(ctx context.Context, image string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", nil
	}
	if d, ok := named.(reference.Digested); ok {
		return d.Digest().String(), nil
	}
	r.mu.Lock()
	ours := r.matchesLocked(reference.Domain(named))
	r.mu.Unlock()
	if !ours {
		return "", nil
	}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	req := ecrapi.BatchGetImageRequest{
		RepositoryName: reference.Path(named),
		ImageIds:       []ecrapi.ImageIdentifier{{ImageTag: tag}},
	}
	var resp ecrapi.BatchGetImageResponse
	if err := natsutil.Call(ctx, r.nc, events.SubjAPI(events.APIECR, "BatchGetImage"), req, &resp); err != nil {
		return "", fmt.Errorf("BatchGetImage %s: %w", image, err)
	}
	if len(resp.Images) != 1 || resp.Images[0].ImageId == nil {
		return "", nil
	}
	return resp.Images[0].ImageId.ImageDigest, nil
}

// refreshLocked fetches a token unless the cached one is still fresh or a
// recent fetch failed (then it returns nil and keeps what it has). It
// returns the error of a fetch it attempted.
func (r *registryAuth) refreshLocked(ctx context.Context) error {
	now := r.now()
	if r.token != "" {
		margin := min(tokenRefreshMargin, r.expiresAt.Sub(r.fetchedAt)/4)
		if now.Before(r.expiresAt.Add(-margin)) {
			return nil
		}
	}
	if !r.failedAt.IsZero() && now.Sub(r.failedAt) < tokenFailureBackoff {
		return nil
	}
	token, endpoint, expires, err := r.fetch(ctx)
	if err != nil {
		r.failedAt = r.now()
		return err
	}
	u, perr := url.Parse(endpoint)
	if perr != nil || u.Host == "" {
		r.failedAt = r.now()
		return fmt.Errorf("pull token: proxyEndpoint %q is not a URL", endpoint)
	}
	r.token, r.endpoint, r.host = token, endpoint, u.Host
	r.fetchedAt, r.expiresAt, r.failedAt = now, expires, time.Time{}
	r.log.Debug("registry token fetched", "proxy_endpoint", endpoint, "expires_at", expires)
	return nil
}

func (r *registryAuth) fetch(ctx context.Context) (token, endpoint string, expires time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var resp events.RegistryPullTokenReply
	if err := natsutil.Call(ctx, r.nc, events.SubjRegistryPullToken, events.RegistryPullTokenRequest{Requester: r.requester}, &resp); err != nil {
		return "", "", time.Time{}, fmt.Errorf("pull token: %w", err)
	}
	if resp.AuthorizationToken == "" {
		return "", "", time.Time{}, errors.New("pull token: no authorization token")
	}
	expires = resp.ExpiresAt
	if expires.IsZero() {
		expires = r.now().Add(defaultTokenTTL)
	}
	return resp.AuthorizationToken, resp.ProxyEndpoint, expires, nil
}

// matchesLocked reports whether host is Berth's registry: the proxyEndpoint
// host, the same port under a loopback alias (localhost, 127.0.0.1, ::1), an
// ECR-style alias on the same port (<account>.dkr.ecr.<region>.localhost),
// or a configured extra host.
func (r *registryAuth) matchesLocked(host string) bool {
	if r.host == "" {
		return false
	}
	if strings.EqualFold(host, r.host) || slices.ContainsFunc(r.extraHosts, func(h string) bool { return strings.EqualFold(h, host) }) {
		return true
	}
	name, port := splitHostPort(host)
	pname, pport := splitHostPort(r.host)
	if port != pport {
		return false
	}
	if loopback(name) && loopback(pname) {
		return true
	}
	name = strings.ToLower(name)
	return strings.Contains(name, ".dkr.ecr.") && strings.HasSuffix(name, ".localhost")
}

func splitHostPort(h string) (string, string) {
	if host, port, err := net.SplitHostPort(h); err == nil {
		return host, port
	}
	return h, ""
}

func loopback(name string) bool {
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// imageHost is the registry host of an image reference ("docker.io" for
// Docker Hub images).
func imageHost(image string) string {
	n, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	return reference.Domain(n)
}
