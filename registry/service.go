package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/outbox"
)

// KeyStore looks up access keys; *accesskeys.Cache is one.
type KeyStore interface {
	Lookup(accessKeyID string) (events.AccessKey, bool)
}

var _ KeyStore = (*accesskeys.Cache)(nil)

// Config configures the registry.
type Config struct {
	// Addr is the HTTP listen address of the distribution API (Run only),
	// e.g. 127.0.0.1:5000.
	Addr string
	// Region and Account appear in ARNs, registry ids and events.
	Region  string
	Account string
	// Replicas of the JetStream bucket and object store (1, or 3 in a
	// cluster).
	Replicas int
	// CreateOnPush creates a repository on its first push instead of
	// answering NAME_UNKNOWN as ECR does.
	CreateOnPush bool
	// PublicHost is the host:port clients reach the registry at, used in
	// repositoryUri and proxyEndpoint; default: the listener's address.
	PublicHost string
	// ECRStyleURI makes repositoryUri <account>.dkr.ecr.<region>.localhost:<port>/<name>
	// instead of <PublicHost>/<name>.
	ECRStyleURI bool
	// GCInterval is the period of garbage collection (default 1 h; negative:
	// only when GC is called). GCGrace is the age below which nothing is
	// collected (default 1 h); it must exceed the longest upload request.
	GCInterval time.Duration
	GCGrace    time.Duration
	// UploadTTL is how long an idle upload session lives (default 24 h).
	UploadTTL time.Duration
	// PartSize is the largest blob part object (default 8 MiB); each
	// upload in flight holds up to three such buffers (one being read, one
	// hashed, one stored).
	PartSize int
	// BlobCacheSize is how many bytes of recently read blob parts a
	// replica keeps in memory to serve hot layers without reading them
	// through JetStream again (default 128 MiB; negative: none); a blob larger than the cache is not kept.
	BlobCacheSize int64
	// ReadConns is how many NATS connections of its own (opened with the
	// options of the one it is given) the registry reads blob content on
	// (default 4; negative: none, reads share the given connection). Each
	// has its own read loop on both ends, so part reads proceed in
	// parallel instead of queueing on one connection.
	ReadConns int
	// MaxManifestSize is the largest manifest accepted (default 4 MiB).
	MaxManifestSize int
	// TokenTTL is the lifetime of GetAuthorizationToken tokens (default 12 h).
	TokenTTL time.Duration
	// PullTokenTTL is the lifetime of the pull-only tokens agents get from
	// events.SubjRegistryPullToken (default 1 h).
	PullTokenTTL time.Duration
	// Keys verifies credentials; default: a watch on the access key bucket.
	Keys KeyStore
	Log  *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// TLS, when set, makes the distribution API serve HTTPS with it (nil:
	// HTTP); proxyEndpoint and the WWW-Authenticate realm then say https.
	TLS *tls.Config
	// RelayGrace is how old a committed push or delete must be before the
	// event relay (internal/outbox) looks at it (default 1 s).
	RelayGrace time.Duration
}

// Service is the registry: the OCI distribution API over HTTP and the ECR
// operations over NATS, both on the same JetStream state.
type Service struct {
	cfg  Config
	nc   *nats.Conn
	js   jetstream.JetStream
	st   *store
	log  *slog.Logger
	keys KeyStore
	// pullKey signs pull tokens (pullkey.go); set once by Serve before it
	// takes requests.
	pullKey []byte

	mu         sync.Mutex
	publicHost string
	ready      chan struct{}
}

// Default limits.
const (
	defaultPartSize     = 8 << 20
	defaultManifestSize = 4 << 20
	defaultBlobCache    = 128 << 20
)

