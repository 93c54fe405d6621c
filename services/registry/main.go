package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/registry"
)

func main() { svc.Exec("registry", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var addr, publicHost string
	var createOnPush, ecrStyle bool
	var tlsFiles tlsconf.Files
	flags := func(fs *flag.FlagSet) {
		svc.String(fs, getenv, &addr, "addr", "BERTH_REGISTRY_ADDR", "127.0.0.1:5000", "OCI registry listen address")
		svc.String(fs, getenv, &publicHost, "public-host", "BERTH_REGISTRY_PUBLIC_HOST", "", "host:port clients use (repositoryUri, proxyEndpoint); default the listen address")
		svc.Bool(fs, getenv, &createOnPush, "create-on-push", "BERTH_CREATE_ON_PUSH", false, "create repositories on first push")
		svc.Bool(fs, getenv, &ecrStyle, "ecr-style-uri", "BERTH_ECR_STYLE_URI", false, "repositoryUri as <account>.dkr.ecr.<region>.localhost:<port>/<name>")
		svc.RegisterHTTPTLS(fs, getenv, &tlsFiles)
	}
	return svc.Main(ctx, events.ServiceRegistry, args, getenv, stderr, flags,
		func(ctx context.Context, c svc.Common, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger) (svc.Runner, error) {
			tlsCfg, err := svc.HTTPTLS(tlsFiles)
			if err != nil {
				return nil, err
			}
			keys, err := accesskeys.Watch(ctx, js, c.Replicas, log)
			if err != nil {
				return nil, err
			}
			return registry.New(registry.Config{
				Addr: addr, Region: c.Region, Account: c.Account, Replicas: c.Replicas,
				CreateOnPush: createOnPush, PublicHost: publicHost, ECRStyleURI: ecrStyle,
				Keys: keys, Log: log, TLS: tlsCfg,
			}, nc, js)
		})
}
