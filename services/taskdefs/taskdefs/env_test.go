package taskdefs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/taskdefs/taskdefs"
)

// startEnv starts NATS, a gateway and n taskdefs replicas (each on its own
// connection, as separate processes would be).
func startEnv(t testing.TB, n int) *testenv.Env {
	t.Helper()
	env := testenv.New(t)
	for range n {
		startReplica(t, env)
	}
	env.WaitFor(t, events.ServiceTaskDefs)
	return env
}

func startReplica(t testing.TB, env *testenv.Env) {
	t.Helper()
	nc := natstest.Connect(t, env.Server)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := taskdefs.New(taskdefs.Config{Region: testenv.Region, Account: testenv.Account}, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	env.Go(t, "taskdefs", svc.Run)
}

const ecsTarget = "AmazonEC2ContainerServiceV20141113."

// rawResult is an HTTP answer from the gateway.
type rawResult struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorBody decodes an AWS JSON error body.
func (r rawResult) errorBody(t testing.TB) (code, message string) {
	t.Helper()
	var b struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	return b.Type, b.Message
}

// rawCall sends a SigV4-signed AWS JSON 1.1 request with an arbitrary body,
// signed with creds (the root key when zero).
func rawCall(t testing.TB, env *testenv.Env, op string, body []byte, creds aws.Credentials) rawResult {
	t.Helper()
	if creds.AccessKeyID == "" {
		creds = aws.Credentials{AccessKeyID: env.Key.AccessKeyID, SecretAccessKey: env.Key.SecretAccessKey}
	}
	req, err := http.NewRequest(http.MethodPost, env.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", ecsTarget+op)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", testenv.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResult{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// listAll returns every task definition ARN in status, following nextToken.
func listAll(t testing.TB, c *ecs.Client, status string) []string {
	t.Helper()
	var out []string
	p := ecs.NewListTaskDefinitionsPaginator(c, &ecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatus(status)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", status, err)
		}
		out = append(out, page.TaskDefinitionArns...)
	}
	return out
}

func arn(family string, rev int) string {
	return "arn:aws:ecs:" + testenv.Region + ":" + testenv.Account + ":task-definition/" + family + ":" + itoa(rev)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
