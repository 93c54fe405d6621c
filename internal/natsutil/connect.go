package natsutil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/natsauth"
)

// Connect dials url (a comma-separated list is fine) as client name, retrying
// until ctx ends, and reconnects forever afterwards. Extra options are applied
// last (credentials, nats.InProcessServer, ...).
func Connect(ctx context.Context, url, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.RetryOnFailedConnect(true)}, clientOptions(name, log)...)
	opts = append(opts, extra...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	for !nc.IsConnected() {
		if nc.IsClosed() {
			return nil, fmt.Errorf("connect %s: %w", url, nc.LastError())
		}
		if err := nc.LastError(); errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
			// Refused credentials do not get better by retrying.
			nc.Close()
			return nil, fmt.Errorf("connect %s as %q: %w", url, nc.Opts.User, err)
		}
		select {
		case <-ctx.Done():
			nc.Close()
			return nil, fmt.Errorf("connect %s: %w (last error: %v)", url, ctx.Err(), nc.LastError())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nc, nil
}

// Dial connects once (an error, a refused credential included, comes back
// at once) and reconnects forever afterwards.
func Dial(url, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect(url, append(clientOptions(name, log), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	return nc, nil
}

// clientOptions are the options of every Berth connection: reconnect
// forever, log disconnects and asynchronous errors (permission violations
// among them).
func clientOptions(name string, log *slog.Logger) []nats.Option {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			if natsauth.Expected(err.Error()) {
				log.Debug("nats async error", "subject", subj, "err", err)
				return
			}
			log.Error("nats async error", "subject", subj, "err", err)
		}),
	}
}

// WaitJetStream blocks until the JetStream API answers (the meta leader of a
// fresh cluster can take seconds) or ctx ends.
func WaitJetStream(ctx context.Context, js jetstream.JetStream) error {
	return retry(ctx, func(ctx context.Context) error {
		_, err := js.AccountInfo(ctx)
		return err
	})
}

// retry calls fn until it succeeds, fails with a non-transient error, or ctx
// ends. Each attempt gets at most five seconds.
func retry(ctx context.Context, fn func(context.Context) error) error {
	wait := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(actx)
		cancel()
		if err == nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// transient reports whether err may go away on its own: JetStream not ready
// yet, no responders during a leader election, timeouts.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503 || apiErr.Code == 408 || apiErr.Code >= 500
	}
	return errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrConnectionReconnecting)
}
