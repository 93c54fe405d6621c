package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/agentproto"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/scheduler/control"
)

// authEnv runs NATS, a gateway and a scheduler that admits agents with the
// join token in tokenFile.
func authEnv(t *testing.T) (*testenv.Env, string) {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), natsauth.JoinTokenFile)
	if _, err := natsauth.RotateJoinToken(tokenFile); err != nil {
		t.Fatal(err)
	}
	env := start(t, control.Config{Auth: &control.AgentAuth{
		IssuerSeed: natstest.Secrets(t).IssuerSeed,
		JoinToken:  func() (string, error) { return natsauth.ReadJoinToken(tokenFile) },
	}})
	return env, tokenFile
}

// dialer connects to the test server as anyone, without retrying.
func dialer(env *testenv.Env) agentproto.Dial {
	return func(_ context.Context, user, password, inbox string) (*nats.Conn, error) {
		return nats.Connect(env.Server.ClientURL(), nats.UserInfo(user, password), nats.CustomInboxPrefix(inbox), nats.NoReconnect(),
			nats.Timeout(natsauth.ConnectTimeout))
	}
}

func joinRequest(host string) ecsapi.RegisterContainerInstanceRequest {
	doc, _ := json.Marshal(map[string]string{"instanceId": host})
	one := int32(1024)
	mem := int32(2048)
	return ecsapi.RegisterContainerInstanceRequest{
		Cluster:                  "default",
		InstanceIdentityDocument: string(doc),
		TotalResources: []ecsapi.Resource{
			{Name: events.ResourceCPU, Type: "INTEGER", IntegerValue: &one},
			{Name: events.ResourceMemory, Type: "INTEGER", IntegerValue: &mem},
		},
	}
}

// joinRaw joins by hand and returns the scheduler's answer.
func joinRaw(t *testing.T, env *testenv.Env, token, host string) *natsauth.JoinResponse {
	t.Helper()
	user := natsauth.JoinUser("n" + host)
	nc, err := dialer(env)(t.Context(), user, token, natsauth.InboxPrefix(user))
	if err != nil {
		t.Fatalf("join connection: %v", err)
	}
	defer nc.Close()
	body, _ := json.Marshal(joinRequest(host))
	reply, err := natsutil.RequestRaw(t.Context(), nc, natsauth.SubjJoin, body, nats.Header{natsauth.HeaderJoinToken: {token}})
	if err != nil {
		t.Fatal(err)
	}
	if err := natsutil.ReplyError(reply); err != nil {
		t.Fatal(err)
	}
	var resp natsauth.JoinResponse
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp
}

// TestAgentAuth_WrongJoinTokenRegistersNothing: an agent with a wrong
// join token is refused and nothing is registered.
func TestAgentAuth_WrongJoinTokenRegistersNothing(t *testing.T) {
	env, _ := authEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	_, _, _, err := agentproto.Join(ctx, dialer(env), "not-the-token", joinRequest("wrong"), nil)
	if !errors.Is(err, agentproto.ErrJoinRefused) {
		t.Fatalf("join with a wrong token: %v", err)
	}
	_, err = env.ECS().ListContainerInstances(t.Context(), &ecs.ListContainerInstancesInput{Cluster: aws.String("default")})
	wantCode(t, err, events.CodeClusterNotFound)
}

