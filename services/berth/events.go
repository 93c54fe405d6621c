package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/internal/tlsconf"
)

// eventsConfig is the configuration of `berth events`.
type eventsConfig struct {
	NATSURL   string
	NATSCreds string
	Cluster   string
	Type      string
	Source    string
	Since     string
	All       bool
	Count     int

	// NATSCA verifies the NATS server's certificate; set, TLS is used.
	NATSCA string
}

// kinds maps what --type accepts to event subject kinds.
var kinds = map[string]string{
	"task":                       events.KindTask,
	events.DetailTaskStateChange: events.KindTask,
	"container-instance":         events.KindContainerInstance,
	"container_instance":         events.KindContainerInstance,
	events.DetailContainerInstanceStateChange: events.KindContainerInstance,
	"service":                          events.KindService,
	events.DetailServiceAction:         events.KindService,
	"deployment":                       events.KindDeployment,
	events.DetailDeploymentStateChange: events.KindDeployment,
	"image":                            events.KindImage,
	events.DetailECRImageAction:        events.KindImage,
}

func parseEventsConfig(args []string, getenv func(string) string, stderr io.Writer) (eventsConfig, error) {
	var c eventsConfig
	fs := flag.NewFlagSet("berth events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: berth events [flags]\n\nFollows Berth's public event stream (EventBridge-format JSON, one event per line).")
		fs.PrintDefaults()
	}
	home, _ := os.UserHomeDir()
	data := getenv("BERTH_DATA")
	if data == "" {
		data = filepath.Join(home, ".berth")
	}
	svc.String(fs, getenv, &c.NATSCreds, "nats-creds", "BERTH_NATS_CREDS", filepath.Join(data, "aws", "nats-events.json"),
		"NATS credentials: a context file (JSON with url, user, password, inbox_prefix: Berth writes <data>/aws/nats-events.json when --nats-addr is open) or a JWT .creds file")
	svc.String(fs, getenv, &c.NATSURL, "nats-url", "BERTH_NATS_URL", "", "NATS server URL(s) (default: the credentials file's url)")
	svc.String(fs, getenv, &c.NATSCA, "nats-ca", "BERTH_NATS_CA", "", "PEM CA file to verify the NATS server with; set, the connection uses TLS")
	fs.StringVar(&c.Cluster, "cluster", "", "only events of this ECS cluster")
	fs.StringVar(&c.Type, "type", "", "only this type: task, container-instance, service, deployment, image, or a detail-type")
	fs.StringVar(&c.Source, "source", "", "only this source: ecs or ecr (aws.ecs, aws.ecr)")
	fs.StringVar(&c.Since, "since", "", "replay from a time: a duration ago (1h, 15m) or an RFC 3339 time")
	fs.BoolVar(&c.All, "all", false, "replay every stored event before following")
	fs.IntVar(&c.Count, "count", 0, "stop after this many events (0 = follow until interrupted)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.Type != "" {
		if _, ok := kinds[c.Type]; !ok {
			return c, fmt.Errorf("--type %q: want task, container-instance, service, deployment or image", c.Type)
		}
	}
	c.Source = strings.TrimPrefix(c.Source, "aws.")
	if c.Source != "" && c.Source != "ecs" && c.Source != "ecr" {
		return c, fmt.Errorf("--source %q: want ecs or ecr", c.Source)
	}
	return c, nil
}

// filterSubject is the EVENTS subject filter for c.
func (c eventsConfig) filterSubject() string {
	kind := kinds[c.Type]
	switch {
	case c.Source == "ecr" || kind == events.KindImage:
		return events.SubjECREventsAll
	case c.Cluster != "" || kind != "":
		return events.SubjECSEventFilter(c.Cluster, kind)
	case c.Source == "ecs":
		return events.SubjECSEventsAll
	}
	return events.SubjEventsAll
}

// filterSubjects are the EVENTS subject filters for c: --type service
// follows a service's deployments too ("ECS Service Action" and "ECS
// Deployment State Change" both are service events).
func (c eventsConfig) filterSubjects() []string {
	if c.Type == "service" && c.Source != "ecr" {
		return []string{events.SubjECSEventFilter(c.Cluster, events.KindService), events.SubjECSEventFilter(c.Cluster, events.KindDeployment)}
	}
	return []string{c.filterSubject()}
}

// since parses --since into a start time.
func (c eventsConfig) since(now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(c.Since); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, c.Since)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration (1h) or an RFC 3339 time", c.Since)
	}
	return t, nil
}

func runEvents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseEventsConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: c.filterSubjects(),
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}
	switch {
	case c.All:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case c.Since != "":
		t, err := c.since(time.Now())
		if err != nil {
			return err
		}
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &t
	}
	if c.NATSURL == "" {
		if ctxFile, err := natsauth.ReadContext(c.NATSCreds); err == nil && ctxFile.URL != "" {
			c.NATSURL = ctxFile.URL
		} else {
			c.NATSURL = nats.DefaultURL
		}
	}
	opts := []nats.Option{nats.Name("berth-events")}
	if _, err := os.Stat(c.NATSCreds); err == nil {
		creds, err := natsauth.CredsOptions(c.NATSCreds)
		if err != nil {
			return fmt.Errorf("--nats-creds: %w", err)
		}
		opts = append(opts, creds...)
	}
	tlsOpts, err := tlsconf.NATSOptions(c.NATSCA)
	if err != nil {
		return fmt.Errorf("--nats-ca: %w", err)
	}
	nc, err := nats.Connect(c.NATSURL, append(opts, tlsOpts...)...)
	if err != nil {
		return fmt.Errorf("connect %s: %w", c.NATSURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cons, err := js.OrderedConsumer(ctx, events.StreamEvents.Name, cfg)
	if err != nil {
		return fmt.Errorf("follow %s: %w", events.StreamEvents.Name, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	enc := json.NewEncoder(stdout)
	for n := 0; c.Count == 0 || n < c.Count; n++ {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		var ev events.Event
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			fmt.Fprintf(stderr, "berth events: skipping undecodable message on %s: %v\n", msg.Subject(), err)
			n--
			continue
		}
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	it.Stop()
	return nil
}
