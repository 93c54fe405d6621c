package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/berth-project/berth/internal/natsauth"
)

// natsStartTimeout bounds the embedded server's start (JetStream recovery of
// a large data folder included). A listen failure ends the wait at once.
const natsStartTimeout = 30 * time.Second

// startNATS runs the embedded NATS server with JetStream file storage under
// data/nats. A busy --nats-addr fails at once with an error naming the flag:
// the server reports its listen failure through the logger's Fatalf, which
// natsLogger turns into an error.
func startNATS(ctx context.Context, c config, sec *natsauth.Secrets, log *slog.Logger) (*server.Server, error) {
	// Authentication is always on (internal/natsauth): the generated
	// configuration holds the identities and their permissions.
	conf, err := sec.ServerConfig()
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(c.Data, "secrets", "nats-auth.conf")
	if err := natsauth.WriteSecretFile(confPath, []byte(conf)); err != nil {
		return nil, fmt.Errorf("nats auth config: %w", err)
	}
	opts, err := server.ProcessConfigFile(confPath)
	if err != nil {
		return nil, fmt.Errorf("nats auth config: %w", err)
	}
	opts.ServerName = "berth"
	opts.JetStream = true
	opts.StoreDir = filepath.Join(c.Data, "nats")
	opts.JetStreamMaxMemory = int64(c.MaxMemory) << 20
	opts.MaxPayload = 8 << 20
	opts.StreamMaxBufferedSize = 1 << 30
	opts.NoSigs = true
	opts.NoLog = true
	if err := applyNATSTLS(c, opts); err != nil {
		return nil, err
	}
	if c.NATSAddr == "" {
		// No client port: the services connect in-process.
		opts.DontListen = true
	} else {
		host, portStr, _ := net.SplitHostPort(c.NATSAddr)
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("--nats-addr %s: %w", c.NATSAddr, err)
		}
		if port == 0 {
			port = server.RANDOM_PORT // nats-server takes 0 for its default, 4222
		}
		opts.Host, opts.Port = host, port
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	nl := &natsLogger{log: log.With("component", "nats"), fatal: make(chan error, 1)}
	s.SetLoggerV2(nl, false, false, false)
	go s.Start()
	if err := waitNATS(ctx, s, nl.fatal); err != nil {
		s.Shutdown()
		if isAddrInUse(err) {
			return nil, addrError("--nats-addr", c.NATSAddr, err)
		}
		return nil, err
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		return nil, fmt.Errorf("nats server: JetStream did not start (check %s)", opts.StoreDir)
	}
	return s, nil
}

// waitNATS waits until s takes connections, the server reports a fatal
// error, or ctx ends.
func waitNATS(ctx context.Context, s *server.Server, fatal <-chan error) error {
	deadline := time.Now().Add(natsStartTimeout)
	for {
		// ReadyForConnections sleeps 25 ms between its checks.
		if s.ReadyForConnections(50 * time.Millisecond) {
			return nil
		}
		select {
		case err := <-fatal:
			return err
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats server: not ready after %v", natsStartTimeout)
		}
	}
}

// natsLogger passes the embedded server's log to slog and turns its first
// Fatalf (a listen failure, JetStream failing to start) into an error.
type natsLogger struct {
	log   *slog.Logger
	fatal chan error
}

func (l *natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if natsauth.Expected(msg) {
		l.log.Debug(msg)
		return
	}
	l.log.Error(msg)
}
func (l *natsLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any) {}

func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	var err error
	for _, a := range v {
		if e, ok := a.(error); ok {
			err = fmt.Errorf("nats server: %w", e)
			break
		}
	}
	if err == nil {
		err = errors.New("nats server: " + msg)
	}
	select {
	case l.fatal <- err:
		l.log.Debug(msg)
	default:
		l.log.Error(msg)
	}
}
