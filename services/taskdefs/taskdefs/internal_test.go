package taskdefs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

// internalEnv serves h on berth.internal.taskdefs.<op> through the
// service's internal handler, on its own connection, and returns a client
// connection.
func internalEnv(t *testing.T, op string, h natsutil.Handler) (*Service, *nats.Conn) {
	t.Helper()
	srv := natstest.Start(t)
	nc, js := natstest.JetStream(t, srv)
	s, err := New(Config{Region: "us-east-1", Account: "123456789012"}, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := micro.AddService(nc, micro.Config{Name: "internaltest", Version: "0.0.1", QueueGroup: events.QueueGroup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	g := svc.AddGroup("berth.internal."+events.ServiceTaskDefs, micro.WithGroupQueueGroup(events.QueueGroup))
	if err := g.AddEndpoint(op, s.internalHandler(op, h)); err != nil {
		t.Fatal(err)
	}
	// The server has the endpoint's subscription before any request.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return s, natstest.Connect(t, srv)
}

// TestInternalHandler_ErrorRepliesRaceFree answers many internal requests
// with errors at once. Replying with micro's Request.Error from the
// handler goroutine raced with micro's stats bookkeeping (go test -race
// reported it); the replies must still carry the error code and message.
func TestInternalHandler_ErrorRepliesRaceFree(t *testing.T) {
	_, client := internalEnv(t, "Fail", func(context.Context, *natsutil.Request) (any, error) {
		return nil, apierr.Client("Unable to describe task definition.")
	})
	subj := events.SubjInternal(events.ServiceTaskDefs, "Fail")
	const rounds, perRound = 40, 100
	errs := make(chan error, rounds*perRound)
	for range rounds {
		var wg sync.WaitGroup
		for range perRound {
			wg.Go(func() {
				_, err := natsutil.RequestRaw(t.Context(), client, subj, []byte("{}"), nil)
				if !apierr.HasCode(err, events.CodeClient) {
					errs <- fmt.Errorf("reply: %v", err)
				}
			})
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestInternalHandler_BoundedGoroutines sends many more requests than the
// handler may run at once, to a handler that blocks: no more than
// maxInternalInFlight run at any time (it used to start a goroutine per
// request), and every request is answered once they are released.
func TestInternalHandler_BoundedGoroutines(t *testing.T) {
	const requests = 4 * maxInternalInFlight
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	s, client := internalEnv(t, "Block", func(ctx context.Context, _ *natsutil.Request) (any, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return map[string]string{"ok": "yes"}, nil
	})
	subj := events.SubjInternal(events.ServiceTaskDefs, "Block")
	var wg sync.WaitGroup
	var answered atomic.Int64
	for range requests {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := natsutil.RequestRaw(ctx, client, subj, []byte("{}"), nil); err == nil {
				answered.Add(1)
			}
		})
	}
	natstest.Eventually(t, 10*time.Second, time.Millisecond, func() error {
		if n := inFlight.Load(); n < maxInternalInFlight {
			return fmt.Errorf("%d handlers running, want %d", n, maxInternalInFlight)
		}
		return nil
	})
	// The bound holds while every other request is delivered and waits:
	// an unbounded handler exceeds it within milliseconds.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if p := peak.Load(); p > maxInternalInFlight {
			close(release)
			wg.Wait()
			t.Fatalf("%d handlers ran at once, bound is %d", p, maxInternalInFlight)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := answered.Load(); got != requests {
		t.Fatalf("answered %d of %d requests", got, requests)
	}
	if p := peak.Load(); p > maxInternalInFlight {
		t.Fatalf("%d handlers ran at once, bound is %d", p, maxInternalInFlight)
	}
	// Shutdown waits for nothing once every handler answered.
	s.waitInternal()
}