// TestAgentAuth_InstanceIdentity: an agent identity acts only for its own
// instance: its reports and heartbeats, its assignments; not another's,
// not a bucket, not an API. Deregistering the instance revokes it; a
// rotated join token takes effect at once.
func TestAgentAuth_InstanceIdentity(t *testing.T) {
	env, tokenFile := authEnv(t)
	token, _ := natsauth.ReadJoinToken(tokenFile)
	a := joinRaw(t, env, token, "host-a")
	b := joinRaw(t, env, token, "host-b")
	arnA, _ := events.ParseECSARN(a.ContainerInstance.ContainerInstanceArn)
	arnB, _ := events.ParseECSARN(b.ContainerInstance.ContainerInstanceArn)

	violations := make(chan error, 64)
	ncA, err := nats.Connect(env.Server.ClientURL(), nats.UserInfo(a.User, a.Password), nats.CustomInboxPrefix(natsauth.InboxPrefix(a.User)), nats.Timeout(natsauth.ConnectTimeout),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	if err != nil {
		t.Fatalf("agent A connects with its credential: %v", err)
	}
	defer ncA.Close()
	jsA, _ := jetstream.New(ncA)

	// Its own: a report is stored, its assignments can be followed.
	if _, err := jsA.Publish(t.Context(), events.SubjAgentReport(arnA.Cluster, arnA.ID), []byte(`{}`)); err != nil {
		t.Fatalf("own report: %v", err)
	}
	kvA, err := jsA.KeyValue(t.Context(), events.BucketECSState.Name)
	if err != nil {
		t.Fatalf("open the state bucket: %v", err)
	}
	w, err := kvA.Watch(t.Context(), events.AssignmentFilter(arnA.Cluster, arnA.ID))
	if err != nil {
		t.Fatalf("watch own assignments: %v", err)
	}
	_ = w.Stop()

	// Not B's: no report, no heartbeat, no assignments.
	probe := natstest.Connect(t, env.Server)
	seen, _ := probe.SubscribeSync("berth.agent.>")
	_ = probe.Flush()
	for _, subj := range []string{events.SubjAgentReport(arnB.Cluster, arnB.ID), events.SubjAgentHeartbeat(arnB.Cluster, arnB.ID), "berth.api.ecs.RunTask", "$KV.ecs_state.asg.default." + arnB.ID + ".x"} {
		_ = ncA.Publish(subj, []byte(`{}`))
	}
	_ = ncA.Flush()
	if m, err := seen.NextMsg(500 * time.Millisecond); err == nil {
		t.Fatalf("agent A published on %s", m.Subject)
	}
	wctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if w, err := kvA.Watch(wctx, events.AssignmentFilter(arnB.Cluster, arnB.ID)); err == nil {
		select {
		case e := <-w.Updates():
			if e != nil {
				t.Fatalf("agent A read B's assignment %s", e.Key())
			}
			t.Fatal("agent A watches B's assignments")
		case <-wctx.Done():
		}
	}
	if _, err := jsA.KeyValue(t.Context(), events.BucketAccessKeys.Name); err == nil {
		t.Fatal("agent A opened the access keys")
	}
	if len(violations) == 0 {
		t.Fatal("no permission violation reported")
	}

	// Deregister A: its credential no longer connects; B's still does.
	ncA.Close()
	if _, err := env.ECS().DeregisterContainerInstance(t.Context(), &ecs.DeregisterContainerInstanceInput{
		Cluster: aws.String("default"), ContainerInstance: aws.String(arnA.ID), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if nc, err := dialer(env)(t.Context(), a.User, a.Password, natsauth.InboxPrefix(a.User)); err == nil {
		nc.Close()
		t.Fatal("a deregistered instance's agent connected")
	}
	if nc, err := dialer(env)(t.Context(), b.User, "wrong", natsauth.InboxPrefix(b.User)); err == nil {
		nc.Close()
		t.Fatal("B's identity with a wrong password connected")
	}
	nc, err := dialer(env)(t.Context(), b.User, b.Password, natsauth.InboxPrefix(b.User))
	if err != nil {
		t.Fatalf("B: %v", err)
	}
	nc.Close()

	// Rotation: the old token stops working at once, the new one works.
	if _, err := natsauth.RotateJoinToken(tokenFile); err != nil {
		t.Fatal(err)
	}
	if nc, err := dialer(env)(t.Context(), natsauth.JoinUser("old"), token, natsauth.InboxPrefix(natsauth.JoinUser("old"))); err == nil {
		nc.Close()
		t.Fatal("the old join token still joins")
	}
	fresh, _ := natsauth.ReadJoinToken(tokenFile)
	joinRaw(t, env, fresh, "host-c")
	_ = os.Remove(tokenFile)
}
