package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natsutil"
)

// AgentAuth turns on the agents' admission: the scheduler serves the NATS
// auth callout (natsauth) and the join endpoint.
type AgentAuth struct {
	// IssuerSeed is the account nkey seed the callout signs with.
	IssuerSeed string
	// JoinToken returns the cluster join token in force (read at every
	// join, so a rotated token takes effect at once).
	JoinToken func() (string, error)
}

// agentCredKey is where the hash of an instance's agent credential is kept
// (in BucketECSState, next to the instance record).
func agentCredKey(cluster, id string) string {
	return "agentcred." + events.Token(cluster) + "." + id
}

// agentCred is the record at agentCredKey.
type agentCred struct {
	SHA256 string `json:"sha256"`
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// serveAgentAuth registers the join endpoint on svc and serves the auth
// callout until the returned stop is called (it waits for the callout).
func (s *Service) serveAgentAuth(ctx context.Context, svc micro.Service) (stop func(), err error) {
	g := svc.AddGroup("berth.internal."+events.ServiceScheduler, micro.WithGroupQueueGroup(events.QueueGroup))
	if err := g.AddEndpoint("Join", micro.HandlerFunc(s.serveJoin)); err != nil {
		return nil, fmt.Errorf("control: endpoint %s: %w", natsauth.SubjJoin, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := natsauth.ServeCallout(cctx, s.nc, s.cfg.Auth.IssuerSeed, s.admit, s.log.With("component", "auth-callout")); err != nil {
			s.log.Error("auth callout stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// serveJoin answers one join request.
func (s *Service) serveJoin(r micro.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	resp, err := s.join(ctx, r.Headers().Get(natsauth.HeaderJoinToken), r.Data())
	var body []byte
	if err == nil {
		body, err = jsonx.Marshal(resp)
	}
	if err != nil {
		code, msg, data := natsutil.ErrorReply(err, events.CodeServer)
		if _, ok := apierr.As(err); !ok {
			s.log.Error("join failed", "err", err)
		}
		hdr := micro.Headers{micro.ErrorHeader: {msg}, micro.ErrorCodeHeader: {string(code)}}
		_ = r.Respond(data, micro.WithHeaders(hdr))
		return
	}
	_ = r.Respond(body)
}

// join registers an agent's host that presented the join token, as ECS
// RegisterContainerInstance does (creating its cluster first, as the ECS
// agent does), and gives it a new instance credential: the previous one,
// if any, stops working.
func (s *Service) join(ctx context.Context, token string, data []byte) (*natsauth.JoinResponse, error) {
	if err := s.checkJoinToken(token); err != nil {
		return nil, err
	}
	var in ecsapi.RegisterContainerInstanceRequest
	if err := natsutil.Decode(data, &in); err != nil {
		return nil, err
	}
	cluster := in.Cluster
	if cluster == "" {
		cluster = "default"
	}
	if !strings.HasPrefix(cluster, "arn:") {
		if _, err := s.createCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: cluster}); err != nil {
			return nil, err
		}
	}
	out, err := s.registerContainerInstance(ctx, &in)
	if err != nil {
		return nil, err
	}
	ci := out.(*ecsapi.RegisterContainerInstanceResponse).ContainerInstance
	arn, err := events.ParseECSARN(ci.ContainerInstanceArn)
	if err != nil {
		return nil, err
	}
	secret := natsauth.RandomSecret()
	if err := s.state.put(ctx, agentCredKey(arn.Cluster, arn.ID), agentCred{SHA256: hashSecret(secret)}); err != nil {
		return nil, fmt.Errorf("store agent credential: %w", err)
	}
	s.log.Info("agent joined", "container_instance", ci.ContainerInstanceArn)
	return &natsauth.JoinResponse{ContainerInstance: ci, User: natsauth.AgentUser(arn.Cluster, arn.ID), Password: secret}, nil
}

func (s *Service) checkJoinToken(token string) error {
	want, err := s.cfg.Auth.JoinToken()
	if err != nil {
		return fmt.Errorf("join token: %w", err)
	}
	if token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
		return apierr.New(events.CodeAccessDenied, "The join token is not valid.")
	}
	return nil
}

// admit is the auth callout's decision for a connection that is not a
// static user: a joining agent with the join token, or a registered
// container instance's agent with its credential.
func (s *Service) admit(ctx context.Context, user, password string) (natsauth.Perms, error) {
	if nonce, ok := strings.CutPrefix(user, "join."); ok {
		if nonce == "" || strings.ContainsAny(nonce, ".*> ") {
			return natsauth.Perms{}, natsauth.ErrDenied
		}
		if err := s.checkJoinToken(password); err != nil {
			return natsauth.Perms{}, natsauth.ErrDenied
		}
		return natsauth.JoinPerms(nonce), nil
	}
	rest, ok := strings.CutPrefix(user, "agent.")
	if !ok {
		return natsauth.Perms{}, natsauth.ErrDenied
	}
	tok, id, ok := strings.Cut(rest, ".")
	cluster, err := events.ParseToken(tok)
	if !ok || err != nil || !validID(id) {
		return natsauth.Perms{}, natsauth.ErrDenied
	}
	cred, _, err := getJSON[agentCred](ctx, s.state.kv, agentCredKey(cluster, id))
	if err != nil {
		return natsauth.Perms{}, err
	}
	if cred == nil || subtle.ConstantTimeCompare([]byte(hashSecret(password)), []byte(cred.SHA256)) != 1 {
		return natsauth.Perms{}, natsauth.ErrDenied
	}
	rec, _, err := s.state.getInstance(ctx, cluster, id)
	if err != nil {
		return natsauth.Perms{}, err
	}
	if rec == nil || rec.Status == events.InstanceInactive {
		return natsauth.Perms{}, errors.New("container instance deregistered")
	}
	return natsauth.AgentPerms(cluster, id), nil
}

// joinTimeout bounds one join (cluster creation and registration).
const joinTimeout = 30 * time.Second
