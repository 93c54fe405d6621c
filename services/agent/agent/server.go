package agent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
)

// Environment variables given to containers.
const (
	EnvMetadataURIV4 = "ECS_CONTAINER_METADATA_URI_V4"
	EnvMetadataURIV3 = "ECS_CONTAINER_METADATA_URI"
)

// Listeners are listeners the caller bound: the all-in-one binds every
// port before it starts, so that a busy one fails at once, naming its flag.
// The agent serves them and closes them when it stops.
type Listeners struct {
	Introspection net.Listener
	Metadata      net.Listener
}

func enabled(addr string) bool { return !strings.EqualFold(addr, addrOff) }

// listen opens the introspection and task metadata listeners (and the
// bridge-gateway one) and starts serving. Handlers answer 503 until the
// agent is ready.
func (a *Agent) listen(ctx context.Context) error {
	if l := a.cfg.Listeners.Introspection; l != nil || enabled(a.cfg.IntrospectionAddr) {
		if l == nil {
			var err error
			if l, err = net.Listen("tcp", a.cfg.IntrospectionAddr); err != nil {
				return fmt.Errorf("introspection listener: %w", err)
			}
		}
		a.introAddr = l.Addr().String()
		a.serve(l, a.introspectionHandler())
	}
	l := a.cfg.Listeners.Metadata
	if l == nil && !enabled(a.cfg.MetadataAddr) {
		return nil
	}
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", a.cfg.MetadataAddr); err != nil {
			return fmt.Errorf("task metadata listener: %w", err)
		}
	}
	a.metaAddr = l.Addr().String()
	h := a.metadataHandler()
	a.serve(l, h)
	host, port, _ := net.SplitHostPort(a.metaAddr)
	ip := net.ParseIP(host)
	if ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	a.hostBase = "http://" + net.JoinHostPort(host, port)
	if !a.cfg.DisableMetadataBridge {
		a.listenBridge(ctx, ip, port, h)
	}
	return nil
}

// listenBridge makes the metadata endpoint reachable from bridge-mode
// containers: on the bridge gateway address (docker0), on the same port when
// free. If the gateway cannot be found or bound (the agent runs in a
// container of its own, say), bridge-mode containers get no metadata URI.
func (a *Agent) listenBridge(ctx context.Context, ip net.IP, port string, h http.Handler) {
	gctx, cancel := context.WithTimeout(ctx, probeTimeout)
	gw, err := a.dc.BridgeGateway(gctx)
	cancel()
	if err != nil {
		a.log.Warn("no Docker bridge gateway; bridge-mode containers get no task metadata endpoint", "err", err)
		return
	}
	if ip != nil && (ip.IsUnspecified() || ip.Equal(net.IP(gw.AsSlice()))) {
		a.bridgeBase = "http://" + net.JoinHostPort(gw.String(), port)
		return
	}
	l, err := net.Listen("tcp", net.JoinHostPort(gw.String(), port))
	if err != nil {
		l, err = net.Listen("tcp", net.JoinHostPort(gw.String(), "0"))
	}
	if err != nil {
		a.log.Warn("cannot listen on the Docker bridge gateway; bridge-mode containers get no task metadata endpoint", "gateway", gw, "err", err)
		return
	}
	a.bridgeAddr = l.Addr().String()
	a.bridgeBase = "http://" + a.bridgeAddr
	a.serve(l, h)
}

func (a *Agent) serve(l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	a.srvMu.Lock()
	a.servers = append(a.servers, srv)
	a.srvMu.Unlock()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server", "addr", l.Addr().String(), "err", err)
		}
	}()
}

func (a *Agent) closeServers() {
	a.srvMu.Lock()
	servers := a.servers
	a.servers = nil
	a.srvMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
		}
	}
}

// containerEnv is the engine's ContainerEnv: the task metadata URIs, where
// the network mode lets the container reach the agent. host: the agent's
// own address; bridge (the default): the bridge gateway listener, if any;
// none: nothing.
func (a *Agent) containerEnv(arn string, def *ecsapi.TaskDefinition, container string) map[string]string {
	var base string
	switch strings.ToLower(def.NetworkMode) {
	case "host":
		base = a.hostBase
	case "", "bridge", "awsvpc": // awsvpc tasks reach the bridge gateway through the host
		base = a.bridgeBase
	}
	if base == "" {
		return nil
	}
	id := a.metadataID(arn, container)
	return map[string]string{
		EnvMetadataURIV4: base + "/v4/" + id,
		EnvMetadataURIV3: base + "/v3/" + id,
	}
}

// metadataID is a container's id in metadata URIs: the task id and a MAC of
// the task ARN and container name under the agent's key, so it survives
// restarts and cannot be guessed by other containers.
func (a *Agent) metadataID(arn, container string) string {
	m := hmac.New(sha256.New, a.metaKey)
	m.Write([]byte(arn))
	m.Write([]byte{0})
	m.Write([]byte(container))
	return taskIDOf(arn) + "-" + hex.EncodeToString(m.Sum(nil))[:16]
}

// writeJSON answers v as indented JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// errorBody is the body of error answers.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, errorBody{Error: fmt.Sprintf(format, args...)})
}

// Task metadata rate limit, as amazon-ecs-agent's default
// (ECS_TASK_METADATA_RPS_LIMIT "40,60"): 40 requests per second, bursts of 60.
const (
	metadataRPS   = 40
	metadataBurst = 60
)

// limiter is a token bucket.
type limiter struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
	rate   float64
	burst  float64
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{tokens: burst, rate: rate, burst: burst, last: time.Now()}
}

func (l *limiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// limited wraps h: 429 beyond the limiter's rate.
func limited(l *limiter, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.allow() {
			writeError(w, http.StatusTooManyRequests, "rate exceeded")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// notReady wraps h: 503 until the agent is registered.
func (a *Agent) notReady(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.isReady() {
			writeError(w, http.StatusServiceUnavailable, "agent is starting")
			return
		}
		h.ServeHTTP(w, r)
	})
}
