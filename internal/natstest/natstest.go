package natstest

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/natsauth"
)

// Every test server runs with Berth's authentication (there is no switch
// that turns it off): the identities and permissions of internal/natsauth,
// with secrets generated once per test binary and shared by every server
// it starts, so a cluster's nodes and the processes a test runs agree.
var (
	secretsOnce sync.Once
	secrets     *natsauth.Secrets
	secretsErr  error
	confDir     string
)

// secretsEnv names the folder of the test secrets, for child processes.
const secretsEnv = "BERTH_NATSTEST_SECRETS"

// Secrets returns the test binary's NATS secrets.
func Secrets(t testing.TB) *natsauth.Secrets {
	t.Helper()
	secretsOnce.Do(func() {
		// Processes a test starts (replicas, crash helpers) inherit the
		// folder through the environment and share the secrets.
		confDir = os.Getenv(secretsEnv)
		if confDir == "" {
			confDir, secretsErr = os.MkdirTemp("", "natstest-auth-")
			if secretsErr != nil {
				return
			}
			secretsErr = os.Setenv(secretsEnv, confDir)
			if secretsErr != nil {
				return
			}
		}
		secrets, secretsErr = natsauth.LoadOrCreate(confDir)
		if secretsErr != nil {
			return
		}
		var conf string
		conf, secretsErr = secrets.ServerConfig()
		if secretsErr == nil {
			secretsErr = os.WriteFile(filepath.Join(confDir, "auth.conf"), []byte(conf), 0o600)
		}
	})
	if secretsErr != nil {
		t.Fatalf("natstest: secrets: %v", secretsErr)
	}
	return secrets
}

// As returns the client options that connect as identity (a service name,
// natsauth.Admin or natsauth.Subscriber).
func As(t testing.TB, identity string) []nats.Option {
	t.Helper()
	s := Secrets(t)
	pw, ok := s.Passwords[identity]
	if !ok {
		t.Fatalf("natstest: no identity %q", identity)
	}
	return []nats.Option{nats.UserInfo(identity, pw), nats.CustomInboxPrefix(natsauth.InboxPrefix(identity))}
}

// Admin returns the client options of the admin identity.
func Admin(t testing.TB) []nats.Option { return As(t, natsauth.Admin) }

// ContextFile writes a NATS context file for identity at url (what
// --nats-creds takes) and returns its path.
func ContextFile(t testing.TB, url, identity string) string {
	t.Helper()
	s := Secrets(t)
	path := filepath.Join(t.TempDir(), identity+".json")
	if err := natsauth.WriteContext(path, s.ContextFor(identity, url, "test")); err != nil {
		t.Fatalf("natstest: context file: %v", err)
	}
	return path
}

// authOptions loads the authorization configuration into fresh options.
func authOptions(t testing.TB) *server.Options {
	t.Helper()
	Secrets(t)
	opts, err := server.ProcessConfigFile(filepath.Join(confDir, "auth.conf"))
	if err != nil {
		t.Fatalf("natstest: auth config: %v", err)
	}
	return opts
}

// Options returns the options Start uses: loopback, a random port, JetStream
// with file storage under a temp dir, no logs, no signal handlers.
func Options(t testing.TB) *server.Options {
	t.Helper()
	opts := authOptions(t)
	opts.ServerName = "berth-test"
	opts.Host = "127.0.0.1"
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	opts.JetStreamMaxMemory = 256 << 20
	opts.JetStreamMaxStore = 64 << 30
	opts.MaxPayload = 8 << 20
	opts.NoLog = true
	opts.NoSigs = true
	if os.Getenv("BERTH_TEST_NATS_DEBUG") == "1" {
		opts.Port = 4222
		opts.NoLog = false
		opts.Debug = true
	}
	return opts
}

// Start runs a JetStream server for the test and shuts it down at cleanup.
func Start(t testing.TB) *server.Server {
	t.Helper()
	return StartWith(t, Options(t))
}

// StartWith runs a server with the given options.
func StartWith(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	if !opts.NoLog {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatalf("natstest: server not ready")
	}
	if opts.JetStream && !s.JetStreamEnabled() {
		s.Shutdown()
		t.Fatalf("natstest: JetStream did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect opens a client connection to s as admin (unless opts name another
// identity), closed at cleanup.
func Connect(t testing.TB, s *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append(append([]nats.Option{nats.Name(t.Name())}, Admin(t)...), opts...)
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream opens a connection to s and returns its JetStream context.
func JetStream(t testing.TB, s *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := Connect(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}

// Cluster starts n clustered JetStream nodes on loopback and waits until the
// JetStream meta leader is elected. It returns the servers and a URL list for
// clients.
func Cluster(t testing.TB, n int) ([]*server.Server, string) {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	routes := ""
	for i, p := range ports {
		if i > 0 {
			routes += ","
		}
		routes += fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	servers := make([]*server.Server, n)
	urls := ""
	for i := range n {
		opts := Options(t)
		opts.Port = -1
		opts.NoLog = true
		opts.Debug = false
		opts.ServerName = fmt.Sprintf("berth-test-%d", i)
		opts.Cluster = server.ClusterOpts{Name: "berth-test", Host: "127.0.0.1", Port: ports[i]}
		opts.Routes = server.RoutesFromStr(routes)
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("natstest: node %d: %v", i, err)
		}
		go s.Start()
		servers[i] = s
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
	}
	for i, s := range servers {
		if !s.ReadyForConnections(15 * time.Second) {
			t.Fatalf("natstest: node %d not ready", i)
		}
		if i > 0 {
			urls += ","
		}
		urls += s.ClientURL()
	}
	nc, err := nats.Connect(urls, Admin(t)...)
	if err != nil {
		t.Fatalf("natstest: connect cluster: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		_, err := js.AccountInfo(t.Context())
		return err
	})
	return servers, urls
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Eventually calls fn every tick until it returns nil, failing the test with
// the last error when timeout passes.
func Eventually(t testing.TB, timeout, tick time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: not true after %s: %v", timeout, err)
		}
		time.Sleep(tick)
	}
}

// StartTLS runs a test server whose client port requires TLS with the
// given certificate and key.
func StartTLS(t testing.TB, cfg *tls.Config) *server.Server {
	t.Helper()
	opts := Options(t)
	opts.TLSConfig = cfg
	return StartWith(t, opts)
}
