package natsauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/berth-project/berth/events"
)

// ErrDenied is what a Decide function returns to refuse a connection.
var ErrDenied = errors.New("not authorized")

// Decide admits or refuses a connection that is not a static user, from
// the user name and password it presented.
type Decide func(ctx context.Context, user, password string) (Perms, error)

// CalloutTTL bounds an admitted connection's identity: the server
// disconnects it when the JWT expires, and the client reconnects through
// the callout again (so a revoked identity ends within CalloutTTL even if
// nothing kicked it).
const CalloutTTL = time.Hour

// AuthTimeout is how long the server waits for a client's CONNECT, the auth
// callout's answer included: under a loaded machine the callout took more
// than nats.go's default 2 s. A client dialing a callout identity waits
// ConnectTimeout, a little longer, so the server's own answer (a refusal)
// reaches it.
const (
	AuthTimeout    = 5 * time.Second
	ConnectTimeout = AuthTimeout + time.Second
)

// ServeCallout answers nats-server's auth callout requests on nc (a
// static user listed in auth_users) with a user JWT signed by issuerSeed,
// carrying the permissions decide gives, until ctx ends. Replicas share
// the requests through a queue group.
func ServeCallout(ctx context.Context, nc *nats.Conn, issuerSeed string, decide Decide, log *slog.Logger) error {
	kp, err := nkeys.FromSeed([]byte(issuerSeed))
	if err != nil {
		return fmt.Errorf("auth callout: issuer seed: %w", err)
	}
	sub, err := nc.QueueSubscribe(CalloutSubject, events.QueueGroup, func(m *nats.Msg) {
		resp, err := answer(ctx, kp, m.Data, decide, log)
		if err != nil {
			log.Warn("auth callout: cannot answer", "err", err)
			return
		}
		if err := m.Respond(resp); err != nil {
			log.Warn("auth callout: respond", "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("auth callout: subscribe: %w", err)
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("auth callout: flush: %w", err)
	}
	<-ctx.Done()
	return sub.Unsubscribe()
}

// answer decodes one authorization request and signs the response.
func answer(ctx context.Context, kp nkeys.KeyPair, data []byte, decide Decide, log *slog.Logger) ([]byte, error) {
	req, err := jwt.DecodeAuthorizationRequestClaims(string(data))
	if err != nil {
		return nil, err
	}
	user := req.ConnectOptions.Username
	rc := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	rc.Audience = req.Server.ID
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	p, derr := decide(dctx, user, req.ConnectOptions.Password)
	cancel()
	if derr != nil {
		log.Info("auth callout: refused", "user", user, "host", req.ClientInformation.Host, "err", derr)
		rc.Error = "not authorized"
	} else {
		uc := jwt.NewUserClaims(req.UserNkey)
		uc.Name = user
		uc.Audience = Account
		uc.Expires = time.Now().Add(CalloutTTL).Unix()
		uc.Pub.Allow.Add(p.Pub...)
		uc.Sub.Allow.Add(p.Sub...)
		if p.Responses {
			uc.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}
		}
		ujwt, err := uc.Encode(kp)
		if err != nil {
			return nil, err
		}
		rc.Jwt = ujwt
	}
	tok, err := rc.Encode(kp)
	if err != nil {
		return nil, err
	}
	return []byte(tok), nil
}
