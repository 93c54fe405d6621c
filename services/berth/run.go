package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/svc"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "events":
			if err := runEvents(ctx, args[1:], getenv, stdout, stderr); !errors.Is(err, flag.ErrHelp) {
				return err
			}
			return nil
		case "secrets":
			if err := runSecrets(ctx, args[1:], getenv, stdout, stderr); !errors.Is(err, flag.ErrHelp) {
				return err
			}
			return nil
		case "version":
			_, err := fmt.Fprintln(stdout, versionString())
			return err
		case "help":
			args = []string{"--help"}
		}
	}
	usageOut := stderr // the usage follows a flag error on stderr, and goes to stdout when asked for
	if wantsHelp(args) {
		usageOut = stdout
	}
	c, err := parseConfig(args, getenv, usageOut)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := svc.NewLogger(stderr, c.LogLevel, "berth")
	return serve(ctx, c, log, stdout)
}

// component is one service of the all-in-one. Components of stage 0 (the
// HTTP front doors) stop before those of stage 1.
type component struct {
	name  string
	stage int
	run   func(ctx context.Context) error
}

// node is the running all-in-one: the embedded server and the connections
// handed to the services.
type node struct {
	cfg    config
	server *server.Server
	log    *slog.Logger
	mu     sync.Mutex
	conns  []*nats.Conn
	// ls are the listeners bound before the start; agentNote says why
	// there is no local agent ("" when there is one).
	ls        *listeners
	agentNote string
	// secrets are the NATS identities' credentials.
	secrets *natsauth.Secrets
}

// connect opens an in-process connection as the identity of a service.
func (n *node) connect(identity string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := n.dial(identity, n.secrets.Passwords[identity], natsauth.InboxPrefix(identity))
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", identity, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	n.mu.Lock()
	n.conns = append(n.conns, nc)
	n.mu.Unlock()
	return nc, js, nil
}

// dial opens an in-process connection as user, replies under inboxPrefix,
// with the options of every Berth connection (permission errors logged).
func (n *node) dial(user, password, inboxPrefix string) (*nats.Conn, error) {
	return natsutil.Dial("", user, n.log.With("nats_user", user),
		nats.InProcessServer(n.server), nats.UserInfo(user, password), nats.CustomInboxPrefix(inboxPrefix))
}

// joinTokenPath is where the cluster join token is kept.
func joinTokenPath(c config) string { return filepath.Join(c.Data, "secrets", natsauth.JoinTokenFile) }

func serve(ctx context.Context, c config, log *slog.Logger, stdout io.Writer) error {
	// Every port is bound before anything else starts (and long before the
	// banner), so a busy one stops Berth at once, naming its flag.
	ls, err := bindFront(c)
	if err != nil {
		return err
	}
	defer ls.close()
	note, err := agentNote(ctx, c, log)
	if err != nil {
		return err
	}
	if note == "" {
		if err := ls.bindAgent(c); err != nil {
			return err
		}
	}
	sec, err := natsauth.LoadOrCreate(filepath.Join(c.Data, "secrets"))
	if err != nil {
		return fmt.Errorf("nats secrets: %w", err)
	}
	if _, err := natsauth.LoadOrCreateJoinToken(joinTokenPath(c)); err != nil {
		return fmt.Errorf("join token: %w", err)
	}
	s, err := startNATS(ctx, c, sec, log)
	if err != nil {
		return err
	}
	n := &node{cfg: c, server: s, log: log, ls: ls, agentNote: note, secrets: sec}
	defer func() {
		n.mu.Lock()
		for _, nc := range n.conns {
			_ = nc.Drain()
		}
		n.mu.Unlock()
		s.Shutdown()
		s.WaitForShutdown()
		log.Info("stopped")
	}()

	// The gateway's identity owns the access keys (it bootstraps them
	// in a cluster too).
	_, js, err := n.connect(events.ServiceGateway)
	if err != nil {
		return err
	}
	key, created, err := accesskeys.Bootstrap(ctx, js, 1)
	if err != nil {
		return err
	}
	credFile, confFile, err := accesskeys.WriteAWSFiles(filepath.Join(c.Data, "aws"), key, c.Region)
	if err != nil {
		return fmt.Errorf("write AWS files: %w", err)
	}
	if created {
		log.Info("created root access key", "access_key_id", key.AccessKeyID, "credentials_file", credFile)
	}

	comps, notes, err := n.components(ctx)
	if err != nil {
		return err
	}
	// The banner shows the bound addresses (port 0 picks one).
	c.APIAddr, c.RegistryAddr = ls.api.Addr().String(), ls.registry.Addr().String()
	if a := s.Addr(); a != nil && c.NATSAddr != "" {
		c.NATSAddr = a.String()
		if err := writeNATSContexts(c, sec); err != nil {
			return err
		}
	}
	printBanner(stdout, c, credFile, confFile, notes)
	return runComponents(ctx, log, comps)
}

