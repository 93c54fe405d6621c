package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/metric"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/natsutil"
)

// MaxBody is the largest request body accepted (ECR manifests of 4 MiB,
// JSON-escaped, fit).
const MaxBody = 7 << 20

// KeyStore looks up access keys; *accesskeys.Cache is one.
type KeyStore interface {
	Lookup(accessKeyID string) (events.AccessKey, bool)
}

var _ KeyStore = (*accesskeys.Cache)(nil)

// Config configures a Gateway.
type Config struct {
	// Addr is the listen address, e.g. 127.0.0.1:4566.
	Addr string
	// Routes are the APIs served; default events.Routes().
	Routes []events.APIRoute
	// Keys verifies signatures. Required.
	Keys KeyStore
	// Region is the region a signature's credential scope must name
	// (default us-east-1).
	Region string
	// RequestTimeout bounds one API call (default 60 s).
	RequestTimeout time.Duration
	// ReadTimeout bounds reading one request, body included (default 60 s);
	// IdleTimeout closes idle keep-alive connections (default 120 s).
	ReadTimeout, IdleTimeout time.Duration
	// MaxConcurrent caps the calls served at once; calls beyond it get
	// ThrottlingException (default 1024).
	MaxConcurrent int
	Log           *slog.Logger
	// Meter records API calls and latency by operation (nil: none).
	Meter metric.Meter
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// TLS, when set, makes the gateway serve HTTPS with it (nil: HTTP).
	TLS *tls.Config
}

// Gateway serves the AWS JSON APIs over NATS.
type Gateway struct {
	cfg     Config
	nc      *nats.Conn
	targets map[string]*events.APIRoute
	// slots holds one token per call in flight (MaxConcurrent).
	slots chan struct{}
}

// New returns a gateway that forwards calls over nc.
func New(cfg Config, nc *nats.Conn) (*Gateway, error) {
	if cfg.Routes == nil {
		cfg.Routes = events.Routes()
	}
	if cfg.Keys == nil {
		return nil, errors.New("gateway: no key store")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 60 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 1024
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gateway{cfg: cfg, nc: nc, targets: map[string]*events.APIRoute{}, slots: make(chan struct{}, cfg.MaxConcurrent)}
	for i := range cfg.Routes {
		g.targets[cfg.Routes[i].TargetPrefix] = &cfg.Routes[i]
	}
	return g, nil
}

// Handler returns the HTTP handler.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", g.healthz)
	mux.HandleFunc("POST /", g.serveAPI)
	g.restRoutes(mux)
	mux.HandleFunc("POST /service/{service}/operation/{operation}", g.serveRPCv2)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		g.writeError(w, ids.UUID(), apierr.New(events.CodeUnknownOperation, "Berth serves AWS JSON APIs: POST / with an X-Amz-Target header."), events.CodeServer)
	})
	return mux
}

// Run listens on cfg.Addr and serves until ctx ends, then shuts down,
// letting calls in flight finish (bounded by the request timeout).
func (g *Gateway) Run(ctx context.Context) error {
	l, err := net.Listen("tcp", g.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	return g.Serve(ctx, l)
}

// Serve is Run on an existing listener.
func (g *Gateway) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           g.instrument(g.traced(g.Handler())),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       g.cfg.ReadTimeout,
		WriteTimeout:      g.cfg.ReadTimeout + g.cfg.RequestTimeout,
		IdleTimeout:       g.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.cfg.Log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if g.cfg.TLS != nil {
		l, scheme = tls.NewListener(l, g.cfg.TLS), "https"
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	g.cfg.Log.Info("gateway listening", "addr", l.Addr().String(), "scheme", scheme)
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.RequestTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("gateway: shutdown: %w", err)
	}
	return nil
}

