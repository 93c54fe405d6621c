package agentproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natsutil"
)

// Dial opens a NATS connection as user with password, its replies under
// inboxPrefix. It fails at once when the server refuses the credentials.
type Dial func(ctx context.Context, user, password, inboxPrefix string) (*nats.Conn, error)

// ErrJoinRefused is returned while the join token is refused (a wrong
// token, or no scheduler answers the server's auth callout yet).
var ErrJoinRefused = errors.New("join refused: the join token is wrong, or no scheduler admits agents yet")

// Join registers the host with the cluster join token: it connects as a
// joining agent, asks the scheduler to register req (natsauth.SubjJoin),
// then connects with the instance credential it got, as that instance's
// agent, and returns the client bound to it and the new connection (the
// caller closes it). It retries while the scheduler is not there or the
// token is refused, until ctx ends.
func Join(ctx context.Context, dial Dial, token string, req ecsapi.RegisterContainerInstanceRequest, log *slog.Logger) (*Client, *ecsapi.ContainerInstance, *nats.Conn, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	resp, err := joinRetry(ctx, dial, token, req, log)
	if err != nil {
		return nil, nil, nil, err
	}
	arn := resp.ContainerInstance.ContainerInstanceArn
	nc, err := dial(ctx, resp.User, resp.Password, natsauth.InboxPrefix(resp.User))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect as %s: %w", arn, err)
	}
	c, err := bind(ctx, nc, resp.ContainerInstance, log)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return c, resp.ContainerInstance, nc, nil
}

// joinRetry asks to join until it gets an answer that is not "try again".
func joinRetry(ctx context.Context, dial Dial, token string, req ecsapi.RegisterContainerInstanceRequest, log *slog.Logger) (*natsauth.JoinResponse, error) {
	wait := 200 * time.Millisecond
	for {
		resp, err := joinOnce(ctx, dial, token, req)
		if err == nil {
			return resp, nil
		}
		retry := errors.Is(err, ErrJoinRefused) || errors.Is(err, natsutil.ErrUnavailable) ||
			errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoServers)
		if !retry || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("join: %w (last error: %w)", ctx.Err(), err)
			}
			return nil, fmt.Errorf("join: %w", err)
		}
		log.Warn("cannot join yet", "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("join: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func joinOnce(ctx context.Context, dial Dial, token string, req ecsapi.RegisterContainerInstanceRequest) (*natsauth.JoinResponse, error) {
	nonce := natsauth.RandomSecret()[:22]
	user := natsauth.JoinUser(nonce)
	nc, err := dial(ctx, user, token, natsauth.InboxPrefix(user))
	if err != nil {
		// An authorization error, or the connection closed while the
		// server waited for the callout: both may be a scheduler that is
		// not up yet.
		return nil, fmt.Errorf("%w (%v)", ErrJoinRefused, err)
	}
	defer nc.Close()
	body, err := jsonBody(req)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	reply, err := natsutil.RequestRaw(cctx, nc, natsauth.SubjJoin, body, nats.Header{natsauth.HeaderJoinToken: {token}})
	if err != nil {
		return nil, err
	}
	if err := natsutil.ReplyError(reply); err != nil {
		return nil, err
	}
	var resp natsauth.JoinResponse
	if err := natsutil.Decode(reply.Data, &resp); err != nil {
		return nil, fmt.Errorf("join response: %w", err)
	}
	if resp.ContainerInstance == nil || resp.User == "" || resp.Password == "" {
		return nil, errors.New("join response: incomplete")
	}
	return &resp, nil
}