// New checks cfg and returns a registry that works over nc and js.
func New(cfg Config, nc *nats.Conn, js jetstream.JetStream) (*Service, error) {
	if nc == nil || js == nil {
		return nil, errors.New("registry: no NATS connection")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Account == "" {
		cfg.Account = "000000000000"
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = time.Hour
	}
	if cfg.GCGrace <= 0 {
		cfg.GCGrace = time.Hour
	}
	if cfg.UploadTTL <= 0 {
		cfg.UploadTTL = 24 * time.Hour
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = defaultPartSize
	}
	if cfg.PartSize < events.ObjectStoreBlobs.ChunkSize {
		return nil, fmt.Errorf("registry: part size %d is below the chunk size %d", cfg.PartSize, events.ObjectStoreBlobs.ChunkSize)
	}
	if cfg.BlobCacheSize == 0 {
		cfg.BlobCacheSize = defaultBlobCache
	}
	if cfg.MaxManifestSize <= 0 {
		cfg.MaxManifestSize = defaultManifestSize
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 12 * time.Hour
	}
	if cfg.PullTokenTTL <= 0 {
		cfg.PullTokenTTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log.With("component", "registry")
	return &Service{
		cfg:        cfg,
		nc:         nc,
		js:         js,
		log:        log,
		keys:       cfg.Keys,
		publicHost: cfg.PublicHost,
		ready:      make(chan struct{}),
	}, nil
}

// Run listens on cfg.Addr and serves until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("registry: listen: %w", err)
	}
	return s.Serve(ctx, l)
}

// Serve ensures the storage, registers the ECR operations, serves the
// distribution API on l and runs the collector until ctx ends; then it stops
// taking requests, lets those in flight finish and returns.
func (s *Service) Serve(ctx context.Context, l net.Listener) error {
	defer l.Close()
	s.mu.Lock()
	if s.publicHost == "" {
		s.publicHost = l.Addr().String()
	}
	s.mu.Unlock()
	if err := s.open(ctx); err != nil {
		return err
	}
	if err := s.openAuth(ctx); err != nil {
		return err
	}
	// The relay announces pushes and deletes a replica committed and did
	// not publish (it died first). It starts before any request is taken.
	relay, err := s.st.out.Relay(ctx, outbox.RelayConfig{Bucket: events.BucketRegistry.Name, Keys: relayKeys, HeadersOnly: true, Grace: s.cfg.RelayGrace})
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	defer relay.Stop()
	octx, ocancel := context.WithCancel(ctx)
	s.st.out.Start(octx)
	defer s.st.out.Wait()
	defer ocancel()
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        events.ServiceRegistry,
		Version:     "0.1.0",
		Description: "Berth registry: ECR operations",
		QueueGroup:  events.QueueGroup,
	})
	if err != nil {
		return fmt.Errorf("registry: micro service: %w", err)
	}
	api := natsutil.NewAPI(svc, natsutil.APIConfig{API: events.APIECR, FaultCode: events.CodeServer, Log: s.log})
	var internalWG sync.WaitGroup
	if err := s.registerECR(api); err != nil {
		_ = svc.Stop()
		return err
	}
	if err := s.registerInternal(svc, &internalWG); err != nil {
		_ = svc.Stop()
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	sl := l
	if s.cfg.TLS != nil {
		sl = tls.NewListener(l, s.cfg.TLS)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(sl) }()
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		s.gcLoop(ctx)
	}()

	close(s.ready)
	s.log.Info("registry listening", "addr", l.Addr().String(), "public_host", s.host(), "scheme", s.scheme())

	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("registry: http: %w", err)
	case <-ctx.Done():
	}
	stopErr := svc.Stop()
	api.Wait()
	internalWG.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shutErr := srv.Shutdown(sctx)
	<-gcDone
	s.st.closeReadConns()
	return errors.Join(serveErr, stopErr, shutErr)
}

// openAuth loads what verifies credentials: the pull key and, unless
// given, a watch on the access keys.
func (s *Service) openAuth(ctx context.Context) error {
	pullKey, err := s.st.loadPullKey(ctx)
	if err != nil {
		return err
	}
	s.pullKey = pullKey
	if s.keys == nil {
		keys, err := accesskeys.Watch(ctx, s.js, s.cfg.Replicas, s.log)
		if err != nil {
			return fmt.Errorf("registry: access keys: %w", err)
		}
		s.keys = keys
	}
	return nil
}

