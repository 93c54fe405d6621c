package registry

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// pullKeyName is the registry bucket key holding the pull key: 32 random
// bytes that sign pull tokens. The first replica to start creates it (KV
// Create decides between replicas); every replica reads the same one, so
// any replica verifies a token another issued.
const pullKeyName = "auth.pull"

// loadPullKey returns the pull key, creating it on first start.
func (st *store) loadPullKey(ctx context.Context) ([]byte, error) {
	for range 3 {
		e, err := st.kv.Get(ctx, pullKeyName)
		if err == nil {
			if len(e.Value()) < 32 {
				return nil, fmt.Errorf("registry: pull key %q is %d bytes", pullKeyName, len(e.Value()))
			}
			return e.Value(), nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("registry: read pull key: %w", err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("registry: pull key: %w", err)
		}
		_, err = st.kv.Create(ctx, pullKeyName, key)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("registry: create pull key: %w", err)
		}
		// Another replica created it first: read theirs.
	}
	return nil, errors.New("registry: the pull key kept changing")
}

// registerInternal adds the internal endpoints (berth.internal.registry.*):
// PullToken.
func (s *Service) registerInternal(svc micro.Service, wg *sync.WaitGroup) error {
	g := svc.AddGroup("berth.internal."+events.ServiceRegistry, micro.WithGroupQueueGroup(events.QueueGroup))
	h := micro.HandlerFunc(func(r micro.Request) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.servePullToken(r)
		}()
	})
	if err := g.AddEndpoint("PullToken", h); err != nil {
		return fmt.Errorf("registry: endpoint %s: %w", events.SubjRegistryPullToken, err)
	}
	return nil
}

// servePullToken answers events.SubjRegistryPullToken with a pull-only
// token valid for cfg.PullTokenTTL. Who may ask is settled by NATS
// permissions (agents only), not here.
func (s *Service) servePullToken(r micro.Request) {
	var in events.RegistryPullTokenRequest
	if err := natsutil.Decode(r.Data(), &in); err != nil {
		code, msg, data := natsutil.ErrorReply(err, events.CodeServer)
		_ = r.Error(string(code), msg, data)
		return
	}
	exp := s.now().Add(s.cfg.PullTokenTTL)
	out := events.RegistryPullTokenReply{
		AuthorizationToken: base64.StdEncoding.EncodeToString([]byte(tokenUser + ":" + newPullToken(s.pullKey, exp))),
		ExpiresAt:          exp,
		ProxyEndpoint:      "http://" + s.host(),
	}
	s.log.Debug("pull token issued", "requester", in.Requester, "expires_at", exp)
	if err := r.Respond(mustJSON(out)); err != nil {
		s.log.Warn("respond", "subject", events.SubjRegistryPullToken, "err", err)
	}
}