func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request) {
	if isQuery(r) {
		g.serveQuery(w, r)
		return
	}
	reqID := ids.UUID()
	target := r.Header.Get("X-Amz-Target")
	prefix, op, _ := strings.Cut(target, ".")
	route := g.targets[prefix]
	fault := events.CodeServer
	if route != nil {
		fault = route.Fault
	}
	if route == nil || op == "" {
		g.writeError(w, reqID, apierr.New(events.CodeUnknownOperation, "Unknown operation: X-Amz-Target %q.", target), fault)
		return
	}
	select {
	case g.slots <- struct{}{}:
		defer func() { <-g.slots }()
	default:
		g.writeError(w, reqID, apierr.New(events.CodeThrottling, "Rate exceeded"), fault)
		return
	}
	body, key, err := g.authenticate(w, r, route)
	if err != nil {
		g.writeError(w, reqID, err, fault)
		return
	}
	if _, known := route.Modelled[op]; !known {
		g.writeError(w, reqID, apierr.New(events.CodeUnknownOperation, "Unknown operation %s.", target), fault)
		return
	}
	if _, ok := route.Implemented[op]; !ok {
		g.writeError(w, reqID, apierr.New(events.CodeUnknownOperation, "Berth does not implement %s.", target), fault)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.RequestTimeout)
	defer cancel()
	subj := events.SubjAPI(route.API, op)
	reply, err := natsutil.RequestRaw(ctx, g.nc, subj, body, g.apiHeader(reqID, key, subj, body))
	if err != nil {
		if errors.Is(err, natsutil.ErrUnavailable) {
			err = apierr.Wrap(err, fault, "The %s service is not available. Try again.", route.Implemented[op])
		}
		g.writeError(w, reqID, err, fault)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Length", fmt.Sprint(len(reply.Data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(reply.Data)
}

// authenticate checks the request's signature and returns its body and the
// access key id that signed it. Everything that needs no body (the
// Authorization header, a known key, the credential scope, the clock skew,
// the declared length) is checked before a byte of the body is read, so a
// caller without a valid key cannot make the gateway read, let alone
// buffer, a large body: the connection is answered and closed.
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request, route *events.APIRoute) ([]byte, string, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return nil, "", apierr.New(events.CodeMissingAuthToken, "Request is missing Authentication Token")
	}
	c, err := parseAuthorization(auth)
	if err != nil {
		return nil, "", err
	}
	k, ok := g.cfg.Keys.Lookup(c.AccessKey)
	if !ok {
		return nil, "", apierr.New(events.CodeUnrecognizedClient, "The security token included in the request is invalid.")
	}
	if err := checkScope(r, c, g.cfg.Region, route.SigningName, g.cfg.Now()); err != nil {
		return nil, "", err
	}
	if r.ContentLength > MaxBody {
		return nil, "", tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, "", tooLarge()
		}
		return nil, "", apierr.Serialization("Unable to read the request body.")
	}
	if err := verifySignature(r, body, c, k.SecretAccessKey); err != nil {
		return nil, "", err
	}
	if body, err = decodeBody(r, body); err != nil {
		return nil, "", err
	}
	return body, c.AccessKey, nil
}

func tooLarge() error {
	return apierr.New(events.CodeRequestEntityTooLarge, "Request body is larger than %d bytes.", MaxBody)
}

// writeError is the one place errors become AWS error responses.
func (g *Gateway) writeError(w http.ResponseWriter, reqID string, err error, fault events.Code) {
	code, msg, extra := natsutil.ErrorReply(err, fault)
	if _, ok := apierr.As(err); !ok || code.Fault() {
		g.cfg.Log.Error("api call failed", "request_id", reqID, "err", err)
	}
	body := map[string]any{}
	if len(extra) > 0 {
		_ = json.Unmarshal(extra, &body)
	}
	body["__type"] = string(code)
	body["message"] = msg
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", string(code))
	if q, ok := events.QueryErrorCodes[code]; ok && fault == events.CodeCWInternalServiceFault {
		w.Header().Set("x-amzn-query-error", q)
	}
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(code.HTTPStatus())
	_, _ = w.Write(buf.Bytes())
}

func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var missing []string
	for _, svc := range events.RequiredServices(g.cfg.Routes) {
		if _, err := g.nc.RequestWithContext(ctx, "$SRV.PING."+svc, nil); err != nil {
			missing = append(missing, svc)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if len(missing) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "starting", "waitingFor": missing})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok"})
}
