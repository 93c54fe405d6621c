package agentproto_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/agentproto"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/testenv"
)

// ownerStreams are what the agent publishes to or watches; the scheduler
// creates them.
var ownerStreams = []events.StreamDef{events.StreamHeartbeats, events.StreamAgentReports}

// ownerCreate creates the streams and the state bucket as their owner
// would, with settings an agent would not choose (description, max age,
// history, no atomic publish), so a test sees whether an agent changed them.
func ownerCreate(ctx context.Context, t *testing.T, js jetstream.JetStream) {
	t.Helper()
	for _, def := range ownerStreams {
		cfg := natsutil.StreamConfig(def, 1)
		cfg.Description = "owner: " + def.Name
		cfg.MaxAge = 90 * time.Minute
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	kcfg := natsutil.KVConfig(events.BucketECSState, 1)
	kcfg.Description = "owner: state"
	kcfg.History = 3
	if _, err := js.CreateKeyValue(ctx, kcfg); err != nil {
		t.Fatal(err)
	}
}

// checkOwnerConfig fails unless the streams and the bucket still have the
// owner's settings.
func checkOwnerConfig(ctx context.Context, t *testing.T, js jetstream.JetStream) {
	t.Helper()
	for _, def := range ownerStreams {
		s, err := js.Stream(ctx, def.Name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c := info.Config; c.Description != "owner: "+def.Name || c.MaxAge != 90*time.Minute {
			t.Errorf("stream %s reconfigured: description %q, max age %v", def.Name, c.Description, c.MaxAge)
		}
	}
	s, err := js.Stream(ctx, "KV_"+events.BucketECSState.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.Description != "owner: state" || c.MaxMsgsPerSubject != 3 || c.AllowAtomicPublish {
		t.Errorf("bucket reconfigured: description %q, history %d, atomic %v", c.Description, c.MaxMsgsPerSubject, c.AllowAtomicPublish)
	}
}

// An agent opens the scheduler's streams and bucket as they are: it never
// updates their configuration.
func TestRegister_LeavesTheOwnersConfig(t *testing.T) {
	s := natstest.Start(t)
	nc, js := natstest.JetStream(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ownerCreate(ctx, t, js)
	fakeRegistrar(t, natstest.Connect(t, s))
	c, _, err := agentproto.Register(ctx, nc, ecsapi.RegisterContainerInstanceRequest{Cluster: "prod"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkOwnerConfig(ctx, t, js)
	if err := c.Heartbeat(ctx, events.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
}

// An agent started before the scheduler creates nothing: it says it waits,
// and joins once the scheduler has created its streams and bucket and
// answers.
func TestRegister_WaitsForTheOwner(t *testing.T) {
	s := natstest.Start(t)
	nc, js := natstest.JetStream(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	logs := &testenv.SafeBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	type result struct {
		c   *agentproto.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, _, err := agentproto.Register(ctx, nc, ecsapi.RegisterContainerInstanceRequest{Cluster: "prod"}, log)
		done <- result{c, err}
	}()
	natstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(logs.String(), "waiting for the scheduler to create its stream") {
			return fmt.Errorf("no wait logged: %q", logs.String())
		}
		return nil
	})
	for _, def := range ownerStreams {
		if _, err := js.Stream(ctx, def.Name); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("stream %s while only the agent runs: %v", def.Name, err)
		}
	}
	if _, err := js.KeyValue(ctx, events.BucketECSState.Name); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("bucket while only the agent runs: %v", err)
	}
	select {
	case r := <-done:
		t.Fatalf("Register returned before the scheduler was there: %v", r.err)
	default:
	}

	ownerCreate(ctx, t, js)
	fakeRegistrar(t, natstest.Connect(t, s))
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatalf("Register still waiting after the scheduler came:\n%s", logs.String())
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.c.InstanceArn() != instanceArn {
		t.Fatalf("registered as %s", r.c.InstanceArn())
	}
	checkOwnerConfig(ctx, t, js)
	if !strings.Contains(logs.String(), "the scheduler's stream is there") {
		t.Errorf("end of the wait not logged:\n%s", logs.String())
	}
}

// Waiting ends with the context.
func TestOpenStream_ContextEnds(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.JetStream(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := agentproto.OpenStream(ctx, js, "NOPE", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	if _, err := agentproto.OpenKV(ctx, js, "nope", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
}