// runComponents runs every component until ctx ends or one fails, then
// stops them stage by stage.
func runComponents(ctx context.Context, log *slog.Logger, comps []component) error {
	maxStage := 0
	for _, c := range comps {
		maxStage = max(maxStage, c.stage)
	}
	type result struct {
		name string
		err  error
	}
	stageCtx := make([]context.Context, maxStage+1)
	stageCancel := make([]context.CancelFunc, maxStage+1)
	for i := range stageCtx {
		stageCtx[i], stageCancel[i] = context.WithCancel(context.WithoutCancel(ctx))
	}
	done := make([]chan result, maxStage+1)
	counts := make([]int, maxStage+1)
	for i := range done {
		done[i] = make(chan result, len(comps))
	}
	failed := make(chan result, len(comps))
	for _, c := range comps {
		counts[c.stage]++
		go func() {
			err := c.run(stageCtx[c.stage])
			r := result{c.name, err}
			if err != nil && stageCtx[c.stage].Err() == nil {
				failed <- r
			}
			done[c.stage] <- r
		}()
	}
	var first error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case r := <-failed:
		first = fmt.Errorf("%s: %w", r.name, r.err)
		log.Error("component failed; shutting down", "component", r.name, "err", r.err)
	}
	var errs []error
	for stage := 0; stage <= maxStage; stage++ {
		stageCancel[stage]()
		for range counts[stage] {
			r := <-done[stage]
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				errs = append(errs, fmt.Errorf("%s: %w", r.name, r.err))
			}
		}
	}
	if first != nil {
		return first
	}
	return errors.Join(errs...)
}

func printBanner(w io.Writer, c config, credFile, confFile string, notes []string) {
	fmt.Fprintf(w, `Berth is running.
  AWS APIs:             %s://%s  (ECS, ECR, CloudWatch Logs, EventBridge, Scheduler)
  OCI registry:         %s
  NATS (JetStream):     %s
  data folder:          %s

Point the aws CLI at it:
  export AWS_SHARED_CREDENTIALS_FILE=%s
  export AWS_CONFIG_FILE=%s
  export AWS_PROFILE=berth
  aws --endpoint-url %s://%s ecs list-clusters
`, c.httpScheme(), c.APIAddr, c.RegistryAddr, natsLine(c), c.Data, credFile, confFile, c.httpScheme(), c.APIAddr)
	for _, n := range notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
}

// writeNATSContexts writes the NATS client contexts of the operator
// (admin) and event subscriber identities next to the AWS credentials
// (mode 0600), for the client port that is open.
func writeNATSContexts(c config, sec *natsauth.Secrets) error {
	url := c.natsScheme() + "://" + c.NATSAddr
	for _, id := range []struct{ name, file, desc string }{
		{natsauth.Admin, "nats-admin.json", "Berth operator (all permissions)"},
		{natsauth.Subscriber, "nats-events.json", "Berth event subscriber (read-only: events.>, logs.>)"},
	} {
		if err := natsauth.WriteContext(filepath.Join(c.Data, "aws", id.file), sec.ContextFor(id.name, url, id.desc)); err != nil {
			return fmt.Errorf("write NATS context: %w", err)
		}
	}
	return nil
}

// natsLine is the banner's NATS line.
func natsLine(c config) string {
	if c.NATSAddr == "" {
		return "in-process only (--nats-addr opens a client port)"
	}
	return c.natsScheme() + "://" + c.NATSAddr + "  (credentials: " + filepath.Join(c.Data, "aws", "nats-admin.json") + ", nats-events.json)"
}
