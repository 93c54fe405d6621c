package agentproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Agents never create or reconfigure the scheduler's streams and bucket
// (one writer of their configuration: their owner). They only look them up,
// and wait while the owner has not created them yet.

// waitLogEvery is how often the wait for a missing stream or bucket is
// logged again.
const waitLogEvery = 30 * time.Second

// OpenStream looks up the stream name, waiting with backoff until its owner
// has created it or ctx ends. It never creates or updates the stream.
func OpenStream(ctx context.Context, js jetstream.JetStream, name string, log *slog.Logger) (jetstream.Stream, error) {
	s, err := waitFor(ctx, log, "stream", name, func(ctx context.Context) (jetstream.Stream, error) {
		return js.Stream(ctx, name)
	}, func(err error) bool { return errors.Is(err, jetstream.ErrStreamNotFound) })
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", name, err)
	}
	return s, nil
}

// OpenKV looks up the KV bucket name, waiting with backoff until its owner
// has created it or ctx ends. It never creates or updates the bucket.
func OpenKV(ctx context.Context, js jetstream.JetStream, name string, log *slog.Logger) (jetstream.KeyValue, error) {
	kv, err := waitFor(ctx, log, "bucket", name, func(ctx context.Context) (jetstream.KeyValue, error) {
		return js.KeyValue(ctx, name)
	}, func(err error) bool {
		return errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
	return kv, nil
}

// waitFor calls open until it succeeds, fails with an error that is neither
// "missing" nor transient, or ctx ends. The wait is logged when it starts,
// every waitLogEvery after, and when it ends.
func waitFor[T any](ctx context.Context, log *slog.Logger, kind, name string, open func(context.Context) (T, error), missing func(error) bool) (T, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var zero T
	wait := 50 * time.Millisecond
	var since, logged time.Time
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := open(actx)
		cancel()
		if err == nil {
			if !since.IsZero() {
				log.Info("the scheduler's "+kind+" is there", kind, name, "waited", time.Since(since).Round(time.Millisecond).String())
			}
			return v, nil
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		if !missing(err) && !transient(err) {
			return zero, err
		}
		now := time.Now()
		if since.IsZero() {
			since = now
		}
		if now.Sub(logged) >= waitLogEvery {
			logged = now
			log.Info("waiting for the scheduler to create its "+kind+" (agents never create it)", kind, name, "err", err.Error())
		}
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// transient reports whether err may go away on its own: JetStream not ready
// yet, no responders during a leader election, timeouts.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 408 || apiErr.Code >= 500
	}
	return errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrConnectionReconnecting)
}