// Ready is closed once Serve has opened its storage and started serving.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// open ensures the bucket, the object store and the public event stream.
func (s *Service) open(ctx context.Context) error {
	kv, err := natsutil.EnsureKV(ctx, s.js, events.BucketRegistry, s.cfg.Replicas)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	kvStream, err := s.js.Stream(ctx, "KV_"+events.BucketRegistry.Name)
	if err != nil {
		return fmt.Errorf("registry: bucket stream: %w", err)
	}
	obs, err := s.ensureObjectStore(ctx)
	if err != nil {
		return err
	}
	objStream, err := s.js.Stream(ctx, "OBJ_"+events.ObjectStoreBlobs.Name)
	if err != nil {
		return fmt.Errorf("registry: object store stream: %w", err)
	}
	if _, err := natsutil.EnsureStream(ctx, s.js, events.StreamEvents, s.cfg.Replicas); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	// Chunks, and manifests (KV values), must fit the server's max_payload.
	room := int(s.nc.MaxPayload()) - 16<<10
	chunk := min(events.ObjectStoreBlobs.ChunkSize, room)
	if chunk < 64<<10 {
		return fmt.Errorf("registry: the NATS max_payload of %d bytes is too small", s.nc.MaxPayload())
	}
	if s.cfg.MaxManifestSize > room {
		s.log.Warn("manifest size limited by the NATS max_payload", "max_manifest_size", room, "max_payload", s.nc.MaxPayload())
		s.cfg.MaxManifestSize = room
	}
	s.st = &store{nc: s.nc, js: s.js, kv: kv, kvStream: kvStream, obs: obs, objStream: objStream, partSize: s.cfg.PartSize, chunkSize: chunk, cache: newPartCache(s.cfg.BlobCacheSize), log: s.log,
		out: outbox.New(outbox.Config{JS: s.js, Log: s.log, Share: events.SubjEventsStored(events.ServiceRegistry)})}
	s.st.readers = openReadConns(s.nc, s.cfg.ReadConns, s.log)
	return nil
}

func (s *Service) ensureObjectStore(ctx context.Context) (jetstream.ObjectStore, error) {
	def := events.ObjectStoreBlobs
	var obs jetstream.ObjectStore
	var err error
	for attempt := 0; ; attempt++ {
		obs, err = s.js.ObjectStore(ctx, def.Name)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			obs, err = s.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
				Bucket:      def.Name,
				Description: def.Description,
				Storage:     jetstream.FileStorage,
				Replicas:    s.cfg.Replicas,
			})
			if errors.Is(err, jetstream.ErrBucketExists) {
				continue
			}
		}
		if err == nil || attempt >= 20 || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("registry: object store %s: %w", def.Name, err)
	}
	return obs, nil
}

// host is the public host:port of the registry.
func (s *Service) host() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publicHost
}

// scheme is that of the distribution API: https with TLS, else http.
func (s *Service) scheme() string {
	if s.cfg.TLS != nil {
		return "https"
	}
	return "http"
}

// repositoryURI is what clients tag images with.
func (s *Service) repositoryURI(name string) string {
	h := s.host()
	if s.cfg.ECRStyleURI {
		port := ""
		if _, p, err := net.SplitHostPort(h); err == nil {
			port = ":" + p
		}
		return s.cfg.Account + ".dkr.ecr." + s.cfg.Region + ".localhost" + port + "/" + name
	}
	return h + "/" + name
}

func (s *Service) repositoryARN(name string) string {
	return "arn:aws:ecr:" + s.cfg.Region + ":" + s.cfg.Account + ":repository/" + name
}

// parseRepositoryARN returns the repository name of an ECR repository ARN.
func (s *Service) parseRepositoryARN(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "ecr" {
		return "", false
	}
	name, ok := strings.CutPrefix(parts[5], "repository/")
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
