package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/services/gateway/gateway"
)

func main() { svc.Exec("gateway", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var common svc.Common
	var addr string
	var bootstrap bool
	var awsDir string
	var tlsFiles tlsconf.Files
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	common.Register(fs, getenv)
	svc.String(fs, getenv, &addr, "addr", "BERTH_API_ADDR", "127.0.0.1:4566", "listen address")
	svc.Bool(fs, getenv, &bootstrap, "bootstrap", "BERTH_BOOTSTRAP", false, "create the root access key if none exists, and write it as an AWS credentials file (see --aws-dir)")
	svc.String(fs, getenv, &awsDir, "aws-dir", "BERTH_AWS_DIR", "berth-aws", "folder for the AWS credentials and config files written by --bootstrap (mode 0600)")
	svc.RegisterHTTPTLS(fs, getenv, &tlsFiles)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := common.Validate(); err != nil {
		return err
	}
	tlsCfg, err := svc.HTTPTLS(tlsFiles)
	if err != nil {
		return err
	}
	log := svc.NewLogger(stderr, common.LogLevel, events.ServiceGateway)
	stopTracing, err := svc.StartTracing(ctx, events.ServiceGateway, getenv, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	nc, js, err := svc.Connect(ctx, common, events.ServiceGateway, log)
	if err != nil {
		return err
	}
	defer nc.Drain()
	if bootstrap {
		k, created, err := accesskeys.Bootstrap(ctx, js, common.Replicas)
		if err != nil {
			return err
		}
		cred, conf, err := accesskeys.WriteAWSFiles(awsDir, k, common.Region)
		if err != nil {
			return fmt.Errorf("write AWS files: %w", err)
		}
		// The secret goes only into the 0600 file, never to the log.
		log.Info("root access key", "access_key_id", k.AccessKeyID, "created", created, "credentials_file", cred, "config_file", conf)
	}
	keys, err := accesskeys.Watch(ctx, js, common.Replicas, log)
	if err != nil {
		return err
	}
	g, err := gateway.New(gateway.Config{Addr: addr, Keys: keys, Region: common.Region, Log: log, TLS: tlsCfg}, nc)
	if err != nil {
		return err
	}
	return g.Run(ctx)
}
